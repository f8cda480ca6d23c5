"""Jupyter Notebook 7 (``jupyter notebook``), which has no status bar: the countdown in its
menu row, on the tree page and on a notebook page, in real Notebook 7 and Chromium.

- tree page: the countdown matches ``api/cull/status``; its details open below it, in
  view; the warning is fully visible at 1280x800 and 1024x700; "Keep alive for …" in the
  warning keeps the server alive; the ``statusItem`` setting "never" hides the item.
- notebook page: the countdown matches; the warning is fully visible; left untouched, the
  unsaved edit is on disk (saved as an autosave, which is not activity) when the server
  stops, within 2 s of what the item showed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hubharness import http, wait_until

from .conftest import (
    NOTEBOOK,
    assert_fully_visible,
    countdown_agrees,
    remaining_shown,
    ts,
    within,
)

IDLE = 24
WARN = 12
ARGS = [
    f"--ServerApp.shutdown_no_activity_timeout={IDLE}",
    f"--CullExt.warn_before={WARN}",
    "--CullExt.keepalive_max=3600",
]
ITEM = "#menu-panel .jp-CullExt-item"
WARNING = "this server stops at"
AUTOSAVE_HEADER = "X-Jupyter-Cull-Autosave"

pytestmark = pytest.mark.timeout(120)


class NotebookPage:
    """A Notebook 7 page, with what its user looks at, and what our plugin got wrong."""

    def __init__(self, browser: Any, server: Any, path: str):
        self.server = server
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.requests: list[tuple[float, str, str, dict]] = []
        self.page.on("request", lambda r: self.requests.append(
            (time.time(), r.method, r.url, r.headers)))
        # Notebook 7.6 itself throws once while loading its settings (also without this
        # extension): only errors from our bundle or saying our name count.
        self.ours: list[str] = []
        self.page.on("pageerror", lambda e: self._note(f"{e}\n{e.stack}"))
        self.page.on("console", lambda m: m.type == "error" and self._note(
            f"{m.text} at {m.location.get('url', '')}"))
        self.page.goto(server.url(path))
        self.page.wait_for_selector(f"{ITEM}:not(.jp-CullExt-loading)", timeout=90_000)

    def _note(self, error: str) -> None:
        if "jupyter-cull-ext" in error:
            self.ours.append(error)

    def text(self) -> str:
        return self.page.inner_text(ITEM, timeout=5_000)

    def countdown_matches(self) -> None:
        """The item counts down to the server's deadline, to within 2 s."""
        wait_until(lambda: remaining_shown(self.text()) is not None, 10, what="a countdown")
        countdown_agrees(self.text, self.server.status)

    def warning(self) -> Any:
        toast = self.page.locator(".Toastify__toast", has_text=WARNING)
        toast.wait_for(timeout=(IDLE + 10) * 1000)
        return toast


def test_tree_page_countdown_details_warning_and_keepalive(
    browser: Any, lab_factory: Any
) -> None:
    server = lab_factory(ARGS, app="notebook")
    nb = NotebookPage(browser, server, "tree")
    assert nb.page.locator(".jp-StatusBar-Widget").count() == 0  # no status bar here
    nb.countdown_matches()
    assert nb.text().startswith("Idle stop in")

    # The details open below the item, wholly in the window (not above it, off-screen).
    nb.page.click(ITEM)
    details = nb.page.locator(".jp-CullExt-details")
    details.wait_for(timeout=10_000)
    item_box = nb.page.locator(ITEM).bounding_box()
    box = details.bounding_box()
    assert box["y"] >= item_box["y"] + item_box["height"] - 1, (box, item_box)
    assert within(box, 0, 0, 1280, 800), box
    assert "nothing has happened for 24 s" in details.inner_text()
    # The popup took the focus (a dialog, as in JupyterLab): Escape closes it and gives
    # the focus back to the item.
    nb.page.keyboard.press("Escape")
    wait_until(lambda: not details.is_visible(), 5, what="details closed")
    assert nb.page.evaluate("document.activeElement.classList.contains('jp-CullExt-item')")

    warning = nb.warning()
    assert "jp-CullExt-warning" in (nb.page.get_attribute(ITEM, "class") or "")
    assert_fully_visible(nb.page, warning)

    # Keep-alive from the warning: the deadline moves to its end, and the item says so.
    before = ts(server.status()["server"]["deadline"])
    warning.locator("button", has_text="Keep alive for").click()
    nb.page.wait_for_selector(".jp-Dialog .jp-CullExt-keepalive", timeout=10_000)
    nb.page.fill(".jp-CullExt-keepalive-amount", "10")
    nb.page.select_option(".jp-CullExt-keepalive-unit", "60")
    nb.page.click(".jp-Dialog button.jp-mod-accept")
    status = wait_until(lambda: (s := server.status()["server"])["keepalive_until"] and s,
                        10, what="keep-alive")
    assert ts(status["deadline"]) >= before + 9 * 60, status
    wait_until(lambda: nb.text().startswith("Kept alive: stop in"), 10,
               what="kept-alive label")
    nb.countdown_matches()
    assert nb.ours == [], nb.ours

    # JupyterLab's settings apply here too: "never" hides the item (on the next load).
    code, _ = http("PUT", f"{server.base}/lab/api/settings/jupyter-cull-ext:plugin",
                   server.token, {"raw": json.dumps({"statusItem": "never"})})
    assert code == 204, code
    nb.page.reload()
    nb.page.wait_for_selector(f"{ITEM}.lm-mod-hidden", state="attached", timeout=60_000)
    assert not nb.page.is_visible(ITEM)


def test_notebook_page_warning_and_save_before_the_stop(
    browser: Any, lab_factory: Any
) -> None:
    server = lab_factory(ARGS, app="notebook")
    (server.root / "work.ipynb").write_text(json.dumps(NOTEBOOK))
    nb = NotebookPage(browser, server, "notebooks/work.ipynb")
    cell = ".jp-NotebookPanel .jp-Cell .cm-content"
    nb.page.wait_for_selector(cell, timeout=90_000)
    nb.page.click(cell)
    nb.page.keyboard.type('autosaved = "marker-4711"')
    nb.countdown_matches()
    assert "marker-4711" not in (server.root / "work.ipynb").read_text()

    warning = nb.warning()
    warned_deadline = ts(server.status()["server"]["deadline"])
    assert_fully_visible(nb.page, warning)

    # Untouched: the server stops when the item said, with the edit saved first.
    shown: list[float] = []

    def gone() -> bool:
        if server.poll_exit():
            return True
        try:
            left = remaining_shown(nb.text())
        except Exception:  # the page may be busy while the server goes away
            left = None
        if left is not None:
            shown.append(time.time() + left)
        return False

    wait_until(gone, IDLE + 20, what="server exit")
    assert shown and abs(server.exited_at - shown[-1]) <= 2, (server.exited_at, shown[-5:])
    assert "marker-4711" in (server.root / "work.ipynb").read_text(), "edit not saved"
    saves = [r for r in nb.requests if r[1] == "PUT" and "/api/contents/work.ipynb" in r[2]]
    assert saves and all(r[3].get(AUTOSAVE_HEADER.lower()) == "1" for r in saves), saves
    # The save did not count as activity: the deadline is the one of the warning.
    assert abs(server.exited_at - warned_deadline) <= 2, (server.exited_at, warned_deadline)
    wait_until(lambda: nb.text() == "Server stopped", 15, what="stopped label")
    assert nb.ours == [], nb.ours
