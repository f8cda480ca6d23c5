"""End to end through the demo's JupyterHub, as a user would, in headless Chromium.

The hub is ``demo/jupyterhub_config.py`` unchanged (DummyAuthenticator with password
``demo``, SimpleLocalProcessSpawner with homes under ``$DEMO_DIR/home``, real
``jupyterhub-singleuser`` servers with our extension, the companion set up by
``configure(c, ...)``, its configurable-http-proxy started by the hub), with test-sized
timeouts through its ``DEMO_*`` environment overrides and free ports. The hub's REST API is
used with a token that the ``admin`` user gets from the hub by logging in with its password.

1. The user logs in on the hub's login page and lands in JupyterLab; the status-bar
   countdown agrees with the server's ``api/cull/status`` (within 2 s).
2. They open a notebook from the file browser, type in it without saving, and leave the tab
   visible and untouched. The edit is saved into their home before the stop (a save marked
   as the widget's, which does not postpone it); the server process exits within 2 s of
   what the countdown last showed; the server log in their home says why (idle, with the
   last activity). The server asked the hub to stop it, so the hub's API shows it stopped
   within 2 s of the deadline too (not at the spawner's next poll, 30 s later). The item
   then says the server stopped and links to the hub's home page, with no "server
   unreachable" dialog over the page once JupyterLab notices; there the user can start it
   again at once.
3. An admin puts the user in the ``short`` group; the user starts the server again from the
   hub home page and runs ``time.sleep(600)`` in the notebook. The busy kernel keeps the
   idle stop away, but the status document shows the max-age deadline (the hub's
   ``started`` + the group's max age) from the start, and the server stops itself at it
   (the process exits within 2 s) through the hub, which shows it stopped within 2 s too (the
   companion, which waits ``SERVER_GRACE`` for servers that know their max age, has nothing
   left to stop); the log says max age.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hubharness import BIN, free_port, http, process_gone, wait_until

from .conftest import (
    NOTEBOOK,
    REPO,
    Console,
    countdown_agrees,
    lab_settings,
    quiet_after_stop,
    remaining_shown,
    ts,
)

USER = "alice"
PASSWORD = "demo"
KERNEL_IDLE = 20
IDLE = 40
WARN = 10
MAX_AGE = 600  # everybody's; longer than the whole test
SHORT_MAX_AGE = 50  # the "short" group's: the server is up again, a kernel busy, before it
ITEM = ".jp-CullExt-item"
AUTOSAVE_HEADER = "x-jupyter-cull-autosave"
MARKER = "marker-e2e-5150"
pytestmark = pytest.mark.timeout(300)


class DemoHub:
    """``jupyterhub -f demo/jupyterhub_config.py`` in a temporary ``DEMO_DIR``."""

    def __init__(self, demo_dir: Path):
        self.dir = demo_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.dir / "hub.log"
        self.token: str | None = None
        self.proc: subprocess.Popen | None = None

    def home(self, user: str) -> Path:
        return self.dir / "home" / user

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "DEMO_"))}
        env.update(
            PATH=f"{BIN}:{env.get('PATH', '')}", PORT=str(self.port), DEMO_DIR=str(self.dir),
            DEMO_KERNEL_IDLE=str(KERNEL_IDLE), DEMO_SERVER_IDLE=str(IDLE),
            DEMO_WARN_BEFORE=str(WARN), DEMO_MAX_AGE=str(MAX_AGE),
            DEMO_SHORT_MAX_AGE=str(SHORT_MAX_AGE),
        )
        with open(self.log_path, "w") as log:
            # The demo's own default ports for the hub (8081) and the proxy's API (8001)
            # would clash with a demo or another test running on this machine.
            self.proc = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(REPO / "demo" / "jupyterhub_config.py"),
                 f"--JupyterHub.hub_port={self.hub_port}",
                 f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.proxy_api_port}"],
                cwd=self.dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=default_sigint)
        wait_until(self._healthy, 90, interval=0.5, what="the demo hub answering")
        # The admin's token, from the hub's API with the admin's password.
        code, body = http("POST", f"{self.url}/hub/api/users/admin/tokens", body={
            "auth": {"username": "admin", "password": PASSWORD},
            "note": "end-to-end test", "expires_in": 3600})
        assert code in (200, 201), (code, body)
        self.token = body["token"]

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the hub exited ({self.proc.returncode}):\n"
                                 f"{self.log_tail(80)}")
        try:
            code, _ = http("GET", f"{self.url}/hub/health", timeout=2)
        except OSError:
            return False
        return code == 200

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return http(method, f"{self.url}/hub/api/{path}", self.token, body)

    def server(self, user: str) -> dict | None:
        """The user's default server as the hub's REST API shows it (None: not running)."""
        code, model = self.api("GET", f"users/{user}")
        assert code == 200, (code, model)
        return model["servers"].get("")

    def cull_status(self, user: str) -> dict:
        """The server's ``api/cull/status``, through the proxy (not activity)."""
        code, doc = http("GET", f"{self.url}/user/{user}/api/cull/status", self.token)
        assert code == 200, (code, doc)
        return doc

    def log_tail(self, n: int) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def ours(self) -> list[int]:
        """Processes of this demo (hub, proxy, companion, user servers, kernels): their
        environment, command line or working directory names the demo directory."""
        mark, pids = str(self.dir).encode(), []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if (mark in (proc / "environ").read_bytes()
                        or mark in (proc / "cmdline").read_bytes()
                        or str(self.dir) in os.readlink(proc / "cwd")):
                    pids.append(int(proc.name))
            except OSError:
                continue
        return pids

    def close(self) -> None:
        """Stop the hub (it stops the servers, the companion and the proxy), then kill
        whatever of this demo is still there."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.ours():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def demo_hub(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    hub = DemoHub(tmp_path / "demo")
    try:
        hub.start()
        yield hub
    finally:
        hub.close()
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed:
            print(f"--- hub log (tail): {hub.log_path} ---\n{hub.log_tail(250)}")
            server_log = hub.home(USER) / ".jupyter-server-log.txt"
            if server_log.exists():
                print(f"--- {server_log} ---\n{server_log.read_text(errors='replace')}")


def default_sigint() -> None:
    """In the hub's process: SIGINT's default action, even if this test runs with SIGINT
    ignored (as a background job of a non-interactive shell). The hub stops servers and the
    companion with SIGINT; inherited, an ignored SIGINT would make every stop wait 10 s for
    the SIGTERM that follows."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class HubLab:
    """A user's browser on the hub: their own cookies, and what they look at."""

    def __init__(self, browser: Any, hub: DemoHub):
        self.hub = hub
        self.context = browser.new_context(viewport={"width": 1280, "height": 720})
        self.page = self.context.new_page()
        self.requests: list[tuple[float, str, str, dict]] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(
            (time.time(), r.method, r.url, r.headers)))
        self.page.on("pageerror", lambda e: self.errors.append(f"{e}\n{e.stack}"))
        self.console = Console(self.page)

    def close(self) -> None:
        self.context.close()

    def login(self, user: str) -> None:
        """The hub's login page, then wherever the hub sends a fresh user: JupyterLab."""
        self.page.goto(f"{self.hub.url}/hub/")
        self.page.fill("#username_input", user)
        self.page.fill("#password_input", PASSWORD)
        self.page.click("#login_submit")
        self.wait_for_lab(user)

    def wait_for_lab(self, user: str) -> None:
        self.page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=120_000)
        self.page.wait_for_selector(f"{ITEM}:not(.jp-CullExt-loading)", timeout=90_000)

    def text(self) -> str:
        return self.page.inner_text(ITEM, timeout=5_000)

    def classes(self) -> str:
        return self.page.get_attribute(ITEM, "class", timeout=5_000) or ""

    def shown_stop(self) -> tuple[float, float] | None:
        """(when read, when the item says the server stops), or None without a countdown."""
        now = time.time()
        left = remaining_shown(self.text())
        return None if left is None else (now, now + left)

    def saves(self, path: str) -> list[tuple[float, str, str, dict]]:
        return [r for r in self.requests if r[1] == "PUT" and f"/api/contents/{path}" in r[2]]


