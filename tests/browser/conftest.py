"""Browser tests: a real ``jupyter lab`` subprocess and Debian's Chromium driven by Playwright.

Chromium is the system one (``/usr/bin/chromium``); Playwright's own browser downloads are
never used. Screenshots go to ``$JUPYTER_CULL_SCREENSHOTS`` when set (``docs/images`` to
refresh the README's pictures), else to a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hubharness import free_port, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
BUILT = REPO / "jupyter_cull_ext" / "labextension" / "package.json"

# Missing parts fail loudly: a skipped browser suite must never pass for a tested widget.
from playwright import sync_api  # noqa: E402  (pip install -e '.[test]')

if not os.access(CHROMIUM, os.X_OK):
    raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium "
                       "(bash scripts/install.sh does it)")


#: A notebook with one empty code cell, for the tests that edit one.
NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
               "outputs": [], "source": []}],
    "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def ts(iso: str | None) -> float | None:
    """An ISO 8601 time of the status document (``…Z``) as a POSIX timestamp."""
    return None if iso is None else datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def remaining_shown(text: str) -> float | None:
    """Seconds left in the item's text (``Idle stop in 0:39``, ``… in 1:02:03``)."""
    m = re.search(r"in (?:(\d+):)?(\d+):(\d\d)$", text)
    if not m:
        return None
    h, mnt, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mnt * 60 + s


#: Window sizes at which warnings must be fully visible (a small laptop; a zoomed-in one).
WINDOW_SIZES = [(1280, 800), (1024, 700)]


def within(box: dict | None, left: float, top: float, right: float, bottom: float) -> bool:
    """Whether a bounding box lies inside the given edges."""
    return (box is not None and box["x"] >= left and box["y"] >= top
            and box["x"] + box["width"] <= right and box["y"] + box["height"] <= bottom)


def assert_fully_visible(page: Any, toast: Any) -> None:
    """At each of ``WINDOW_SIZES`` the toast lies inside the window, and every button of it
    (its actions and its close button) inside the toast, which clips what sticks out.
    The page gets its own size back afterwards."""
    own = page.viewport_size
    for width, height in WINDOW_SIZES:
        page.set_viewport_size({"width": width, "height": height})

        def inside() -> bool:  # once the toast has finished sliding in
            box = toast.bounding_box()
            if not within(box, 0, 0, width, height):
                return False
            right, bottom = box["x"] + box["width"], box["y"] + box["height"]
            return all(within(b.bounding_box(), box["x"], box["y"], right, bottom)
                       for b in toast.locator("button").all())

        wait_until(inside, 5, what=f"the toast fully visible at {width}x{height}")
    assert toast.locator("button").count() >= 2, toast.inner_text()  # an action, close
    page.set_viewport_size(own)


def countdown_agrees(text: Callable[[], str], status: Callable[[], dict],
                     timeout: float = 3) -> dict:
    """Wait until the item's countdown (``text()``) agrees with the server's deadline in the
    status document (``status()``) within 2 s; return that document. Bounded by ``timeout``:
    a reading may take a moment to agree, since the page's first presence report, as it
    loads, moves the deadline, and the item shows the new one when the answer arrives."""

    def agrees() -> dict | None:
        left = remaining_shown(text())
        doc = status()
        shown = None if left is None else time.time() + left
        if shown is not None and abs(shown - ts(doc["server"]["deadline"])) <= 2:
            return doc
        return None

    return wait_until(agrees, timeout, interval=0.1,
                      what=f"the countdown ({text()!r}) agreeing with the status document")


#: What the extension's connection-lost handler says (once) in the browser console when it
#: keeps JupyterLab's dialog away because the server stopped at the deadline shown.
QUIET_NOTE = "jupyter-cull-ext: the server stopped at the deadline shown"


class Console:
    """The page's console messages, with the time each was seen."""

    def __init__(self, page: Any):
        self.seen: list[tuple[float, str]] = []
        page.on("console", lambda m: self.seen.append((time.time(), m.text)))

    def first(self, needle: str) -> float | None:
        return next((t for t, text in self.seen if needle in text), None)


