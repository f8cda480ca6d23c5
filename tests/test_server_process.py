"""A real ``jupyter server`` process, used the way a new operator would use it.

Every test starts ``jupyter server`` (the venv's, next to ``sys.executable``) as a
subprocess on a free port with a fixed token, its own ``HOME`` and runtime dir inside
``tmp_path``, and the venv's config path, so the extension is enabled the way the wheel
enables it (``etc/jupyter/jupyter_server_config.d``). Output goes to a log file in
``tmp_path``; the process (and any kernel it started) is always stopped in teardown.

Timing assertions use the deadlines the status API *showed* and wall-clock times measured
here (same machine, same clock), with conservative bounds: "not early" is judged from the
moment a request that still saw the thing was *sent*, "not late" from the moment the request
that saw it gone *returned*.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
import websocket
from hubharness import execute_request
from procs import children_of, cmdline

TOKEN = "cull-ext-process-test-token"
BIN = Path(sys.executable).parent
JUPYTER = BIN / "jupyter"

#: The design target: things are stopped at most this long after the deadline shown.
LATE = 2.0
#: Measurement slack for "not early".
EARLY = 0.5

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def jupyter_command() -> list[str]:
    if JUPYTER.exists():
        return [str(JUPYTER)]
    return [sys.executable, "-m", "jupyter"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test runner's environment, minus anything that would point the server at other
    config or a hub, with HOME and the runtime dir inside ``tmp_path``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "JUPYTERHUB", "IPYTHON", "XDG_"))
    }
    home = tmp_path / "home"
    runtime = tmp_path / "runtime"
    home.mkdir(exist_ok=True)
    runtime.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(home / ".ipython"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def wall(value: str) -> float:
    """A status API time (ISO 8601, ``Z``) as a ``time.time()`` value."""
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


class Server:
    """One ``jupyter server`` subprocess."""

    def __init__(self, tmp_path: Path, args: list[str], env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.root = tmp_path / "root"
        self.root.mkdir(exist_ok=True)
        self.log_path = tmp_path / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.command = jupyter_command() + [
            "server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.allow_root=True",
            "--ServerApp.open_browser=False",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={self.root}",
            *args,
        ]
        self.proc = subprocess.Popen(
            self.command,
            cwd=tmp_path,
            env=server_env(tmp_path, env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {TOKEN}"
        self._kernels: dict[int, bytes] = {}  # pid -> cmdline of kernels it started

    # --- HTTP ----------------------------------------------------------------------------

    def get(self, path: str, timeout: float = 5) -> requests.Response:
        return self.session.get(self.url + path, timeout=timeout)

    def post(self, path: str, body: dict | None = None, timeout: float = 30) -> requests.Response:
        return self.session.post(self.url + path, data=json.dumps(body or {}), timeout=timeout)

    def status(self) -> dict:
        r = self.get("api/cull/status")
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def start_kernel(self) -> str:
        r = self.post("api/kernels", {"name": "python3"})
        assert r.status_code == 201, (r.status_code, r.text)
        self._note_kernels()
        return r.json()["id"]

    def _note_kernels(self) -> None:
        for pid in children_of(self.proc.pid):
            self._kernels.setdefault(pid, cmdline(pid))

    # --- the process ---------------------------------------------------------------------

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 30) -> None:
        """Bounded polling of ``GET /api/status`` until the server answers."""
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            if not self.running():
                pytest.fail(f"server exited with {self.proc.returncode} before it was ready:\n"
                            f"{self.log()}")
            try:
                if self.get("api/status", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"server not ready within {timeout} s:\n{self.log()}")

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and any kernel it left behind."""
        if self.running():
            self._note_kernels()
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(10) is None:
                self.proc.kill()
                self.proc.wait(10)
        for pid, command in self._kernels.items():
            # Normally gone already; kill only if the pid is still that same process.
            if command and cmdline(pid) == command:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.session.close()
        self._log.close()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``jupyter server`` with extra arguments (and env); teardown stops them all."""
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None, ready: bool = True) -> Server:
        server = Server(tmp_path, list(args), env)
        servers.append(server)
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


class Poller(threading.Thread):
    """A browser tab's background polling: GET some endpoints every ``interval`` seconds
    until stopped. None of this may count as activity."""

    def __init__(self, server: Server, paths: list[str], interval: float = 2.0):
        super().__init__(daemon=True)
        self.server, self.paths, self.interval = server, paths, interval
        self.ok = 0
        self.unexpected: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"token {TOKEN}"
            while not self._halt.is_set():
                for path in self.paths:
                    try:
                        r = session.get(self.server.url + path, timeout=5)
                    except requests.RequestException:
                        continue  # the server stopped (that is the point of the test)
                    if r.status_code == 200:
                        self.ok += 1
                    else:
                        self.unexpected.append(f"GET {path}: {r.status_code}")
                self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def kernel_entry(status: dict, kid: str) -> dict | None:
    return next((k for k in status["kernels"] if k["id"] == kid), None)


def settled_status(server: Server, kid: str, timeout: float = 5) -> dict:
    """Poll the status until the kernel's deadline has not moved for a second (a fresh
    kernel's start-up messages move its last activity once, ~0.2 s after it started; it
    stays "starting" until a client talks to it); return that status."""
    limit = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        status = server.status()
        k = kernel_entry(status, kid)
        assert k is not None, f"kernel {kid} vanished early: {status}"
        if k["deadline"] != last:
            last, since = k["deadline"], time.monotonic()
        elif time.monotonic() - since >= 1.0:
            return status
        assert time.monotonic() < limit, f"kernel deadline kept moving for {timeout} s: {status}"
        time.sleep(0.2)


def watch_kernel_gone(server: Server, kid: str, limit: float) -> tuple[float, float]:
    """Poll ``GET /api/kernels`` until ``kid`` is gone (fail at wall time ``limit``).

    Returns (sent time of the last request that still listed it, return time of the first
    request that did not)."""
    last_present = time.time()
    while True:
        sent = time.time()
        r = server.get("api/kernels")
        returned = time.time()
        assert r.status_code == 200, (r.status_code, r.text)
        if kid not in {k["id"] for k in r.json()}:
            return last_present, returned
        last_present = sent
        assert returned < limit, (
            f"kernel still listed at {iso(returned)}, limit {iso(limit)}:\n{server.log()}"
        )
        time.sleep(0.1)


def watch_exit(server: Server, limit: float) -> tuple[float, float]:
    """Poll the process until it exits (fail at wall time ``limit``).

    Returns (last time it was seen running, first time it was seen exited)."""
    last_running = time.time()
    while True:
        now = time.time()
        if not server.running():
            return last_running, now
        last_running = now
        assert now < limit, (
            f"server still running at {iso(now)}, limit {iso(limit)}:\n{server.log()}"
        )
        time.sleep(0.05)


# --- 1. the extension is enabled where the wheel puts it ---------------------------------


@pytest.mark.oldest
def test_extension_list_shows_enabled_and_ok(tmp_path: Path) -> None:
    proc = subprocess.run(
        jupyter_command() + ["server", "extension", "list"],
        cwd=tmp_path,
        env=server_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    version = importlib.metadata.version("jupyter-cull-ext")
    assert re.search(r"^\s*jupyter_cull_ext\s+enabled\s*$", out, re.M), out
    assert re.search(rf"^\s*jupyter_cull_ext\s+{re.escape(version)}\s+OK\s*$", out, re.M), out


# --- 2. the acceptance scenario ----------------------------------------------------


def test_standard_knobs_cull_kernel_then_stop_server_on_time(launch: Callable) -> None:
    server = launch(
        "--MappingKernelManager.cull_idle_timeout=8",
        "--ServerApp.shutdown_no_activity_timeout=15",
    )
    # An unattended JupyterLab tab: polls kernels, sessions and the file listing.
    poller = Poller(server, ["api/kernels", "api/sessions", "api/contents"], interval=2)
    poller.start()
    try:
        kid = server.start_kernel()
        status = settled_status(server, kid)
        k = kernel_entry(status, kid)
        assert k["timeout"] == 8 and status["settings"]["kernel_timeout"] == 8, status
        assert status["server"]["idle_timeout"] == 15, status
        assert status["server"]["reason"] == "idle", status
        kernel_deadline = wall(k["deadline"])
        server_deadline_iso = status["server"]["deadline"]
        server_deadline = wall(server_deadline_iso)
        assert kernel_deadline == pytest.approx(wall(k["last_activity"]) + 8, abs=0.002)
        assert server_deadline == pytest.approx(
            wall(status["server"]["last_activity"]) + 15, abs=0.002
        )
        assert kernel_deadline > time.time(), "the kernel deadline is already past"

        last_present, gone = watch_kernel_gone(server, kid, limit=kernel_deadline + LATE + 3)
        kernel_late = gone - kernel_deadline
        kernel_early = kernel_deadline - last_present

        after = server.status()
        assert kernel_entry(after, kid) is None, after
        # Culling is not activity, and neither are the tab's polls: the deadline stays.
        assert after["server"]["deadline"] == server_deadline_iso, (
            f"the server deadline moved from {server_deadline_iso} to "
            f"{after['server']['deadline']} (last activity: "
            f"{after['server']['last_activity_source']}) with only background polls and a "
            f"cull since:\n{status}\n{after}"
        )

        last_running, exited = watch_exit(server, limit=server_deadline + LATE + 5)
        server_late = exited - server_deadline
        server_early = server_deadline - last_running
    finally:
        poller.stop()

    print(
        f"\nkernel: deadline {iso(kernel_deadline)}; still listed at deadline{-kernel_early:+.3f}"
        f" s, gone by deadline{kernel_late:+.3f} s"
        f"\nserver: deadline {iso(server_deadline)}; still running at deadline"
        f"{-server_early:+.3f} s, exited by deadline{server_late:+.3f} s (exit code"
        f" {server.proc.returncode})"
    )
    log = server.log()
    assert server.proc.returncode == 0, log
    assert kernel_late <= LATE, f"kernel culled {kernel_late:.3f} s after its deadline\n{log}"
    assert kernel_early <= EARLY, f"kernel culled {kernel_early:.3f} s before its deadline\n{log}"
    assert server_late <= LATE, f"server exited {server_late:.3f} s after its deadline\n{log}"
    assert server_early <= EARLY, f"server exited {server_early:.3f} s before its deadline\n{log}"
    assert re.search(rf"Culling idle kernel {kid}\b", log), log
    assert re.search(r"Stopping server: idle for \S+ >= timeout", log), log
    assert poller.ok >= 12 and not poller.unexpected, (poller.ok, poller.unexpected)


# --- 3. a busy kernel keeps the server up --------------------------------------------------


def execute_and_disconnect(server: Server, kid: str, code: str) -> float:
    """Send ``execute_request`` over the kernel's websocket (legacy JSON protocol), wait
    until the kernel reports busy for it, then close the connection; return that time."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/api/kernels/{kid}/channels?token={TOKEN}", timeout=10
    )
    try:
        msg_id = uuid.uuid4().hex
        ws.send(execute_request(code, msg_id))
        limit = time.monotonic() + 10
        while time.monotonic() < limit:
            msg = json.loads(ws.recv())
            if (
                msg.get("parent_header", {}).get("msg_id") == msg_id
                and msg["header"]["msg_type"] == "status"
                and msg["content"]["execution_state"] == "busy"
            ):
                return time.time()
        pytest.fail("the kernel never reported busy for our execute_request")
    finally:
        ws.close()