def agrees_with_status(lab: HubLab, hub: DemoHub, label: str) -> dict:
    """The countdown matches the status document's deadline within 2 s, three times over a
    second and a half."""
    wait_until(lambda: lab.text().startswith(label), 15, what=f"a {label!r} countdown")
    for _ in range(3):
        server = countdown_agrees(lab.text, lambda: hub.cull_status(USER))["server"]
        time.sleep(0.5)
    return server


def watch_stop(lab: HubLab, hub: DemoHub, pid: int, timeout: float,
               saved: Path | None = None) -> dict:
    """Until the server process has exited and the hub no longer shows it ready: the item's
    readings (time, predicted stop), when the process was first seen gone, when the hub's API
    first showed the server not ready (stopping or gone), and when ``MARKER`` was first seen
    in ``saved``."""
    seen: dict[str, Any] = {"readings": [], "exit": None, "hub_stopped": None, "saved": None}

    def done() -> bool:
        if seen["exit"] is None and process_gone(pid):
            seen["exit"] = time.time()
        if seen["saved"] is None and saved is not None and MARKER in saved.read_text():
            seen["saved"] = time.time()
        if seen["hub_stopped"] is None:
            model = hub.server(USER)
            if model is None or not model["ready"] or model["pending"]:
                seen["hub_stopped"] = time.time()
        if seen["exit"] is None:
            try:
                shown = lab.shown_stop()
            except Exception:  # the page may be busy while the server goes away
                shown = None
            if shown is not None:
                seen["readings"].append(shown)
        return seen["exit"] is not None and seen["hub_stopped"] is not None

    wait_until(done, timeout, interval=0.1, what="the server stopped")
    return seen


