"""A JupyterHub spawner that starts no process, for the companion's tests and benchmark
(and an authenticator that makes one user's first stop fail).

The hub is real (REST API, database, configurable-http-proxy routes, stop/202/404 logic);
only the single-user server is missing: ``start`` returns the URL of a tiny HTTP server run in
a thread of the hub process (the hub waits for *some* HTTP answer before calling a server
ready), ``poll`` says "running" until ``stop``. Its state survives a hub restart.

Behaviour by user name prefix, so one hub can hold every case:

- ``pending-*`` (user or server name): ``start`` takes ``FakeSpawner.start_delay`` seconds
  (a server still spawning);
- ``slowstop-*``: ``stop`` takes ``FakeSpawner.stop_delay`` seconds (the hub answers 202);
- ``broken-*``: with ``FlakyAuthenticator``, the first stop request fails (the hub answers
  500; a failing ``Spawner.stop`` would not do: the hub logs it and calls the server stopped).

``delay_later_pages(folder)`` makes the hub slow to answer later pages of the user list, so
that a test can stop or restart servers while a sweep pages.

With ``FakeSpawner.env_dir`` set, each start writes the environment the server would get to
``<env_dir>/<user>[-<server>].json``.

Use it from ``jupyterhub_config.py``::

    sys.path.insert(0, "<this folder>")
    from fakehub import FakeSpawner, serve_ok
    serve_ok(port)
    c.JupyterHub.spawner_class = FakeSpawner
    c.FakeSpawner.url = f"http://127.0.0.1:{port}"
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from jupyterhub import __version__
from jupyterhub.auth import DummyAuthenticator
from jupyterhub.spawner import Spawner
from traitlets import Float, Unicode


class _OK(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("X-JupyterHub-Version", __version__)  # else the hub warns
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def serve_ok(port: int) -> ThreadingHTTPServer:
    """Answer 200 to every GET on 127.0.0.1:port, from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _OK)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def delay_later_pages(folder: str) -> None:
    """While ``<folder>/slow-pages`` exists (holding seconds), the hub waits that long before
    it reads a later page of the user list (offset > 0), after writing a line to
    ``<folder>/pages-delayed``: servers that stop meanwhile shift that page, as they do when
    users come and go during a sweep of a large hub."""
    from jupyterhub.apihandlers.users import UserListAPIHandler

    prepare = UserListAPIHandler.prepare

    async def slow_prepare(self) -> None:
        result = prepare(self)
        if inspect.isawaitable(result):
            await result
        flag = Path(folder, "slow-pages")
        if (self._finished or self.request.method != "GET" or not flag.exists()
                or self.get_argument("offset", "0") == "0"):
            return
        with open(Path(folder, "pages-delayed"), "a") as marks:
            marks.write(f"{self.request.uri}\n")
        await asyncio.sleep(float(flag.read_text()))

    UserListAPIHandler.prepare = slow_prepare


class FakeSpawner(Spawner):
    url = Unicode("http://127.0.0.1:8888", help="Where the fake servers 'listen'.").tag(
        config=True)
    start_delay = Float(8, help="Seconds a pending-* user's start takes.").tag(config=True)
    stop_delay = Float(3, help="Seconds a slowstop-* user's stop takes.").tag(config=True)
    stop_seconds = Float(0, help="Seconds every other stop takes (a real spawner's stop "
                         "waits for a process, container or pod).").tag(config=True)
    env_dir = Unicode("", help="Write each server's environment here.").tag(config=True)

    running = False

    async def start(self) -> str:
        if self.user.name.startswith("pending-") or self.name.startswith("pending-"):
            await asyncio.sleep(self.start_delay)
        if self.env_dir:
            name = self.user.name + (f"-{self.name}" if self.name else "")
            Path(self.env_dir, f"{name}.json").write_text(json.dumps(self.get_env()))
        self.running = True
        return self.url

    async def poll(self) -> int | None:
        return None if self.running else 0

    async def stop(self, now: bool = False) -> None:
        slow = self.user.name.startswith("slowstop-")
        await asyncio.sleep(self.stop_delay if slow else self.stop_seconds)
        self.running = False

    def get_state(self) -> dict:
        return {**super().get_state(), "running": self.running}

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.running = bool(state.get("running"))

    def clear_state(self) -> None:
        super().clear_state()
        self.running = False


class FlakyAuthenticator(DummyAuthenticator):
    """Refreshes auth before each stop, and fails the first time for ``broken-*`` users."""

    refresh_pre_stop = True
    failed: set[str] = set()

    async def refresh_user(self, user, handler=None, **kwargs):
        if user.name.startswith("broken-") and user.name not in self.failed:
            self.failed.add(user.name)
            raise RuntimeError(f"cannot refresh {user.name}")
        return True