@pytest.mark.oldest
def test_busy_kernel_keeps_server_up_until_it_is_done(launch: Callable) -> None:
    server = launch(
        "--MappingKernelManager.cull_idle_timeout=3",
        "--ServerApp.shutdown_no_activity_timeout=4",
    )
    kid = server.start_kernel()
    started = execute_and_disconnect(server, kid, "import time; time.sleep(10)")

    limit = time.monotonic() + 3  # the server notices the closed websocket
    while True:
        status = server.status()
        k = kernel_entry(status, kid)
        assert k is not None, status
        if k["connections"] == 0:
            break
        assert time.monotonic() < limit, f"websocket still counted as connected: {status}"
        time.sleep(0.1)
    assert k["execution_state"] == "busy", status
    assert k["protected_by"] == "busy" and k["deadline"] is None, status
    assert status["server"]["protected_by"] == "busy_kernel", status
    assert status["server"]["deadline"] is None, status

    # Well past both timeouts (3 s kernel, 4 s server) with nothing but the busy kernel.
    rc = server.wait_exit(timeout=started + 8 - time.time())
    assert rc is None, f"server exited ({rc}) while its kernel was busy:\n{server.log()}"
    status = server.status()
    k = kernel_entry(status, kid)
    assert k is not None, f"busy kernel was culled:\n{server.log()}"
    assert k["execution_state"] == "busy" and k["protected_by"] == "busy", status
    assert status["server"]["protected_by"] == "busy_kernel", status

    # The sleep ends ~10 s after it started: the kernel goes idle, then is culled 3 s
    # later, and the server stops 4 s after the kernel's last activity.
    while True:
        status = server.status()
        k = kernel_entry(status, kid)
        assert k is not None, f"kernel culled before it was seen idle:\n{server.log()}"
        if k["execution_state"] == "idle":
            break
        assert time.time() < started + 10 + 3, f"still busy: {status}"
        time.sleep(0.2)
    idle_at = wall(k["last_activity"])
    assert idle_at == pytest.approx(started + 10, abs=1.5), (iso(started), status)
    assert wall(k["deadline"]) == pytest.approx(idle_at + 3, abs=0.002), status
    kernel_deadline = wall(k["deadline"])
    server_deadline = wall(status["server"]["deadline"])
    assert server_deadline == pytest.approx(idle_at + 4, abs=1.0), status

    # Watched through the status API only (no other client, no other polling).
    last_listed = time.time()
    while True:
        sent = time.time()
        status = server.status()
        if kernel_entry(status, kid) is None:
            culled = time.time()
            break
        last_listed = sent
        assert sent < kernel_deadline + LATE + 3, f"kernel not culled:\n{server.log()}"
        time.sleep(0.1)
    assert culled - kernel_deadline <= LATE, (iso(kernel_deadline), iso(culled), server.log())
    assert kernel_deadline - last_listed <= EARLY, (iso(kernel_deadline), iso(last_listed))
    assert status["server"]["deadline"] is not None, status
    assert wall(status["server"]["deadline"]) == server_deadline, status

    last_running, exited = watch_exit(server, limit=server_deadline + LATE + 5)
    print(
        f"\nbusy kernel: idle {idle_at - started:.3f} s after it went busy; deadline idle+3 s;"
        f" still listed at deadline{last_listed - kernel_deadline:+.3f} s, gone by deadline"
        f"{culled - kernel_deadline:+.3f} s"
        f"\nserver: deadline idle{server_deadline - idle_at:+.3f} s; still running at deadline"
        f"{last_running - server_deadline:+.3f} s, exited by deadline"
        f"{exited - server_deadline:+.3f} s (exit code {server.proc.returncode})"
    )
    log = server.log()
    assert server.proc.returncode == 0, log
    assert exited - server_deadline <= LATE, log
    assert server_deadline - last_running <= EARLY, log
    assert re.search(rf"Culling idle kernel {kid}\b", log), log
    assert re.search(r"Stopping server: idle for \S+ >= timeout", log), log


