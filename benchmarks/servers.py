"""Shared by the benchmarks: real ``jupyter server`` / ``jupyter lab`` processes, with our
extension ("ours") or without it ("stock"), and what can be read about them from /proc.

"stock" is the same jupyter_server, same venv and config path, with
``--ServerApp.jpserver_extensions=jupyter_cull_ext=False`` on the command line; ``check_mode``
verifies that ``api/cull/status`` answers 200 (ours) or 404 (stock). Every server runs on
127.0.0.1 with a fixed token, its own ``HOME`` and root dir under a temporary folder, and is
stopped (with any kernel it started) by ``stop()``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests
import websocket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hubharness import execute_request  # noqa: E402
from procs import children_of, cmdline  # noqa: E402  (shared with the tests)

BIN = Path(sys.executable).parent
TOKEN = "cull-ext-benchmark-token"
STOCK_ARG = "--ServerApp.jpserver_extensions=jupyter_cull_ext=False"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wall(value: str) -> float:
    """An ISO 8601 time from a server (``Z`` or an offset) as a ``time.time()`` value."""
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


# --- /proc ---------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size of one process (not its children), MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time of one process: all its threads, not its children. From the scheduler's
    per-thread run time (ns) where available, which unlike utime/stime (10 ms ticks) can
    measure an idle server's few milliseconds."""
    total_ns, seen = 0, False
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total_ns += int((task / "schedstat").read_text().split()[0])
            seen = True
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    if seen:
        return total_ns / 1e9
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --- a server process ------------------------------------------------------------------------


def clean_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment minus anything pointing at other Jupyter config or a hub."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "JUPYTERHUB", "IPYTHON", "XDG_"))}
    runtime = home / ".runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), JUPYTER_RUNTIME_DIR=str(runtime),
               IPYTHONDIR=str(home / ".ipython"), PYTHONUNBUFFERED="1",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    env.update(extra or {})
    return env


class JServer:
    """``jupyter server`` (or ``jupyter lab`` with ``lab=True``), ours or stock."""

    def __init__(self, workdir: Path, ours: bool, args: list[str] = (), lab: bool = False,
                 env: dict[str, str] | None = None, name: str = ""):
        self.ours = ours
        self.name = name or ("ours" if ours else "stock")
        self.dir = workdir
        self.home = workdir / "home"
        self.root = workdir / "root"
        self.home.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = workdir / "server.log"
        command = ([sys.executable, "-m", "jupyterlab", "--no-browser"] if lab
                   else [str(BIN / "jupyter"), "server"])
        command += [
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", "--ServerApp.allow_root=True",
            "--ServerApp.open_browser=False", f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={self.root}", *args,
        ]
        if not ours:
            command.append(STOCK_ARG)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.launched = time.time()
        self.proc = subprocess.Popen(command, cwd=workdir, env=clean_env(self.home, env),
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {TOKEN}"
        self.ready_at: float | None = None
        self.exited_at: float | None = None
        self._kernels: dict[int, bytes] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    # --- HTTP ------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None,
                timeout: float = 30) -> requests.Response:
        data = None if body is None else json.dumps(body)
        return self.session.request(method, self.url + path, data=data, timeout=timeout)

    def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        r = self.request(method, path, body)
        if r.status_code != expect:
            raise RuntimeError(f"{self.name}: {method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    def wait_ready(self, timeout: float = 90) -> None:
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) before it was "
                                   f"ready:\n{self.log()[-3000:]}")
            try:
                if self.request("GET", "api/status", timeout=2).status_code == 200:
                    self.ready_at = time.time()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout} s:\n{self.log()[-3000:]}")

    def check_mode(self) -> None:
        """Our extension answers on ours and is absent on stock."""
        code = self.request("GET", "api/cull/status").status_code
        if code != (200 if self.ours else 404):
            raise RuntimeError(f"{self.name}: api/cull/status answered {code}: the extension "
                               f"is {'off' if self.ours else 'on'}, expected the opposite")

    def status(self) -> dict:
        return self.json("GET", "api/cull/status")

    def start_kernel(self) -> str:
        kid = self.json("POST", "api/kernels", {"name": "python3"}, expect=201)["id"]
        for pid in children_of(self.pid):
            self._kernels.setdefault(pid, cmdline(pid))
        return kid

    def kernel_ids(self) -> set[str]:
        return {k["id"] for k in self.json("GET", "api/kernels")}

    def execute(self, kid: str, code: str, timeout: float = 30) -> float:
        """Run ``code`` in the kernel over its websocket, wait until the kernel is idle again,
        then hang up (no client stays connected); the time it went idle."""
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{self.port}/api/kernels/{kid}/channels?token={TOKEN}",
            timeout=timeout)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(execute_request(code, msg_id, store_history=False))
            limit = time.monotonic() + timeout
            while time.monotonic() < limit:
                msg = json.loads(ws.recv())
                if (msg.get("parent_header", {}).get("msg_id") == msg_id
                        and msg["header"]["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"):
                    return time.time()
            raise RuntimeError(f"{self.name}: kernel {kid} did not finish {code!r}")
        finally:
            ws.close()

    # --- the process -----------------------------------------------------------------------

    def running(self) -> bool:
        if self.proc.poll() is None:
            return True
        if self.exited_at is None:
            self.exited_at = time.time()
        return False

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        """SIGTERM (then SIGKILL), and any kernel it left behind."""
        if self.proc.poll() is None:
            for pid in children_of(self.pid):
                self._kernels.setdefault(pid, cmdline(pid))
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for pid, command in self._kernels.items():
            if command and cmdline(pid) == command:  # still that same process
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.session.close()
        self._log.close()


def start_all(servers: list[JServer], timeout: float = 120) -> list[JServer]:
    """Wait until every server answers and is in the mode it claims; stop all on failure."""
    try:
        for server in servers:
            server.wait_ready(timeout)
            server.check_mode()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers
