"""Kernels on a gateway: a real ``jupyter kernelgateway`` process and a real ``jupyter server``
with ``--GatewayClient.url`` pointing at it (no stub of the gateway API).

Remote kernels are culled at the deadline the status showed, through the gateway; a busy
remote kernel keeps the server up; a gateway that stops answering culls nothing and stops no
server (its kernels are "unknown"), says so once, and once more when it is back.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from hubharness import Hub
from procs import children_of, cmdline, kill_leftovers
from test_server_process import (  # noqa: F401 (launch is a fixture)
    EARLY,
    LATE,
    execute_and_disconnect,
    free_port,
    iso,
    jupyter_command,
    kernel_entry,
    launch,
    server_env,
    wall,
    watch_exit,
)

from jupyter_cull_ext import policy


class Gateway:
    """One ``jupyter kernelgateway`` subprocess listing its kernels, on 127.0.0.1."""

    def __init__(self, tmp_path: Path, port: int | None = None):
        self.tmp_path = tmp_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"gateway-{self.port}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            jupyter_command() + [
                "kernelgateway",
                "--KernelGatewayApp.ip=127.0.0.1",
                f"--KernelGatewayApp.port={self.port}",
                "--KernelGatewayApp.port_retries=0",
                "--JupyterWebsocketPersonality.list_kernels=True",
            ],
            cwd=tmp_path, env=server_env(tmp_path), stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        self._kernels: dict[int, bytes] = {}

    def kernel_ids(self) -> set[str]:
        r = requests.get(f"{self.url}/api/kernels", timeout=5)
        assert r.status_code == 200, (r.status_code, r.text)
        for pid in children_of(self.proc.pid):
            self._kernels.setdefault(pid, cmdline(pid))
        return {k["id"] for k in r.json()}

    def wait_ready(self, timeout: float = 30) -> None:
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            assert self.proc.poll() is None, f"gateway exited:\n{self.log()}"
            try:
                self.kernel_ids()
                return
            except requests.RequestException:
                time.sleep(0.1)
        pytest.fail(f"gateway not ready within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        kill_leftovers(self._kernels)
        self._log.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """Start kernel gateways (``port`` to restart one where it was); teardown stops them."""
    gateways: list[Gateway] = []

    def start(port: int | None = None) -> Gateway:
        gw = Gateway(tmp_path, port)
        gateways.append(gw)
        gw.wait_ready()
        return gw

    yield start
    for gw in gateways:
        gw.stop()


def wait_until(what: str, check: Callable[[], object], timeout: float,
               interval: float = 0.1) -> object:
    limit = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < limit, f"not {what} within {timeout} s"
        time.sleep(interval)


def remote_entry(server, kid: str, state: str | None = None) -> dict | None:
    """The kernel's status entry once the gateway's facts about it have arrived."""
    status = server.status()
    k = kernel_entry(status, kid)
    if k is None or k["protected_by"] == "unknown":
        return None
    if state is not None and k["execution_state"] != state:
        return None
    return status


def settled(server, kid: str, timeout: float = 15) -> dict:
    """The status once the remote kernel's deadline has not moved for 2.5 s: a fresh
    kernel's start-up messages move its last activity on the gateway, seconds after it was
    started on a loaded machine, and we see that at our next listing."""
    limit = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        status = remote_entry(server, kid)
        deadline = kernel_entry(status, kid)["deadline"] if status else None
        if deadline != last:
            last, since = deadline, time.monotonic()
        elif deadline is not None and time.monotonic() - since >= 2.5:
            return status
        assert time.monotonic() < limit, f"deadline not settled in {timeout} s: {status}"
        time.sleep(0.2)


def test_idle_remote_kernel_culled_on_time_then_server_stops(gateway, launch) -> None:
    gw = gateway()
    server = launch(f"--GatewayClient.url={gw.url}", "--CullExt.kernel_idle_timeout=8",
                    "--CullExt.server_idle_timeout=14")
    kid = server.start_kernel()
    assert kid in gw.kernel_ids()
    status = settled(server, kid)
    g = status["gateway"]
    assert g["url"] == gw.url and g["reachable"] is True and g["error"] is None, g
    k = kernel_entry(status, kid)
    assert k["timeout"] == 8 and k["reason"] == "idle", status
    kernel_deadline = wall(k["deadline"])
    assert kernel_deadline == pytest.approx(wall(k["last_activity"]) + 8, abs=0.002)
    assert kernel_deadline > time.time(), "the kernel deadline is already past"

    last_present = time.time()
    while True:  # watched on the gateway itself
        sent = time.time()
        if kid not in gw.kernel_ids():
            gone = time.time()
            break
        last_present = sent
        assert sent < kernel_deadline + LATE + 3, f"remote kernel not culled:\n{server.log()}"
        time.sleep(0.1)
    assert gone - kernel_deadline <= LATE, (iso(kernel_deadline), iso(gone), server.log(), gw.log())
    assert kernel_deadline - last_present <= EARLY, (iso(kernel_deadline), iso(last_present))

    status = server.status()
    assert kernel_entry(status, kid) is None, status
    server_deadline = wall(status["server"]["deadline"])
    last_running, exited = watch_exit(server, limit=server_deadline + LATE + 5)
    log = server.log()
    assert server.proc.returncode == 0, log
    assert exited - server_deadline <= LATE, (iso(server_deadline), iso(exited), log)
    assert server_deadline - last_running <= EARLY, log
    assert re.search(rf"Culling idle kernel {kid}\b", log), log
    assert "Culling check failed" not in log and "Traceback" not in log, log


def test_busy_remote_kernel_keeps_server_up_until_done(gateway, launch) -> None:
    gw = gateway()
    server = launch(f"--GatewayClient.url={gw.url}", "--CullExt.kernel_idle_timeout=3",
                    "--CullExt.server_idle_timeout=4")
    kid = server.start_kernel()
    started = execute_and_disconnect(server, kid, "import time; time.sleep(9)")
    status = wait_until("seen busy", lambda: remote_entry(server, kid, "busy"), 3)
    k = kernel_entry(status, kid)
    assert k["protected_by"] == "busy" and k["deadline"] is None, status
    assert status["server"]["protected_by"] == "busy_kernel", status

    # Past both timeouts with nothing but the busy remote kernel.
    rc = server.wait_exit(timeout=started + 8 - time.time())
    assert rc is None, f"server exited ({rc}) while its remote kernel was busy:\n{server.log()}"
    assert kid in gw.kernel_ids(), f"busy remote kernel culled:\n{server.log()}"

    status = wait_until("seen idle", lambda: remote_entry(server, kid, "idle"), 5, 0.2)
    idle_at = wall(kernel_entry(status, kid)["last_activity"])
    assert idle_at == pytest.approx(started + 9, abs=1.5), (iso(started), status)
    server_deadline = wall(status["server"]["deadline"])
    last_running, exited = watch_exit(server, limit=server_deadline + LATE + 5)
    assert exited - server_deadline <= LATE, server.log()
    assert server_deadline - last_running <= EARLY, server.log()
    assert kid not in gw.kernel_ids(), "the server stopped without stopping its remote kernel"


@pytest.mark.parametrize("fault", ["stalled", "killed"])
def test_gateway_outage_culls_and_stops_nothing_until_back(gateway, launch, fault) -> None:
    gw = gateway()
    server = launch(f"--GatewayClient.url={gw.url}", "--CullExt.kernel_idle_timeout=8",
                    "--CullExt.server_idle_timeout=10")
    kid = server.start_kernel()
    status = settled(server, kid)
    kernel_deadline = wall(kernel_entry(status, kid)["deadline"])
    server_deadline = wall(status["server"]["deadline"])

    if fault == "stalled":
        gw.proc.send_signal(signal.SIGSTOP)  # hangs every request, like an overloaded one
    else:
        gw.stop(signal.SIGKILL)  # its kernel dies with it (or is killed by stop())
    try:
        status = wait_until("seen unreachable", lambda: (
            s := server.status())["gateway"]["reachable"] is False and s, 10)
        k = kernel_entry(status, kid)
        assert k["protected_by"] == "unknown" and k["deadline"] is None, status
        assert status["server"]["protected_by"] == "unknown_kernel", status
        assert status["server"]["deadline"] is None, status
        # Past both deadlines, the server is still up and culled nothing.
        time.sleep(max(server_deadline + LATE + 1 - time.time(), 0))
        assert server.running(), server.log()
        assert not re.search(rf"Culling idle kernel {kid}\b", server.log()), server.log()
        status = server.status()
        assert status["gateway"]["error"] and status["gateway"]["facts_age"] > 3, status
    finally:
        if fault == "stalled":
            gw.proc.send_signal(signal.SIGCONT)
    if fault == "killed":
        gw = gateway(port=gw.port)  # a new gateway where the old one was: the kernel is gone

    resumed = time.time()
    # Back: facts are known again, and the server, idle since the kernel's last activity
    # long ago, stops (shutting down its remote kernel, if still there, with it).
    _, exited = watch_exit(server, limit=resumed + TIMEOUT_BACK)
    log = server.log()
    assert server.proc.returncode == 0, log
    assert len(re.findall(r"Gateway \S+ unreachable", log)) == 1, log
    assert len(re.findall(r"Gateway \S+ reachable again", log)) == 1, log
    assert log.index("reachable again") < log.index("Stopping server: idle"), log
    assert not re.search(rf"Culling idle kernel {kid}\b", log), log
    assert "Traceback" not in log and "Could not compute" not in log, log
    assert kid not in gw.kernel_ids(), log
    print(f"\nkernel deadline {iso(kernel_deadline)}, server deadline {iso(server_deadline)}, "
          f"gateway back {iso(resumed)}, server exited {exited - resumed:.3f} s later")


#: Seconds after a gateway is back within which the server has culled and stopped.
TIMEOUT_BACK = 10


# --- facts that cannot be read (a local server: the same rule holds with or without a gateway)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 600}})
async def test_unreadable_kernel_is_skipped_and_the_rest_decided(
        jp_serverapp, start_kernel, status, jp_fetch) -> None:
    ext = jp_serverapp.web_app.settings["jupyter_cull_ext"]
    lines = Lines()
    ext.log.addHandler(lines)
    try:
        bad, good = await start_kernel(), await start_kernel()
        # A kernel manager that stamps a naive time (a third-party one): no deadline can
        # be computed for it; before, every decision, status and report failed with it.
        jp_serverapp.kernel_manager._kernels[bad].last_activity = datetime.now()
        for _ in range(3):
            doc = await status()
            assert [k["id"] for k in doc["kernels"]] == [good], doc
            assert doc["kernels"][0]["deadline"] is not None, doc
            assert doc["server"]["last_activity_source"], doc
            r = await jp_fetch("api", "status")  # what the hub reporter reads
            assert r.code == 200
    finally:
        ext.log.removeHandler(lines)
    warned = [line for line in lines.lines if f"kernel {bad}" in line]
    assert len(warned) == 1, lines.lines  # rate-limited: one line, not one per decision
    assert "Cannot read the facts" in warned[0] and "timezone" in warned[0], warned


# --- the policy for unknown facts (pure)


def test_unknown_kernel_is_never_culled_and_holds_the_server() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    long_ago = now - timedelta(hours=5)
    kernel = policy.Kernel(id="k", name="python3", execution_state="idle", connections=0,
                           last_activity=long_ago, timeout=60, known=False)
    facts = policy.Facts(now=now, activity={policy.SERVER_START: long_ago}, kernels=(kernel,))
    settings = policy.Settings(kernel_timeout=60, server_timeout=60, max_age=7200,
                               started=long_ago)
    d = policy.decide(facts, settings)
    assert (d.kernels[0].deadline, d.kernels[0].protected_by) == (None, "unknown")
    assert d.server.idle_deadline is None
    assert d.server.protected_by == policy.UNKNOWN_KERNEL
    assert policy.last_activity(facts) == (now, policy.UNKNOWN_KERNEL)
    # max age is not about facts we lack: it still stops the server
    assert d.server.reason == "max_age" and d.server_due()

    known = dataclasses.replace(kernel, known=True)
    d = policy.decide(dataclasses.replace(facts, kernels=(known,)), settings)
    assert d.kernels[0].deadline == long_ago + timedelta(seconds=60)
    assert d.server.idle_deadline == long_ago + timedelta(seconds=60)


# --- under JupyterHub: the hub hears the remote kernel's work


def test_hub_hears_a_busy_remote_kernel(gateway, tmp_path) -> None:
    gw = gateway()
    hub = Hub(tmp_path / "hub", config=f"c.Spawner.args += ['--GatewayClient.url={gw.url}']",
              spawner_env={"JUPYTERHUB_ACTIVITY_INTERVAL": "3"})
    hub.start()
    try:
        hub.start_server("gwuser")
        code, kernel = hub.server_api("POST", "gwuser", "api/kernels", {"name": "python3"})
        assert code == 201, kernel
        assert kernel["id"] in gw.kernel_ids()
        hub.execute_and_leave("gwuser", kernel["id"], "import time; time.sleep(20)")
        code, status = hub.server_api("GET", "gwuser", "api/cull/status")
        assert status["gateway"]["url"] == gw.url, status

        def hub_last_activity() -> str:
            return hub.user("gwuser")["servers"][""]["last_activity"]

        # Only the hub's API is read from now on: the busy remote kernel alone is activity,
        # seen at our next listing of the gateway (within 10 s while nothing is near).
        seen = {hub_last_activity()}
        end = time.monotonic() + 17
        while time.monotonic() < end:
            seen.add(hub_last_activity())
            time.sleep(0.5)
        assert len(seen) >= 3, sorted(seen)  # advanced at least twice while it slept
    finally:
        hub.close()