# --- 4. invalid configuration stops startup -----------------------------------------------


@pytest.mark.parametrize(
    "args, env, expected",
    [
        (["--CullExt.warn_before=-1"], {}, ["warn_before", "-1"]),
        (["--CullExt.kernel_idle_timeout=abc"], {}, ["kernel_idle_timeout", "abc"]),
        (["--MappingKernelManager.cull_idle_timeout=-5"], {}, ["cull_idle_timeout", "-5"]),
        (["--ServerApp.shutdown_no_activity_timeout=-1"], {},
         ["shutdown_no_activity_timeout", "-1"]),
        ([], {"JUPYTER_CULL_MAX_AGE": "7d"}, ["JUPYTER_CULL_MAX_AGE", "7d"]),
        (["--CullExt.server_started=yesterday"], {}, ["server_started", "yesterday"]),
        (["--CullExt.counted_requests=[\"PUT api/.*\"]"], {}, ["counted_requests"]),
        (["--CullExt.max_age=99999999999"], {}, ["max_age", "99999999999"]),
        ([], {"JUPYTERHUB_ACTIVITY_INTERVAL": "soon"}, ["JUPYTERHUB_ACTIVITY_INTERVAL", "soon"]),
    ],
    ids=[
        "warn_before-negative",
        "kernel_idle_timeout-not-a-number",
        "cull_idle_timeout-negative",
        "shutdown_no_activity_timeout-negative",
        "env-max-age-7d",
        "server_started-not-a-time",
        "counted_requests-list-in-one-string",
        "max_age-beyond-ten-years",
        "env-activity-interval-soon",
    ],
)
def test_invalid_config_stops_startup(
    launch: Callable, args: list[str], env: dict[str, str], expected: list[str]
) -> None:
    server = launch(*args, env=env, ready=False)
    rc = server.wait_exit(timeout=30)
    log = server.log()
    assert rc is not None, f"server still running 30 s after start with {args} {env}:\n{log}"
    assert rc != 0, log
    # The message itself, without the log line's timestamp (which is full of digits).
    errors = [
        line.split("invalid configuration:", 1)[1]
        for line in log.splitlines()
        if "invalid configuration:" in line
    ]
    assert errors, log
    for word in expected:
        token = re.compile(rf"(?<![\w-]){re.escape(word)}(?!\w)")
        assert all(token.search(message) for message in errors), f"{word!r} not named:\n{log}"
    assert "is running at" not in log, log


