"""The status-bar countdown as a user sees it, in real JupyterLab and Chromium.

Two servers with short timeouts (server idle 40 s, warning 12 s before):

- light theme, the launcher only: the countdown matches ``api/cull/status``; keep-alive
  beyond the operator's cap is refused in the UI with the cap shown, a valid one is granted
  and can be cancelled; the warning appears at ``warn_at``; "I'm still here" moves the
  deadline; left untouched, the server stops within 2 s of what the item showed.
- dark theme, under a (simulated) JupyterHub: typing in a notebook moves the deadline; a
  heads-up comes before its idle kernel is culled; the unsaved edit is on disk after the
  server stopped; the stopped item offers the hub's home page.
- a terminal running a silent command: the item and its details say what runs there and
  that it (and the server) is kept while it runs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websocket
from hubharness import wait_until

from .conftest import (
    NOTEBOOK,
    QUIET_NOTE,
    Console,
    assert_fully_visible,
    countdown_agrees,
    quiet_after_stop,
    remaining_shown,
    ts,
)

IDLE = 40
WARN = 12
CAP = 3600
ARGS = [
    f"--ServerApp.shutdown_no_activity_timeout={IDLE}",
    f"--CullExt.warn_before={WARN}",
    f"--CullExt.keepalive_max={CAP}",
]
ITEM = ".jp-CullExt-item"
TOAST = ".Toastify__toast"
AUTOSAVE_HEADER = "X-Jupyter-Cull-Autosave"

pytestmark = pytest.mark.timeout(300)


class Lab:
    """One browser page on a test server, with what a user would look at."""

    def __init__(self, browser: Any, server: Any, path: str = "lab"):
        self.server = server
        self.page = browser.new_page(viewport={"width": 1280, "height": 720})
        self.requests: list[tuple[float, str, str, dict]] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(
            (time.time(), r.method, r.url, r.headers)))
        self.page.on("pageerror", lambda e: self.errors.append(f"{e}\n{e.stack}"))
        self.console = Console(self.page)
        self.page.goto(server.url(path))
        self.page.wait_for_selector(f"{ITEM}:not(.jp-CullExt-loading)", timeout=90_000)

    def text(self) -> str:
        return self.page.inner_text(ITEM, timeout=5_000)

    def classes(self) -> str:
        return self.page.get_attribute(ITEM, "class", timeout=5_000) or ""

    def toasts(self) -> list[str]:
        return self.page.locator(TOAST).all_inner_texts()

    def toast(self, needle: str) -> Any:
        return self.page.locator(TOAST, has_text=needle)

    def posts(self, endpoint: str) -> list[tuple[float, str, str, dict]]:
        return [r for r in self.requests if r[1] == "POST" and f"/api/cull/{endpoint}" in r[2]]

    def shot(self, directory: Path, name: str, optimize: Callable[[Path], None]) -> Path:
        """The bottom-right corner: the item, its popup or the notifications above it."""
        path = directory / f"{name}.png"
        self.page.wait_for_timeout(1500)  # let notifications finish sliding in or out
        self.page.screenshot(path=str(path), clip={"x": 1280 - 600, "y": 720 - 250,
                                                   "width": 600, "height": 250})
        optimize(path)
        return path

    def shown_stop(self) -> tuple[float, float] | None:
        """(when read, when the item says the server stops), or None if it shows no countdown."""
        now = time.time()
        left = remaining_shown(self.text())
        return None if left is None else (now, now + left)


def watch_until_exit(lab: Lab, timeout: float) -> list[tuple[float, float]]:
    """Read the item until the server process exits; the readings (time, predicted stop)."""
    readings: list[tuple[float, float]] = []

    def gone() -> bool:
        if lab.server.poll_exit():
            return True
        try:
            shown = lab.shown_stop()
        except Exception:  # the page may be busy while the server goes away
            shown = None
        if shown is not None:
            readings.append(shown)
        return False

    wait_until(gone, timeout, interval=0.2, what="server exit")
    return readings


@pytest.mark.oldest
def test_countdown_warning_keepalive_and_unattended_stop(
    browser: Any, lab_factory: Any, screenshot_dir: Path, optimize_png: Any
) -> None:
    server = lab_factory(ARGS, theme="JupyterLab Light")
    lab = Lab(browser, server)

    # The countdown is the server's: it matches api/cull/status within 2 s.
    wait_until(lambda: remaining_shown(lab.text()) is not None, 10, what="a countdown")
    for _ in range(3):
        countdown_agrees(lab.text, server.status)
        assert lab.text().startswith("Idle stop in")
        time.sleep(1)
    assert "jp-CullExt-calm" in lab.classes()

    # Details popup: the reason, last activity, the keep-alive cap.
    lab.page.click(ITEM)
    details = lab.page.wait_for_selector(".jp-CullExt-details", timeout=10_000)
    text = details.inner_text()
    assert "nothing has happened for 40 s" in text
    assert "up to 1 h" in text
    lab.shot(screenshot_dir, "status-calm-light", optimize_png)

    # Keep-alive beyond the cap is refused in the UI, with the cap shown; nothing is sent.
    lab.page.click(".jp-CullExt-keepalive-button")
    dialog = lab.page.wait_for_selector(".jp-Dialog .jp-CullExt-keepalive", timeout=10_000)
    assert "Up to 1 h" in dialog.inner_text()
    lab.page.fill(".jp-CullExt-keepalive-amount", "2")
    lab.page.select_option(".jp-CullExt-keepalive-unit", "3600")
    refusal = lab.page.locator(".jp-CullExt-refusal")
    assert refusal.inner_text() == "The longest keep-alive allowed here is 1 h."
    lab.page.click(".jp-Dialog button.jp-mod-accept")
    # Still refused after pressing the button: the dialog is back with the reason.
    lab.page.wait_for_selector(".jp-Dialog .jp-CullExt-keepalive", timeout=10_000)
    assert "longest keep-alive allowed here is 1 h" in refusal.inner_text()
    assert lab.posts("keepalive") == []
    assert server.status()["server"]["keepalive_until"] is None

    # Within the cap it is granted; the item says so; it can be cancelled from the popup.
    lab.page.fill(".jp-CullExt-keepalive-amount", "30")
    lab.page.select_option(".jp-CullExt-keepalive-unit", "60")
    lab.page.click(".jp-Dialog button.jp-mod-accept")
    wait_until(lambda: server.status()["server"]["keepalive_until"], 10, what="keep-alive")
    wait_until(lambda: lab.text().startswith("Kept alive: stop in"), 10, what="kept-alive label")
    assert 29 * 60 <= remaining_shown(lab.text()) <= 30 * 60
    if not lab.page.locator(".jp-CullExt-details").is_visible():
        lab.page.click(ITEM)
    lab.page.click(".jp-CullExt-details button:has-text('Cancel')")
    wait_until(lambda: server.status()["server"]["keepalive_until"] is None, 10,
               what="keep-alive cancelled")
    wait_until(lambda: lab.text().startswith("Idle stop in"), 10, what="idle label again")
    lab.page.click(ITEM)  # closes the popup
    wait_until(lambda: not lab.page.locator(".jp-CullExt-details").is_visible(), 5,
               what="popup closed")

    # The warning appears at warn_at, with the actions and the cap.
    warning = lab.toast("this server stops at")
    warning.wait_for(timeout=(IDLE + 20) * 1000)
    appeared = time.time()
    status = server.status()["server"]
    assert abs(appeared - ts(status["warn_at"])) <= 2, status
    assert "jp-CullExt-warning" in lab.classes()
    actions = warning.inner_text()
    assert "I'm still here" in actions and "Keep alive for" in actions
    assert_fully_visible(lab.page, warning)
    lab.shot(screenshot_dir, "status-warning-light", optimize_png)

    # "I'm still here" moves the deadline, and the warning goes away.
    before = ts(status["deadline"])
    clicked = time.time()
    warning.locator("button", has_text="I'm still here").click()
    wait_until(lambda: ts(server.status()["server"]["deadline"]) > before + WARN, 10,
               what="deadline moved by I'm still here")
    assert server.status()["server"]["last_activity_source"] == "presence"
    wait_until(lambda: lab.toast("this server stops at").count() == 0, 10,
               what="warning withdrawn")
    wait_until(lambda: "jp-CullExt-calm" in lab.classes(), 10, what="calm again")

    # Untouched from here on: polling must not keep the server alive, and it stops within
    # 2 s of what the item showed.
    readings = watch_until_exit(lab, IDLE + 30)
    assert readings, "the item showed no countdown before the stop"
    last_read, predicted = readings[-1]
    assert abs(server.exited_at - predicted) <= 2, (server.exited_at, readings[-5:])
    # Nothing was reported after the click but, at most, one trailing presence report of
    # the click itself (presence is throttled to a third of the idle timeout here).
    late = [p[0] - clicked for p in lab.posts("activity") if p[0] > clicked + IDLE / 3 + 2]
    assert late == [], late

    # Stopped: the item says so, and no "Server Connection Error" dialog covers it.
    wait_until(lambda: lab.text() == "Server stopped", 15, what="stopped label")
    assert "jp-CullExt-stopped" in lab.classes()
    quiet_after_stop(lab.page, lab.console)
    lab.shot(screenshot_dir, "status-stopped-light", optimize_png)
    assert lab.errors == []


def autosave_hook(server: Any) -> bool:
    """Whether the server leaves saves marked as autosaves out of its activity."""
    before = server.status()["server"]["last_activity"]
    server.request("PUT", "api/contents/probe.txt",
                   {"type": "file", "format": "text", "content": "probe"},
                   headers={AUTOSAVE_HEADER: "1"})
    return server.status()["server"]["last_activity"] == before


def test_unsaved_notebook_is_saved_before_the_stop(
    browser: Any, lab_factory: Any, screenshot_dir: Path, optimize_png: Any
) -> None:
    hub = '{"hub_prefix": "/hub/", "hub_host": "", "user": "tester"}'
    server = lab_factory([*ARGS, f"--ServerApp.tornado_settings={hub}"],
                         theme="JupyterLab Dark")
    assert autosave_hook(server), f"a save with {AUTOSAVE_HEADER}: 1 counted as activity"
    (server.root / "work.ipynb").write_text(json.dumps(NOTEBOOK))
    lab = Lab(browser, server, "lab/tree/work.ipynb")
    lab.page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=90_000)
    wait_until(lambda: server.status()["kernels"], 60, what="a kernel")
    wait_until(lambda: server.status()["kernels"][0]["execution_state"] == "idle", 60,
               what="kernel idle")
    time.sleep(2)  # the kernel's deadline comes clearly before the server's

    # Typing in the notebook is presence: it moves the deadline.
    before = server.status()["server"]
    lab.page.click(".jp-NotebookPanel .jp-Cell .cm-content")
    lab.page.keyboard.type('autosaved = "marker-4711"')
    # Presence is throttled (here to a third of the idle timeout): it may come a little later.
    wait_until(lambda: server.status()["server"]["last_activity_source"] == "presence",
               IDLE / 3 + 5, what="typing reported as presence")
    assert ts(server.status()["server"]["deadline"]) > ts(before["deadline"])
    assert "marker-4711" not in (server.root / "work.ipynb").read_text()
    wait_until(lambda: lab.text().startswith("Idle stop in"), 10, what="countdown")
    lab.page.click(ITEM)
    details = lab.page.wait_for_selector(".jp-CullExt-details", timeout=10_000)
    assert "work.ipynb" in details.inner_text()  # its kernel, with its deadline
    lab.shot(screenshot_dir, "status-calm-dark", optimize_png)
    lab.page.click(ITEM)

    # A quieter heads-up comes first: the idle kernel of this notebook will be culled.
    heads_up = lab.toast("The idle kernel of work.ipynb")
    heads_up.wait_for(timeout=(IDLE + 20) * 1000)
    assert "longer" in heads_up.inner_text()  # "Keep it … longer"

    # Then the warning, and the save shortly before the stop.
    warning = lab.toast("this server stops at")
    warning.wait_for(timeout=(IDLE + 20) * 1000)
    warned_deadline = ts(server.status()["server"]["deadline"])
    lab.shot(screenshot_dir, "status-warning-dark", optimize_png)

    readings = watch_until_exit(lab, IDLE + 60)
    content = (server.root / "work.ipynb").read_text()
    assert "marker-4711" in content, "the unsaved edit was not saved before the stop"
    saves = [r for r in lab.requests if r[1] == "PUT" and "/api/contents/work.ipynb" in r[2]]
    assert saves and all(r[3].get(AUTOSAVE_HEADER.lower()) == "1" for r in saves), saves
    assert readings
    assert abs(server.exited_at - readings[-1][1]) <= 2, (server.exited_at, readings[-5:])

    # Stopped: the item offers the way back to the hub.
    wait_until(lambda: "jp-CullExt-stopped" in lab.classes(), 15, what="stopped state")
    link = lab.page.locator(f"{ITEM} a.jp-CullExt-link")
    assert link.get_attribute("href") == "/hub/home"
    lab.shot(screenshot_dir, "status-stopped-dark", optimize_png)
    # No "server unreachable" dialog covers it (the hub extension's would, by default).
    quiet_after_stop(lab.page, lab.console)
    # Nothing covers the link (a trial click checks that it would receive the click; there
    # is no real hub behind it here: the end-to-end test follows it).
    link.click(trial=True, timeout=5_000)

    # The save must not have counted as activity: the server stopped at the deadline it had
    # when the warning appeared.
    assert abs(server.exited_at - warned_deadline) <= 2, (server.exited_at, warned_deadline)


def test_an_unexpected_loss_is_still_reported(browser: Any, lab_factory: Any) -> None:
    """The server dies long before any deadline (here: killed): that is not a stop we
    announced, so the user is told, and offered a restart through the hub."""
    hub = '{"hub_prefix": "/hub/", "hub_host": "", "user": "tester"}'
    server = lab_factory(["--ServerApp.shutdown_no_activity_timeout=3600",
                          f"--ServerApp.tornado_settings={hub}"])
    lab = Lab(browser, server)
    wait_until(lambda: lab.text().startswith("Idle stop in"), 10, what="countdown")
    # JupyterLab has finished starting (its deferred plugins fetch as they activate, and
    # one that fails uncaught is JupyterLab's error, not this test's subject).
    lab.page.wait_for_load_state("networkidle", timeout=60_000)
    killed = time.time()
    server.proc.kill()
    dialog = lab.page.locator(".jp-Dialog", has_text="Server unreachable")
    dialog.wait_for(timeout=45_000)
    print(f"unexpected loss: dialog {time.time() - killed:.1f} s after the kill")
    assert "does not answer" in dialog.inner_text()
    assert dialog.locator("button", has_text="Restart").count() == 1
    dialog.locator("button", has_text="Dismiss").click()
    assert lab.console.first(QUIET_NOTE) is None
    # The item does not pretend the server stopped on schedule.
    wait_until(lambda: "jp-CullExt-unreachable" in lab.classes(), 90,
               what="unreachable state")
    assert lab.errors == []


def test_a_status_of_the_wrong_shape_is_unavailable_and_the_countdown_recovers(
    browser: Any, lab_factory: Any
) -> None:
    """Something other than the server answers for the status (an older server's document,
    a proxy's error page: Playwright answers in its place, the one fault we cannot provoke
    otherwise): the item says so instead of freezing, and counts down again once the real
    status is back."""
    server = lab_factory(["--ServerApp.shutdown_no_activity_timeout=3600"])
    lab = Lab(browser, server)
    wait_until(lambda: lab.text().startswith("Idle stop in"), 10, what="countdown")
    # Every endpoint that answers with a status document (presence reports do too).
    status_url = re.compile(r"/api/cull/(status|activity|keepalive)(\?|$)")
    read_again = "document.dispatchEvent(new Event('visibilitychange'))"  # tab shown again
    answered: list[str] = []

    def answer(content_type: str, body: str) -> Callable[[Any], None]:
        def fulfill(route: Any) -> None:
            answered.append(content_type)
            route.fulfill(status=200, content_type=content_type, body=body)
        return fulfill

    # An older server: a document with a `server` part, but not the one we know.
    old = {"now": "2026-01-01T00:00:00Z", "server": {"deadline": None}}
    lab.page.route(status_url, answer("application/json", json.dumps(old)))
    lab.page.evaluate(read_again)
    wait_until(lambda: lab.text() == "Status unavailable", 10, what="unavailable (old server)")
    assert "jp-CullExt-unavailable" in lab.classes()

    # A proxy's error page, answered with 200.
    lab.page.unroute(status_url)
    lab.page.route(status_url, answer("text/html", "<html><h1>Bad gateway</h1></html>"))
    lab.page.evaluate(read_again)
    # (Playwright's sync API answers routes only while the test calls into it.)
    wait_until(lambda: lab.page.wait_for_timeout(50) or "text/html" in answered, 10,
               what="the error page read")
    assert lab.text() == "Status unavailable"

    # The server's own answer again: the countdown is back, and ticking.
    lab.page.unroute(status_url)
    lab.page.evaluate(read_again)
    wait_until(lambda: lab.text().startswith("Idle stop in"), 10, what="countdown again")
    first = lab.text()
    wait_until(lambda: lab.text() != first, 5, what="the countdown ticking")
    assert abs(lab.shown_stop()[1] - ts(server.status()["server"]["deadline"])) <= 2
    assert lab.errors == []


def type_in_terminal(server: Any, name: str, line: str) -> None:
    """Type ``line`` into a terminal over its websocket (as its tab would), then close it."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/terminals/websocket/{name}?token={server.token}",
        timeout=10)
    try:
        ws.send(json.dumps(["stdin", line + "\r"]))
        time.sleep(0.3)  # let the shell read it before the tab closes
    finally:
        ws.close()


