"""Faults on the server's side: a kernel that ignores shutdown, a full disk under the log
file, and the wall clock jumping. In each, the server runs on and culls on time.

(The hub's faults are in test_hub_faults.py.)
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jupyter_server.services.kernels.kernelmanager as kernelmanager
import jupyter_server_terminals.handlers as terminal_handlers
import jupyter_server_terminals.terminalmanager as terminalmanager
import pytest
from conftest import parse_time

from .conftest import (
    EARLY,
    LATE,
    Watch,
    cpu_seconds,
    extension,
    pid_alive,
    settled_deadline,
)

# --- a kernel that ignores shutdown ------------------------------------------------------

STUBBORN_KERNEL = '''\
"""Answers nothing (no kernel_info, no shutdown_reply) and ignores SIGTERM and SIGINT:
only SIGKILL ends it."""
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    time.sleep(3600)
'''
#: jupyter_client's KernelManager.shutdown_wait_time: shutdown_request, then SIGTERM after
#: half of it, then SIGKILL after the rest.
SHUTDOWN_WAIT = 5.0


@pytest.fixture
def stubborn_kernelspec(jp_data_dir: Path, tmp_path: Path) -> str:
    script = tmp_path / "stubborn_kernel.py"
    script.write_text(STUBBORN_KERNEL)
    spec = jp_data_dir / "kernels" / "stubborn"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(script), "{connection_file}"],
        "display_name": "Ignores shutdown", "language": "python",
        "metadata": {"cull_idle_timeout": 2},
    }))
    return "stubborn"


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 3}})
async def test_a_kernel_that_ignores_shutdown_is_killed_and_holds_nothing_up(
    stubborn_kernelspec: str, jp_serverapp: Any, jp_fetch: Any, start_kernel: Any,
    status: Any, server_log: Any,
) -> None:
    r = await jp_fetch("api", "kernels", method="POST",
                       body=json.dumps({"name": stubborn_kernelspec}))
    stubborn = json.loads(r.body)["id"]
    pid = jp_serverapp.kernel_manager.get_kernel(stubborn).provisioner.pid
    assert pid_alive(pid)
    normal = await start_kernel()  # an ipykernel, 3 s: due while the stubborn one is dying
    _, stubborn_deadline = await settled_deadline(status, "kernels", stubborn)
    _, normal_deadline = await settled_deadline(status, "kernels", normal)

    watch = Watch(jp_fetch, "kernels")
    presence_sent = False
    cpu0 = wall0 = None
    limit = stubborn_deadline + LATE + SHUTDOWN_WAIT + 3
    while not {stubborn, normal} <= set(watch.gone):
        await watch.poll()
        now = time.monotonic()
        if not presence_sent and now > stubborn_deadline + 0.5 and stubborn not in watch.gone:
            # Activity while the stubborn kernel is being shut down (this once made the
            # enforcer spin at 100 % CPU until the shutdown ended).
            await jp_fetch("api", "cull", "activity", method="POST", body="{}")
            presence_sent, cpu0, wall0 = True, cpu_seconds(), time.monotonic()
        assert now < limit, f"not culled by deadline + {limit - stubborn_deadline:.1f} s"
        await asyncio.sleep(0.1)
    assert presence_sent

    # The ordinary kernel went at its own deadline, while the stubborn one was still dying.
    assert watch.gone[normal] - normal_deadline <= LATE, watch.gone[normal] - normal_deadline
    assert watch.last_seen[normal] >= normal_deadline - 1.5  # (it was not culled early)
    assert watch.gone[normal] < watch.gone[stubborn], "no overlap: the test proves nothing"
    # The stubborn one: gone, its process dead, within the shutdown sequence's bound.
    assert watch.gone[stubborn] - stubborn_deadline <= LATE + SHUTDOWN_WAIT + 1.5
    assert not pid_alive(pid)
    assert stubborn not in {k["id"] for k in (await status())["kernels"]}
    assert re.search(rf"Culling idle kernel {stubborn} \(stubborn\): idle for \S+ >= timeout "
                     r"0:00:02", server_log()), server_log()
    # Waiting for it cost no busy loop: far less CPU than the time it took.
    cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    assert cpu < 0.5 * wall, f"{cpu:.2f} s CPU in {wall:.2f} s while a kernel shut down"


# --- a culled terminal's last words --------------------------------------------------------


TERMINALS_AT_ONCE = 6


@pytest.mark.cull_config({"CullExt": {"terminal_idle_timeout": 4, "server_idle_timeout": 3600}})
async def test_culling_terminals_is_not_activity(jp_fetch: Any, status: Any,
                                                 server_log: Any) -> None:
    """Killing a terminal makes its shell write (SIGHUP) before its pty closes, and
    jupyter_server_terminals stamps the terminal active on every read: that stamp must not
    count, or each terminal cull would postpone the server's idle stop, and the dying
    terminal would be shown with a fresh deadline (test_load.py found it: status reads
    showed terminals being culled with deadlines a whole timeout away)."""
    names = []
    for _ in range(TERMINALS_AT_ONCE):  # culled together, as under load
        r = await jp_fetch("api", "terminals", method="POST", body="{}")
        names.append(json.loads(r.body)["name"])
    await asyncio.sleep(1)  # each shell has printed its prompt (output: activity)
    doc = await status()
    before = doc["server"]
    left = max((parse_time(t["deadline"]) - parse_time(doc["now"])).total_seconds()
               for t in doc["terminals"])
    assert len(doc["terminals"]) == TERMINALS_AT_ONCE and left > 0, doc["terminals"]
    shown = {n: set() for n in names}  # each terminal's deadlines in every status read
    started = time.monotonic()
    watch = Watch(jp_fetch, "terminals")
    while not set(names) <= set(watch.gone):
        doc = await status()
        for t in doc["terminals"]:
            shown[t["name"]].add(t["deadline"])
        await watch.poll()
        assert time.monotonic() < started + left + LATE + 3, "terminals not culled"
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)  # every pty's last output and EOF have been read by now
    after = (await status())["server"]
    assert (after["last_activity"], after["last_activity_source"], after["deadline"]) == (
        before["last_activity"], before["last_activity_source"], before["deadline"])
    assert all(len(s) == 1 for s in shown.values()), shown  # no fresh deadline while dying
    # Each culled once: one line (and one event, one count in the metric) per terminal.
    for name in names:
        assert server_log().count(f"Culling idle terminal {name}:") == 1, (name, server_log())


# --- a kernel caught between registration and its first stamp ---------------------------


@pytest.mark.cull_config({"CullExt": {"terminal_idle_timeout": 2}})
async def test_a_starting_kernel_never_breaks_the_status_or_culling(
    jp_serverapp: Any, jp_fetch: Any, status: Any, server_log: Any,
) -> None:
    """jupyter_server starts a kernel in two halves: jupyter_client registers it (it is then
    listed), and only after that jupyter_server stamps its ``last_activity``. Under load
    (tests/reliability/test_load.py found it) a status request or the enforcer's tick lands
    in between; that once answered 500 and stopped every culling decision. Here the state in
    between is held: the first half is run alone."""
    km = jp_serverapp.kernel_manager
    r = await jp_fetch("api", "terminals", method="POST", body="{}")
    term = json.loads(r.body)["name"]
    kid = await km.pinned_superclass._async_start_kernel(km, kernel_name="python3")
    try:
        assert kid in km.list_kernel_ids()
        doc = await status()  # 200, not a 500
        assert kid not in {k["id"] for k in doc["kernels"]}  # starting: not described yet
        (t,) = doc["terminals"]
        deadline = parse_time(t["deadline"])
        # Culling goes on meanwhile: the terminal goes at its deadline.
        watch = Watch(jp_fetch, "terminals")
        left = (deadline - datetime.now(timezone.utc)).total_seconds()
        await watch.until_gone({term}, timeout=left + LATE + 2)
        gone = datetime.now(timezone.utc)
        assert (gone - deadline).total_seconds() <= LATE + 0.2
        assert "Could not compute culling deadlines" not in server_log()
    finally:
        await km.pinned_superclass._async_shutdown_kernel(km, kid, now=True)


# --- the log file on a full disk ---------------------------------------------------------


@pytest.mark.cull_config({"CullExt": {"server_log_path": "/dev/full",
                                      "terminal_idle_timeout": 2}})
async def test_a_full_disk_under_the_log_costs_one_warning_and_no_cull(
    capfd: Any, jp_serverapp: Any, jp_fetch: Any, status: Any,
) -> None:
    r = await jp_fetch("api", "terminals", method="POST", body="{}")
    name = json.loads(r.body)["name"]
    _, deadline = await settled_deadline(status, "terminals", name)
    # More lines that cannot be written: keep-alive requests and cancels.
    for secs in (0, 0, 0):
        await jp_fetch("api", "cull", "keepalive", method="POST",
                       body=json.dumps({"seconds": secs}))
    watch = Watch(jp_fetch, "terminals")
    await watch.until_gone({name}, timeout=deadline - time.monotonic() + LATE + 3)
    assert watch.gone[name] - deadline <= LATE
    assert watch.last_seen[name] >= deadline - 1.0 - EARLY

    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if "cannot write the server log" in line]
    assert len(warnings) == 1, warnings
    assert "/dev/full" in warnings[0] and "No space left on device" in warnings[0], warnings
    handler = extension(jp_serverapp).server_log.handler
    assert handler is not None and handler.lost >= 3  # many lines failed, one warning
    assert (await status())["server"]["keepalive_max"] == 86400  # still answering


# --- the wall clock jumps ----------------------------------------------------------------


class WallClock:
    """This process's wall clock, as every in-process stamper of activity reads it:
    jupyter_server's kernel manager and the terminals extension (``utcnow``), and our
    ``activity.Clock``. ``jump(seconds)`` moves all of them at once, as a step of the system
    clock would. The real clock is not touched (other tests share this machine)."""

    STAMPERS = (kernelmanager, terminal_handlers, terminalmanager)

    def __init__(self, monkeypatch: pytest.MonkeyPatch, serverapp: Any):
        self.offset = timedelta(0)
        for module in self.STAMPERS:
            monkeypatch.setattr(module, "utcnow", self.now)
        extension(serverapp).tracker.clock.wall = self.now

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def wall_clock(monkeypatch: pytest.MonkeyPatch, jp_serverapp: Any) -> WallClock:
    return WallClock(monkeypatch, jp_serverapp)


@pytest.mark.parametrize("jump", [3600, -3600], ids=["forward-1h", "backward-1h"])
@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 5, "terminal_idle_timeout": 5,
                                      "server_idle_timeout": 3600}})
async def test_deadlines_survive_a_wall_clock_jump(
    jump: int, wall_clock: WallClock, jp_fetch: Any, start_kernel: Any, status: Any,
    server_log: Any,
) -> None:
    kid = await start_kernel()
    r = await jp_fetch("api", "terminals", method="POST", body="{}")
    term = json.loads(r.body)["name"]
    _, kernel_deadline = await settled_deadline(status, "kernels", kid)
    _, term_deadline = await settled_deadline(status, "terminals", term)
    before = await status()

    wall_clock.jump(jump)
    after = await status()
    # Deadlines stay wall-clock times: they moved with the clock, and the time left is kept.
    moved = (parse_time(after["now"]) - parse_time(before["now"])).total_seconds()
    assert abs(moved - jump) < 2, moved
    for kind, key, ident in (("kernels", "id", kid), ("terminals", "name", term)):
        (a,) = [x for x in before[kind] if x[key] == ident]
        (b,) = [x for x in after[kind] if x[key] == ident]
        shift = (parse_time(b["deadline"]) - parse_time(a["deadline"])).total_seconds()
        assert abs(shift - jump) < 0.01, (kind, a, b)
    left = {when: (parse_time(doc["server"]["deadline"]) - parse_time(doc["now"]))
            .total_seconds() for when, doc in (("before", before), ("after", after))}
    assert 0 <= left["before"] - left["after"] < 2, left  # the server's idle deadline too

    kernels, terminals = Watch(jp_fetch, "kernels"), Watch(jp_fetch, "terminals")
    limit = max(kernel_deadline, term_deadline) + LATE + 3
    while not (kid in kernels.gone and term in terminals.gone):
        await kernels.poll()
        await terminals.poll()
        assert time.monotonic() < limit, "not culled within the bound after a clock jump"
        await asyncio.sleep(0.1)
    # Neither early (a forward jump made every deadline look long past) nor an hour late
    # (a backward one made them an hour away).
    for watch, ident, deadline in ((kernels, kid, kernel_deadline),
                                   (terminals, term, term_deadline)):
        assert watch.last_seen[ident] >= deadline - 1.0 - EARLY, (ident, deadline)
        assert watch.gone[ident] - deadline <= LATE, (ident, watch.gone[ident] - deadline)
    assert f"The wall clock jumped by {jump:+.1f} s" in server_log()