def test_messages_name_the_section_the_operator_set(launch: Callable) -> None:
    server = launch("--MappingKernelManager.cull_idle_timeout=-5", ready=False)
    assert server.wait_exit(timeout=30) not in (None, 0), server.log()
    errors = [line for line in server.log().splitlines() if "invalid configuration" in line]
    assert errors, server.log()
    for line in errors:
        assert re.search(r"(?<![A-Za-z])MappingKernelManager\.cull_idle_timeout=-5", line), line
        assert "AsyncMappingKernelManager" not in line, line


# --- 5. one short standard knob, everything else default ---------------------------------


def test_short_standard_timeout_alone_adjusts_defaults_and_says_so(launch: Callable) -> None:
    server = launch("--ServerApp.shutdown_no_activity_timeout=15")
    status = server.status()
    s = status["server"]
    assert s["idle_timeout"] == 15, status
    assert 0 < s["warn_before"] < 15, status
    assert wall(s["deadline"]) - wall(s["warn_at"]) == pytest.approx(s["warn_before"]), status
    assert 0 < status["settings"]["kernel_timeout"] <= 15, status
    assert 0 < status["settings"]["terminal_timeout"] <= 15, status
    assert server.running()

    lines = [line for line in server.log().splitlines() if "jupyter_cull_ext:" in line]

    def one(*words: str) -> None:
        found = [line for line in lines if all(w in line for w in words)]
        assert len(found) == 1, f"expected one line with {words}, got {found}:\n" + "\n".join(
            lines)

    one("kernel idle timeout", "(3600 s)", "using 15 s")
    one("terminal idle timeout", "(3600 s)", "using 15 s")
    one("kernel cull interval", "checking every 15 s")
    one("terminal cull interval", "checking every 15 s")
    one("warning", "(600 s)", f"warning {s['warn_before']} s before")