def test_details_show_what_runs_in_a_terminal(browser: Any, lab_factory: Any) -> None:
    server = lab_factory(["--ServerApp.shutdown_no_activity_timeout=3600"])
    name = server.request("POST", "api/terminals")["name"]
    type_in_terminal(server, name, "sleep 120")  # silent: only the process says it works
    wait_until(lambda: any(t["command"] == "sleep 120" for t in server.status()["terminals"]),
               10, what="the command in the status")

    lab = Lab(browser, server)
    wait_until(lambda: lab.text() == "No auto-stop: terminal busy", 10, what="busy label")
    lab.page.click(ITEM)
    details = lab.page.wait_for_selector(".jp-CullExt-details", timeout=10_000)
    assert ("Nothing will stop this server while a command runs in a terminal."
            in details.inner_text())
    row = lab.page.locator(".jp-CullExt-terminal", has_text=f"Terminal {name}")
    text = row.inner_text(timeout=5_000)
    assert "running sleep 120" in text and "kept while a command runs" in text, text
    assert lab.errors == []


def test_a_kernel_waiting_for_input_says_so(browser: Any, lab_factory: Any) -> None:
    """An unanswered ``input()`` is not work: the kernel's heads-up and the details say the
    kernel is waiting for the user's input, so the user knows answering keeps it."""
    server = lab_factory(["--ServerApp.shutdown_no_activity_timeout=3600",
                          "--CullExt.kernel_idle_timeout=20", f"--CullExt.warn_before={WARN}"])
    (server.root / "ask.ipynb").write_text(json.dumps(NOTEBOOK))
    lab = Lab(browser, server, "lab/tree/ask.ipynb")
    lab.page.wait_for_selector(".jp-NotebookPanel .jp-Cell .cm-content", timeout=90_000)
    wait_until(lambda: server.status()["kernels"], 60, what="a kernel")
    lab.page.click(".jp-NotebookPanel .jp-Cell .cm-content")
    lab.page.keyboard.type('name = input("name? ")')
    lab.page.keyboard.press("Shift+Enter")
    lab.page.wait_for_selector(".jp-Stdin-input", timeout=30_000)

    def waiting() -> dict | None:
        k = server.status()["kernels"][0]
        return k if k["waiting_for_input_since"] else None

    kernel = wait_until(waiting, 10, what="the prompt in the status")
    assert kernel["heads_up_at"] is not None, kernel
    # The item learns of the prompt at its next read (at most a minute later, sooner near
    # an event it knows of); with this test's 20 s timeout, have it read now, as when the
    # user comes back to the tab.
    lab.page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")

    heads_up = lab.toast("is waiting for your input")
    heads_up.wait_for(timeout=(ts(kernel["deadline"]) - time.time() + 5) * 1000)
    text = heads_up.inner_text()
    assert "The kernel of ask.ipynb is waiting for your input: answer the prompt" in text, text
    assert "…" not in text, text  # not cut short
    lab.page.click(ITEM)
    details = lab.page.wait_for_selector(".jp-CullExt-details", timeout=10_000)
    assert "waiting for your input since" in details.inner_text()
    assert lab.errors == []
