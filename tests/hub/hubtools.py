"""Helpers for the hub companion's tests: a real JupyterHub (``tests/hubharness.py``) set up
through ``jupyter_cull_ext.hub.configure``, the companion run as a command, and bounded polls
of server state as the hub's REST API shows it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from hubharness import Hub, wait_until

from jupyter_cull_ext.timeutil import parse  # noqa: F401 (the tests' one way to read times)

HERE = Path(__file__).resolve().parent


def service_token() -> str:
    return secrets.token_hex(32)


def hub_config(configure_call: str, token: str, extra: str = "") -> str:
    """jupyterhub_config.py lines: the companion set up by one ``configure`` call."""
    return f"""
c.JupyterHub.trust_user_provided_tokens = True
from jupyter_cull_ext.hub import configure
{configure_call.replace("TOKEN", repr(token))}
{extra}
"""


def fake_spawner_config(port: int, env_dir: Path | None = None,
                        pages_dir: Path | None = None) -> str:
    """jupyterhub_config.py lines: servers are ``fakehub.FakeSpawner`` (no process); with
    ``pages_dir``, later pages of the user list can be slowed down
    (``fakehub.delay_later_pages``)."""
    return f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from fakehub import FakeSpawner, FlakyAuthenticator, delay_later_pages, serve_ok
serve_ok({port})
if {str(pages_dir or "")!r}:
    delay_later_pages({str(pages_dir or "")!r})
c.JupyterHub.authenticator_class = FlakyAuthenticator
c.JupyterHub.spawner_class = FakeSpawner
c.FakeSpawner.url = "http://127.0.0.1:{port}"
c.FakeSpawner.env_dir = {str(env_dir or "")!r}
c.JupyterHub.allow_named_servers = True
c.JupyterHub.concurrent_spawn_limit = 0
"""


def api_url(hub: Hub) -> str:
    return f"http://127.0.0.1:{hub.hub_port}/hub/api"


def command(hub: Hub, *args: str, url: str | None = None) -> list[str]:
    return [sys.executable, "-m", "jupyter_cull_ext.hub", f"--url={url or api_url(hub)}",
            *args]


def run_once(hub: Hub, token: str, *args: str, url: str | None = None,
             timeout: float = 60) -> tuple[int, str]:
    """``jupyter-cull-hub --once`` with ``token``: (exit status, log)."""
    result = subprocess.run(command(hub, "--once", *args, url=url), capture_output=True,
                            text=True,
                            timeout=timeout, env={**os.environ, "JUPYTERHUB_API_TOKEN": token})
    return result.returncode, result.stdout + result.stderr


class Companion:
    """The companion as a long-running command, its log in a file."""

    def __init__(self, hub: Hub, token: str, *args: str):
        self.log_path = hub.root / f"companion-{secrets.token_hex(4)}.log"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                command(hub, "--log-level=DEBUG", *args), stdout=log,
                stderr=subprocess.STDOUT, env={**os.environ, "JUPYTERHUB_API_TOKEN": token})

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log().splitlines() if text in line]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)

    def __enter__(self) -> Companion:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def servers(hub: Hub, name: str) -> dict:
    """A user's servers as the hub shows them ({} if the user is gone)."""
    code, model = hub.api("GET", f"users/{name}")
    return model.get("servers", {}) if code == 200 else {}


def request_spawn(hub: Hub, name: str, server: str = "") -> None:
    """Ask for a server (returns while it may still be pending)."""
    code, _ = hub.api("POST", f"users/{name}", {})
    assert code in (201, 409), code
    path = f"users/{name}/servers/{server}" if server else f"users/{name}/server"
    code, body = hub.api("POST", path, {})
    assert code in (201, 202), (code, body)


def wait_ready(hub: Hub, name: str, server: str = "", timeout: float = 60) -> dict:
    def ready():
        model = servers(hub, name).get(server)
        return model if model and model["ready"] else None

    return wait_until(ready, timeout, what=f"{name}/{server} ready")


def stop_all(hub: Hub) -> None:
    """Stop every ready server (what earlier tests left running would shift the listing)."""
    code, users = hub.api("GET", "users?state=ready")
    assert code == 200, users
    for user in users:
        for server in user["servers"]:
            path = f"users/{user['name']}/servers/{server}" if server else \
                f"users/{user['name']}/server"
            hub.api("DELETE", path)
    wait_until(lambda: hub.api("GET", "users?state=ready")[1] == [], 30,
               what="no ready servers")


def watch_stops(hub: Hub, labels: list[str], timeout: float = 60,
                interval: float = 0.1) -> dict[str, tuple[float, float]]:
    """Poll servers (``user`` or ``user/server``) until none of them is ready and running
    any more (stopping or gone). For each: (start of the last poll that saw it running, end
    of the first poll that did not), in ``time.time()``: the stop happened in between."""
    running = {label: 0.0 for label in labels}
    stopped: dict[str, tuple[float, float]] = {}
    deadline = time.monotonic() + timeout
    while len(stopped) < len(labels):
        if time.monotonic() > deadline:
            raise AssertionError(f"still running after {timeout} s: {set(running) - set(stopped)}")
        for user in {label.partition("/")[0] for label in labels}:
            start = time.time()
            models = servers(hub, user)
            end = time.time()
            for label in labels:
                name, _, server = label.partition("/")
                if name != user or label in stopped:
                    continue
                model = models.get(server)
                if model is None or not model["ready"] or model["pending"]:
                    stopped[label] = (running[label], end)
                else:
                    running[label] = start
        time.sleep(interval)
    return stopped


def assert_on_time(times: tuple[float, float], deadline: datetime, label: str = "") -> None:
    """Stopped within 2 s after ``deadline`` and not before it (half a second more for the
    poll that saw it, on a busy machine)."""
    seen_running, seen_stopped = (t - deadline.timestamp() for t in times)
    assert seen_running >= -1, f"{label}: last seen running {-seen_running:.1f} s before"
    assert seen_stopped <= 2.5, f"{label}: still running {seen_stopped:.1f} s after"


def env_of(env_dir: Path, label: str) -> dict:
    return json.loads((env_dir / f"{label}.json").read_text())


def busy_kernel(hub: Hub, name: str, code: str = "import time; time.sleep(600)"):
    """Start a kernel on ``name``'s server (through the proxy) and run ``code`` in it.
    Returns the open kernel websocket once the kernel says it is busy."""
    import websocket
    from jupyter_client.jsonutil import json_default
    from jupyter_client.session import Session

    status, kernel = hub.server_api("POST", name, "api/kernels", {"name": "python3"})
    assert status == 201, (status, kernel)
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{hub.proxy_port}/user/{name}/api/kernels/{kernel['id']}/channels",
        header=[f"Authorization: token {hub.admin_token}"], timeout=30)
    request = Session().msg("execute_request", {
        "code": code, "silent": False, "store_history": False, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": True})
    ws.send(json.dumps({**request, "channel": "shell"}, default=json_default))

    def busy() -> bool:
        reply = json.loads(ws.recv())
        return (reply.get("msg_type") == "status"
                and reply["parent_header"].get("msg_id") == request["header"]["msg_id"]
                and reply["content"]["execution_state"] == "busy")

    wait_until(busy, timeout=30, interval=0, what=f"{name}'s kernel busy")
    return ws