# --- 6. precedence with an operator config file --------------------------------------------


def test_config_file_precedence(tmp_path: Path, launch: Callable) -> None:
    config_dir = tmp_path / "operator"
    config_dir.mkdir()
    config = config_dir / "jupyter_server_config.py"
    config.write_text(
        "c.MappingKernelManager.cull_idle_timeout = 900\n"
        "c.CullExt.kernel_idle_timeout = 600\n"
        "c.CullExt.server_idle_timeout = 7200\n"
    )
    server = launch(f"--config={config}")
    status = server.status()
    assert status["settings"]["kernel_timeout"] == 900, status
    assert status["server"]["idle_timeout"] == 7200, status
    assert wall(status["server"]["deadline"]) == pytest.approx(
        wall(status["server"]["last_activity"]) + 7200, abs=0.002
    ), status

    kid = server.start_kernel()
    k = kernel_entry(server.status(), kid)
    assert k is not None and k["timeout"] == 900, k
    assert wall(k["deadline"]) == pytest.approx(wall(k["last_activity"]) + 900, abs=0.002), k

    both = [
        line for line in server.log().splitlines()
        if "CullExt.kernel_idle_timeout=600" in line and "cull_idle_timeout=900" in line
    ]
    assert len(both) == 1, server.log()
    assert "wins" in both[0], both
