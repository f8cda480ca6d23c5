"""Load: 20 kernels and 10 terminals with staggered idle deadlines in a real ``jupyter server``
process, and bursts of 200 concurrent status requests while the deadlines pass.

The server must decide to cull every kernel and terminal within ``LATE`` of the deadline
the status last showed for it (the time of its "Culling" line in the server log), each must
be gone ``EXIT_ALLOWANCE`` after that at most, and no status request may take longer than
``STATUS_BOUND`` (docs/operator.md, "Reliability"). The server is a subprocess (``test_server_process.launch``) so that the
clients' work is not done on the server's own event loop.

Measurements: a watcher thread reads ``GET api/cull/status`` every 0.2 s (the deadline shown,
and when an item was first seen gone: the return time of that request); the burst client is
asyncio with 200 connections at once, timing each request from just before it is sent to
its answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from test_server_process import TOKEN, launch, wall  # noqa: F401 (launch is a fixture)

from .conftest import LATE

KERNELS, TERMINALS, BURST = 20, 10, 200
#: Idle timeouts (s): four kernelspecs, five kernels each, and the terminals'.
KERNEL_TIMEOUTS = (10, 12, 14, 16)
TERMINAL_TIMEOUT = 13
#: Longest a status request may take, even among 200 sent at once (docs/operator.md).
STATUS_BOUND = 2.0
#: On top of the decision (within LATE of the deadline), the time a kernel or terminal takes
#: to go: the kernel process answering its shutdown_request and exiting, or terminado's
#: signal sequence, for several at once on a loaded machine. Measured: 0.1 to 1.4 s, once
#: 3.2 s on two shared cores.
EXIT_ALLOWANCE = 2.0


def kernelspecs(root: Path) -> Path:
    """JUPYTER_PATH with one ipykernel spec per timeout (metadata.cull_idle_timeout)."""
    for timeout in KERNEL_TIMEOUTS:
        spec = root / "kernels" / f"load-{timeout}"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python, {timeout} s", "language": "python",
            "metadata": {"cull_idle_timeout": timeout},
        }))
    return root


class Watcher(threading.Thread):
    """Reads the status every ``interval`` s: the last deadline shown for each kernel and
    terminal, and when each was first seen gone (wall-clock time, as the deadlines)."""

    def __init__(self, url: str, interval: float = 0.2):
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.deadline: dict[str, float] = {}
        self.gone: dict[str, float] = {}
        self.back: list[str] = []  # seen gone, then listed again: must never happen
        self.errors: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"token {TOKEN}"
            while not self._halt.is_set():
                try:
                    r = session.get(self.url + "api/cull/status", timeout=10)
                    returned = time.time()
                except requests.RequestException as e:
                    self.errors.append(repr(e))
                    continue
                if r.status_code != 200:
                    self.errors.append(f"{r.status_code}: {r.text[:300]}")
                    continue
                doc = r.json()
                listed = set()
                for item in doc["kernels"] + doc["terminals"]:
                    ident = item.get("id") or item["name"]
                    listed.add(ident)
                    if ident in self.gone:
                        self.back.append(f"{ident} listed again at {returned:.3f} after "
                                         f"missing at {self.gone.pop(ident):.3f}: {item}")
                    if item["deadline"] is not None:
                        self.deadline[ident] = wall(item["deadline"])
                for ident in set(self.deadline) - listed:
                    self.gone.setdefault(ident, returned)
                self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(15)


class Tabs:
    """``n`` clients, each on its own kept-alive HTTP/1.1 connection (as a browser tab
    polls); ``ask_all`` sends one status request on every connection at once."""

    def __init__(self, port: int, n: int):
        self.port, self.n = port, n
        self.conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.request = (f"GET /api/cull/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                        f"Authorization: token {TOKEN}\r\n\r\n").encode()

    async def open(self) -> None:
        # In groups, so that opening them is not itself a burst of new connections (see
        # docs/operator.md on the listen backlog); each is checked with one request.
        for start in range(0, self.n, 25):
            group = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", self.port)
                                           for _ in range(start, min(start + 25, self.n))))
            self.conns += group
            for code, _ in await asyncio.gather(*(self.ask(*c) for c in group)):
                assert code == 200, code

    async def ask(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                  ) -> tuple[int, float]:
        t0 = time.monotonic()
        writer.write(self.request)
        await writer.drain()
        code = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        json.loads(await reader.readexactly(length))
        return code, time.monotonic() - t0

    async def ask_all(self) -> list[tuple[int, float]]:
        return await asyncio.gather(*(self.ask(*c) for c in self.conns))

    def close(self) -> None:
        for _, writer in self.conns:
            writer.close()


async def bursts(tabs: Tabs, watcher: Watcher, idents: set[str], limit: float
                 ) -> list[tuple[int, float]]:
    """Every tab asks at once, just before the earliest deadline and then every 2 s, until
    every kernel and terminal is gone."""
    await tabs.open()
    try:
        first = min(watcher.deadline.values())
        await asyncio.sleep(max(0.0, first - 0.5 - time.time()))
        latencies: list[tuple[int, float]] = []
        while not idents <= set(watcher.gone):
            assert time.monotonic() < limit, f"still there: {sorted(idents - set(watcher.gone))}"
            started = time.monotonic()
            latencies += await tabs.ask_all()
            await asyncio.sleep(max(0.0, started + 2 - time.monotonic()))
        return latencies
    finally:
        tabs.close()


@pytest.mark.alone
def test_many_kernels_and_terminals_are_culled_on_time_under_status_load(
    launch: Any, tmp_path: Path,  # noqa: F811
) -> None:
    server = launch(f"--CullExt.terminal_idle_timeout={TERMINAL_TIMEOUT}",
                    "--CullExt.kernel_idle_timeout=3600", "--CullExt.server_idle_timeout=0",
                    env={"JUPYTER_PATH": str(kernelspecs(tmp_path / "jupyter-path"))})
    watcher = Watcher(server.url)
    watcher.start()
    try:
        names = [f"load-{KERNEL_TIMEOUTS[i % len(KERNEL_TIMEOUTS)]}" for i in range(KERNELS)]
        with ThreadPoolExecutor(8) as pool:
            kernels = list(pool.map(lambda n: server.post("api/kernels", {"name": n}), names))
            terminals = list(pool.map(lambda _: server.post("api/terminals"), range(TERMINALS)))
        started_ok = [r.status_code for r in kernels] == [201] * KERNELS and [
            r.status_code for r in terminals] == [200] * TERMINALS
        assert started_ok, [(r.status_code, r.text[:200]) for r in kernels + terminals]
        idents = {r.json()["id"] for r in kernels} | {r.json()["name"] for r in terminals}
        server._note_kernels()  # so teardown can kill any kernel left behind

        limit = time.monotonic() + 60
        while len(watcher.deadline) < len(idents):
            assert time.monotonic() < limit, "not every kernel and terminal got a deadline"
            time.sleep(0.1)
        latencies = asyncio.run(bursts(Tabs(server.port, BURST), watcher, idents, limit))
    finally:
        watcher.stop()

    log = (tmp_path / "home" / ".jupyter-server-log.txt").read_text()
    decided = {m[2]: datetime.fromisoformat(m[1]).timestamp() for m in re.finditer(
        r"^\[W (\S+ \S+) \S+ \d+ CullExt\] Culling idle (?:kernel|terminal) ([^\s:]+)", log,
        re.M)}
    assert set(decided) == idents, (sorted(idents - set(decided)), log)
    decision_late = {i: decided[i] - watcher.deadline[i] for i in idents}
    late = {i: watcher.gone[i] - watcher.deadline[i] for i in idents}
    slowest = max(s for _, s in latencies)
    print(f"\n{len(latencies)} status requests in {len(latencies) // BURST} bursts of {BURST}: "
          f"slowest {slowest:.3f} s; the {len(idents)} culls: decided at deadline "
          f"{min(decision_late.values()):+.3f} to {max(decision_late.values()):+.3f} s, gone "
          f"(seen by a 0.2 s poller) at {min(late.values()):+.3f} to {max(late.values()):+.3f} s")
    assert not watcher.errors, watcher.errors[:5]
    assert not watcher.back, watcher.back
    assert all(code == 200 for code, _ in latencies), sorted({c for c, _ in latencies})
    assert len(latencies) >= 2 * BURST
    assert slowest <= STATUS_BOUND, sorted(s for _, s in latencies)[-10:]
    assert all(0 <= d <= LATE for d in decision_late.values()), sorted(decision_late.items(),
                                                                    key=lambda x: x[1])
    latest = max(late, key=late.get)
    assert late[latest] <= LATE + EXIT_ALLOWANCE, (
        f"{latest} gone {late[latest]:+.3f} s after its deadline "
        f"{datetime.fromtimestamp(watcher.deadline[latest], timezone.utc):%H:%M:%S.%f}:\n"
        + "\n".join(line for line in log.splitlines()
                     if re.search(rf"(kernel|[Tt]erminal) {re.escape(latest)}\b", line)))
    assert min(late.values()) >= -0.5, sorted(late.values())[:5]  # none before its deadline
    assert not [line for line in log.splitlines() if line.startswith("[E ")], log
    # Each culled once (one line, one event, one count in the metric).
    assert log.count("Culling idle kernel") == KERNELS, log
    assert log.count("Culling idle terminal") == TERMINALS, log