def test_idle_stop_then_max_age_through_the_demo_hub(browser: Any, demo_hub: DemoHub) -> None:
    hub = demo_hub
    home = hub.home(USER)
    lab_settings(home, "JupyterLab Light")  # no news or update toasts
    notebook = home / "work.ipynb"
    notebook.write_text(json.dumps(NOTEBOOK))
    server_log = home / ".jupyter-server-log.txt"
    lab = HubLab(browser, hub)
    try:
        # --- 1. Log in, land in JupyterLab; the countdown is the server's. ----------------
        lab.login(USER)
        pid = hub.server(USER)["state"]["pid"]
        status = agrees_with_status(lab, hub, "Idle stop in")
        assert (status["idle_timeout"], status["warn_before"], status["max_age"]) == (
            IDLE, WARN, MAX_AGE), status
        assert status["reason"] == "idle", status
        assert hub.cull_status(USER)["hub"]["reporting"] is True

        # --- 2. An unsaved edit, then nobody touches the tab. -----------------------------
        lab.page.locator(".jp-DirListing-item", has_text="work.ipynb").dblclick()
        lab.page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=60_000)
        wait_until(lambda: [k["execution_state"] for k in hub.cull_status(USER)["kernels"]]
                   == ["idle"], 60, what="the notebook's kernel idle")
        lab.page.click(".jp-NotebookPanel .jp-Cell .cm-content")
        lab.page.keyboard.type(f'saved = "{MARKER}"')
        typed = time.time()
        # Presence is throttled (to a third of the idle timeout here).

        def typing_reported() -> bool:
            server = hub.cull_status(USER)["server"]
            return (server["last_activity_source"] == "presence"
                    and ts(server["last_activity"]) >= typed - 1)

        wait_until(typing_reported, IDLE / 3 + 5, what="typing reported as presence")
        assert MARKER not in notebook.read_text()

        # The server asks the hub to stop it: the hub knows at once, not at its next poll.
        seen = watch_stop(lab, hub, pid, IDLE + 30, saved=notebook)
        readings = seen["readings"]
        assert readings, "the item showed no countdown before the stop"
        late = seen["exit"] - readings[-1][1]
        hub_late = seen["hub_stopped"] - readings[-1][1]
        print(f"idle stop: process exit {late:+.2f} s, hub showed it stopped {hub_late:+.2f} s "
              f"after the last countdown reading (read {seen['exit'] - readings[-1][0]:.2f} s "
              "before the exit)")
        assert abs(late) <= 2, (seen["exit"], readings[-5:])
        assert abs(hub_late) <= 2, (seen["hub_stopped"], readings[-5:])

        # The edit was saved before the stop, by the widget's save, which did not count.
        assert seen["saved"] is not None and seen["saved"] <= seen["exit"], seen
        saves = lab.saves("work.ipynb")
        assert saves and all(r[3].get(AUTOSAVE_HEADER) == "1" for r in saves), saves
        print(f"idle stop: edit saved {seen['exit'] - seen['saved']:.2f} s before the exit")

        # The log in the user's home says why.
        log = server_log.read_text()
        assert re.search(rf"Server will stop in 0:00:{WARN} \(at \S+\): idle since \S+ "
                         rf"\(last activity: presence\), timeout 0:00:{IDLE}\.", log), log
        assert re.search(rf"Stopping server: idle for 0:00:4\d >= timeout 0:00:{IDLE} "
                         r"\(last activity: presence at \S+\); \d kernel\(s\)", log), log
        log_size = len(log)

        # Stopped: the item says so and offers the hub's home page, which knows already.
        wait_until(lambda: "jp-CullExt-stopped" in lab.classes(), 15, what="stopped state")
        assert lab.text().startswith("Server stopped")
        link = lab.page.locator(f"{ITEM} a.jp-CullExt-link")
        assert link.get_attribute("href") == "/hub/home"
        assert lab.errors == []
        # No "Server unavailable or unreachable" dialog covers the page and the link.
        noticed = quiet_after_stop(lab.page, lab.console)
        print(f"idle stop: JupyterLab lost the server {noticed - seen['exit']:.1f} s after "
              "the exit; no dialog came")
        link.click(timeout=5_000)
        lab.page.wait_for_url(re.compile(r"/hub/home"), timeout=30_000)
        assert hub.server(USER) is None, hub.server(USER)
        assert "Start My Server" in lab.page.inner_text("#start")

        # --- 3. In the "short" group, started again, a busy kernel: max age. --------------
        code, body = hub.api("POST", "groups/short/users", {"users": [USER]})
        assert code == 200, (code, body)
        lab.page.click("#start")
        lab.wait_for_lab(USER)
        model = hub.server(USER)
        pid, started = model["state"]["pid"], ts(model["started"])
        deadline = started + SHORT_MAX_AGE
        status = agrees_with_status(lab, hub, "Max age: stop in")
        assert (status["reason"], status["max_age"]) == ("max_age", SHORT_MAX_AGE), status
        assert abs(ts(status["deadline"]) - deadline) < 0.002, (status, model["started"])
        assert abs(ts(status["started"]) - started) < 0.002, (status, model["started"])
        started_iso = status["started"]  # as the server writes it (milliseconds)

        # The notebook (reopened with the workspace, or from the file browser) runs a job.
        if not lab.page.locator(".jp-NotebookPanel").count():
            lab.page.locator(".jp-DirListing-item", has_text="work.ipynb").dblclick()
        lab.page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=60_000)
        lab.page.click(".jp-NotebookPanel .jp-Cell .cm-content")
        lab.page.keyboard.press("Control+a")
        lab.page.keyboard.type("import time; time.sleep(600)")
        lab.page.keyboard.press("Shift+Enter")
        wait_until(lambda: [k["execution_state"] for k in hub.cull_status(USER)["kernels"]]
                   == ["busy"], 30, what="the kernel busy")
        status = hub.cull_status(USER)["server"]
        assert (status["reason"], status["protected_by"]) == ("max_age", "busy_kernel"), status
        assert abs(ts(status["deadline"]) - deadline) < 0.002, status
        assert time.time() < deadline - 5, "too slow to start: the test cannot see the stop"

        seen = watch_stop(lab, hub, pid, deadline - time.time() + 30)
        hub_late, exit_late = seen["hub_stopped"] - deadline, seen["exit"] - deadline
        companion = re.findall(rf"Stopping server {USER}: reason max_age.* ([\d.]+) s after it",
                               hub.log_tail(2000))
        assert seen["readings"], "the item showed no countdown before the stop"
        shown_late = seen["exit"] - seen["readings"][-1][1]
        print(f"max age: hub showed the server stopped {hub_late:+.2f} s, process exit "
              f"{exit_late:+.2f} s after started + max age; exit {shown_late:+.2f} s after "
              f"the last countdown reading; companion's stop request "
              f"{companion[-1] + ' s after the deadline' if companion else 'not sent'}")
        # The server stops itself through the hub: not before the deadline (half a second
        # for a poll's own duration), at most 2 s after it; the companion, which waits its
        # grace for a server that knows its max age, found nothing left to stop.
        assert -0.5 <= exit_late <= 2, seen
        assert -0.5 <= hub_late <= 2, seen
        assert not companion, companion
        assert abs(shown_late) <= 2, (seen["exit"], seen["readings"][-5:])
        wait_until(lambda: hub.server(USER) is None, 30, what="the hub done stopping")

        log = server_log.read_text()[log_size:]
        assert re.search(rf"Server will stop in 0:00:{WARN} \(at \S+\): it reaches its max "
                         rf"age of 0:00:{SHORT_MAX_AGE}\.", log), log
        assert re.search(rf"Stopping server: reached its max age \(0:00:{SHORT_MAX_AGE} >= "
                         rf"0:00:{SHORT_MAX_AGE}, started {re.escape(started_iso)}\)",
                         log), log
        assert lab.errors == []
    finally:
        lab.close()