def quiet_after_stop(page: Any, console: Console, timeout: float = 45,
                     grace: float = 3) -> float:
    """JupyterLab loses the stopped server (its connection-lost handler runs), and no dialog
    opens over the page, then or in the next ``grace`` seconds: the stop was announced, and
    the status item and the stopped notice say why. Returns when the handler first ran."""
    deadline = time.monotonic() + timeout
    while (noticed := console.first(QUIET_NOTE)) is None or time.time() < noticed + grace:
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        assert not dialogs, f"a dialog covers the stopped page: {dialogs}"
        assert time.monotonic() < deadline, "JupyterLab's connection-lost handler never ran"
        time.sleep(0.2)
    return noticed


def lab_settings(home: Path, theme: str) -> None:
    """User settings of the test's JupyterLab: the theme, and no news or update toasts."""
    base = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    base.mkdir(parents=True, exist_ok=True)
    (base / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))
    (base / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )


class LabServer:
    """A ``jupyter lab`` subprocess on 127.0.0.1 with the extension and short timeouts
    (``app="notebook"``: a ``jupyter notebook`` (Notebook 7) one instead)."""

    def __init__(self, tmp: Path, args: list[str], theme: str = "JupyterLab Light",
                 app: str = "jupyterlab"):
        self.root = tmp / "root"
        self.home = tmp / "home"
        self.root.mkdir(parents=True)
        self.home.mkdir(parents=True)
        lab_settings(self.home, theme)
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "server.log"
        self.exited_at: float | None = None
        env = dict(os.environ, HOME=str(self.home))
        env.pop("JUPYTERHUB_API_TOKEN", None)
        env.pop("JUPYTERHUB_ACTIVITY_URL", None)
        cmd = [
            sys.executable, "-m", app, "--no-browser",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            "--ServerApp.allow_root=True",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            *args,
        ]
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def lab_url(self) -> str:
        return f"{self.base}/lab?token={self.token}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path}?token={self.token}"

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base}/{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", **(headers or {})},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def status(self) -> dict:
        return self.request("GET", "api/cull/status")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited early:\n{self.log_tail()}")
            try:
                self.status()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        raise AssertionError(f"jupyter lab did not answer in {timeout} s:\n{self.log_tail()}")

    def poll_exit(self) -> bool:
        """Whether the process has exited (noting when it was first seen gone)."""
        if self.proc.poll() is not None:
            if self.exited_at is None:
                self.exited_at = time.time()
            return True
        return False

    def log_tail(self, n: int = 60) -> str:
        if not self._log.closed:
            self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def jp_asyncio_loop() -> Iterator[None]:
    """pytest-jupyter's autouse event loop is not wanted here: these tests run no server
    in-process, and Playwright's sync API runs its own loop, which that fixture would try
    to close."""
    yield None


@pytest.fixture
def jp_server_cleanup() -> Iterator[None]:
    """No in-process server to clean up (pytest-jupyter's autouse fixture needs the loop)."""
    yield


@pytest.fixture(scope="session")
def labextension_built() -> None:
    assert BUILT.exists(), (
        f"{BUILT} is missing: build the frontend first (bash scripts/install.sh, or "
        "npm ci && npm run build)"
    )


@pytest.fixture(scope="module")
def browser(labextension_built: None) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def lab_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    servers: list[LabServer] = []

    def start(args: list[str], theme: str = "JupyterLab Light",
              app: str = "jupyterlab") -> LabServer:
        server = LabServer(tmp_path / f"lab{len(servers)}", args, theme, app)
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    failed = getattr(request.node, "rep_call", None)
    for server in servers:
        server.stop()
        if failed is not None and failed.failed:
            print(f"--- {server.log_path} ---\n{server.log_tail(200)}")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("JUPYTER_CULL_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def optimize_png() -> Any:
    """Shrink a PNG losslessly when optipng is around (screenshots are committed)."""
    tool = shutil.which("optipng")

    def run(path: Path) -> None:
        if tool:
            subprocess.run([tool, "-quiet", "-o2", str(path)], check=False)

    return run
