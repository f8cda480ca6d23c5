"""A real JupyterHub for tests: configurable-http-proxy run separately (as in the seeds' "run
the proxy separately" note, so the hub can be stopped and started while user servers and
routes stay up), a sqlite database and user homes under a temporary folder, and user servers
that are real ``jupyterhub-singleuser`` processes with this package installed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import websocket

BIN = Path(sys.executable).parent


def process_gone(pid: int) -> bool:
    """Whether a process has ended (an exited child its parent has not reaped yet counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def execute_request(code: str, msg_id: str = "", allow_stdin: bool = False,
                    store_history: bool = True) -> str:
    """An ``execute_request`` for a kernel's websocket (the legacy JSON protocol), as sent."""
    return json.dumps({
        "header": {"msg_id": msg_id or uuid.uuid4().hex, "msg_type": "execute_request",
                   "username": "", "session": uuid.uuid4().hex, "version": "5.3",
                   "date": datetime.now(timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": store_history,
                    "user_expressions": {}, "allow_stdin": allow_stdin,
                    "stop_on_error": True},
    })


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Bounded poll: the predicate's truthy value, or AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)


def http(method: str, url: str, token: str | None = None, body: Any = None,
         timeout: float = 10) -> tuple[int, Any]:
    """A JSON request; returns (status, decoded body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"token {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


class Hub:
    """Start/stop a hub; talk to its REST API with an admin service token."""

    def __init__(self, root: Path, config: str = "", spawner_env: dict | None = None):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.extra_config = config
        self.spawner_env = spawner_env or {}
        self.proxy_port, self.proxy_api_port, self.hub_port = (
            free_port(), free_port(), free_port())
        self.proxy_token = secrets.token_hex(16)
        self.admin_token = secrets.token_hex(16)
        self.marker = f"cull-ext-test-{secrets.token_hex(6)}"
        self.log_path = root / "hub.log"
        self.proxy: subprocess.Popen | None = None
        self.hub: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def write_config(self) -> Path:
        env = {**self.spawner_env, "CULL_EXT_TEST_MARKER": self.marker}
        path = self.root / "jupyterhub_config.py"
        path.write_text(f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.proxy_port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
c.ConfigurableHTTPProxy.auth_token = {self.proxy_token!r}
c.JupyterHub.db_url = "sqlite:///{self.root}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{self.root}/cookie_secret"
c.JupyterHub.pid_file = "{self.root}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = False
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{self.root}/home/{{username}}"
c.Spawner.cmd = [{str(BIN / "jupyterhub-singleuser")!r}]
c.Spawner.args = ["--allow-root", "--ServerApp.ip=127.0.0.1"]
c.Spawner.start_timeout = 60
# POST .../server answers 202 at once (start_server polls): by default the hub holds it for up
# to 10 s, as long as the client's own timeout, and a slow spawn then fails the request.
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}
c.Spawner.http_timeout = 60
c.Spawner.environment = {env!r}
# Proxy traffic must not stand in for activity reports in these tests.
c.JupyterHub.last_activity_interval = 3600
c.JupyterHub.services = [{{"name": "test-admin", "api_token": {self.admin_token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "test-admin",
    "scopes": ["admin:users", "admin:servers", "access:servers", "list:users",
               "read:users", "admin:groups", "tokens"],
    "services": ["test-admin"],
}}]
{self.extra_config}
""")
        return path

    def start(self) -> None:
        if self.proxy is None:
            chp = shutil.which("configurable-http-proxy")
            assert chp, "configurable-http-proxy not on PATH (scripts/install.sh installs it)"
            self.proxy = subprocess.Popen(
                [chp, "--ip", "127.0.0.1", "--port", str(self.proxy_port),
                 "--api-ip", "127.0.0.1", "--api-port", str(self.proxy_api_port),
                 "--default-target", f"http://127.0.0.1:{self.hub_port}",
                 "--error-target", f"http://127.0.0.1:{self.hub_port}/hub/error"],
                env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": self.proxy_token},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        config = self.write_config()
        log = open(self.log_path, "a")
        self.hub = subprocess.Popen(
            [str(BIN / "jupyterhub"), "-f", str(config)], cwd=self.root,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"})
        log.close()
        wait_until(self._healthy, timeout=60, what="hub healthy")

    def _healthy(self) -> bool:
        if self.hub is not None and self.hub.poll() is not None:
            raise AssertionError(f"hub exited: {self.log()[-3000:]}")
        try:
            code, _ = http("GET", f"http://127.0.0.1:{self.hub_port}/hub/health", timeout=2)
        except OSError:
            return False
        return code == 200

    def stop(self) -> None:
        """Stop the hub only (proxy and user servers keep running)."""
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.hub.kill()
        self.hub = None

    def close(self) -> None:
        """Stop everything, user servers included (found by their environment marker)."""
        self.stop()
        if self.proxy is not None:
            os.killpg(self.proxy.pid, signal.SIGKILL)
            self.proxy.wait()
        for pid in self.server_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def server_pids(self) -> list[int]:
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if self.marker.encode() in (proc / "environ").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
        return pids

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(self, method: str, path: str, body: Any = None, token: str | None = None,
            timeout: float = 10):
        return http(method, f"{self.url}/hub/api/{path.lstrip('/')}",
                    token or self.admin_token, body, timeout=timeout)

    def user(self, name: str) -> dict:
        code, model = self.api("GET", f"users/{name}")
        assert code == 200, (code, model)
        return model

    def start_server(self, name: str, timeout: float = 60) -> dict:
        code, _ = self.api("POST", f"users/{name}", {})
        assert code in (201, 409), code
        # The hub answers 202 after its slow_spawn_timeout (10 s): on a loaded machine the
        # answer can come a moment later than that, so the request may take longer.
        code, body = self.api("POST", f"users/{name}/server", {}, timeout=30)
        assert code in (201, 202), (code, body)

        def ready():
            server = self.user(name)["servers"].get("")
            return server if server and server["ready"] else None

        return wait_until(ready, timeout=timeout, what=f"{name}'s server ready")

    def server_api(self, method: str, name: str, path: str, body: Any = None):
        """A request to a user's server through the proxy."""
        return http(method, f"{self.url}/user/{name}/{path.lstrip('/')}", self.admin_token,
                    body)

    def execute_and_leave(self, name: str, kid: str, code: str) -> None:
        """Send an execute_request over the kernel websocket through the proxy, wait until
        the kernel has started it, then hang up: no client stays connected."""
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{self.proxy_port}/user/{name}/api/kernels/{kid}/channels",
            header=[f"Authorization: token {self.admin_token}"], timeout=30)
        ws.send(execute_request(code))
        wait_until(lambda: json.loads(ws.recv()).get("msg_type") == "execute_input",
                   timeout=30, interval=0)
        ws.close()
