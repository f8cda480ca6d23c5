"""Accessibility of the status item, its details and the warning, in real JupyterLab.

axe-core (the npm devDependency, injected into the page) checks our elements in the calm,
details-open, warning and stopped states, in JupyterLab Light, Dark and High Contrast
(colour contrast included); the keyboard tests walk the item, its popup and the warning's
buttons with Tab, Enter and Escape, and read the item's accessible name; the warning is
announced (a notification is an alert; shown on the item only, a live region carries it).

One server for the module, whose maximum age brings each state in turn: calm until the
warning (``MAX_AGE - WARN`` s after start), the warning until the stop at ``MAX_AGE``, then
stopped. The tests run in file order along that timeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubharness import wait_until

from .conftest import REPO, LabServer

MAX_AGE = 80
WARN = 45  # the warning from 35 s after the start
ITEM = ".jp-CullExt-item"
DETAILS = ".jp-CullExt-details"
TOAST = ".Toastify__toast"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
THEMES = ("JupyterLab Light", "JupyterLab Dark", "JupyterLab Dark High Contrast")

pytestmark = pytest.mark.timeout(90)

#: Our elements: the item, its popup, the notifications (the only ones in these tests).
OURS = [ITEM, DETAILS, TOAST]

#: Run axe over those of our elements shown (``ours``) with the WCAG 2.1 A and AA rules;
#: every node it reports is ours. Also says which of them had their colour
#: contrast measured, since axe skips text it takes for clipped away: JupyterLab's body and
#: the wrappers of its popups and notifications have no height and hide their overflow
#: (their content is positioned fixed, so nothing is clipped on screen), and axe would
#: measure no contrast at all. While axe runs, they get the viewport's height or show
#: their overflow, which changes nothing on screen.
RUN_AXE = """async ours => {
    const unclip = document.createElement('style');
    unclip.textContent = 'body { height: 100vh; } ' +
        'body > .jp-ThemedContainer { overflow: visible !important; }';
    document.head.appendChild(unclip);
    let result;
    try {
        result = await axe.run({include: ours.map(s => [s])}, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
            elementRef: true
        });
    } finally {
        unclip.remove();
    }
    const contrast = [...result.passes, ...result.violations, ...result.incomplete]
        .filter(r => r.id === 'color-contrast')
        .flatMap(r => r.nodes.map(n => n.element));
    return {
        violations: result.violations.map(v => ({
            id: v.id, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))
        })),
        incomplete: result.incomplete.filter(r => r.id === 'color-contrast').flatMap(
            r => r.nodes.map(n => n.target.join(' ') + ': ' + n.any.map(a => a.message))),
        measured: ours.filter(s => contrast.some(node => node && node.closest(s)))
    };
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A server that stops at its maximum age."""
    server = LabServer(tmp_path_factory.mktemp("a11y"), [
        "--ServerApp.shutdown_no_activity_timeout=3600",
        f"--CullExt.max_age={MAX_AGE}",
        f"--CullExt.warn_before={WARN}",
        "--CullExt.keepalive_max=3600",
        "--LabApp.expose_app_in_browser=True",
    ])
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab(browser: Any, server: LabServer) -> Iterator[Any]:
    """One JupyterLab page on that server, for the module, with axe loaded."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(server.lab_url)
    page.wait_for_selector(f"{ITEM}:not(.jp-CullExt-loading)", timeout=60_000)
    page.add_script_tag(path=str(AXE))
    yield page
    page.close()


def use_theme(page: Any, theme: str) -> None:
    page.evaluate("t => jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme)
    page.wait_for_function("t => document.body.dataset.jpThemeName === t", arg=theme,
                           timeout=10_000)
    page.wait_for_timeout(300)  # the theme's stylesheet applied


def violations(page: Any, state: str, themes: tuple[str, ...] = THEMES) -> dict[str, list]:
    """axe's findings on our elements in each theme (only themes with findings); fails if
    axe measured no colour contrast in one of our elements shown."""
    found = {}
    # Notifications still sliding in are half transparent: let them settle.
    page.wait_for_function("!document.querySelector('.Toastify__toast.Toastify--animate')",
                           timeout=5_000)
    for theme in themes:
        use_theme(page, theme)
        shown = page.evaluate("all => all.filter(s => document.querySelector(s))", OURS)
        result = page.evaluate(RUN_AXE, shown)
        assert result["measured"] == shown, (theme, state, result)
        if result["incomplete"]:
            print(f"axe, {state}, {theme}: contrast not decided for {result['incomplete']}")
        if result["violations"]:
            found[theme] = result["violations"]
    if themes != THEMES[:1]:
        use_theme(page, THEMES[0])
    if found:
        print(f"axe, {state}:\n{json.dumps(found, indent=1)}")
    return found


def phase(page: Any) -> str:
    classes = page.get_attribute(ITEM, "class", timeout=5_000) or ""
    return re.search(r"jp-CullExt-(loading|none|calm|warning|due|stopped|unreachable|"
                     r"unavailable)\b", classes).group(1)


def focused(page: Any, selector: str) -> bool:
    return page.evaluate("s => !!document.activeElement?.closest(s)", selector)


def tab_to(page: Any, selector: str, limit: int = 200) -> int:
    """Press Tab until the focus is in ``selector``; how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if focused(page, selector):
            return presses
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


def test_calm_item_and_details_pass_axe_in_every_theme(lab: Any) -> None:
    assert phase(lab) == "calm"
    assert violations(lab, "calm") == {}
    lab.click(ITEM)
    lab.wait_for_selector(DETAILS, timeout=10_000)
    assert violations(lab, "details open") == {}
    lab.keyboard.press("Escape")
    lab.wait_for_selector(DETAILS, state="detached", timeout=5_000)
    assert phase(lab) == "calm", "the calm state ended before its checks did"


def test_keyboard_reaches_the_item_opens_and_closes_its_details(lab: Any) -> None:
    lab.evaluate("document.activeElement?.blur()")
    tab_to(lab, ITEM)
    # Its accessible name says how long is left and why.
    name = lab.get_attribute(ITEM, "aria-label")
    assert re.match(r"Max age: stop in \d+:\d\d\. This server stops at .+, when it reaches "
                    r"its maximum age of 1 min 20 s\.$", name), name
    assert lab.get_attribute(ITEM, "aria-expanded") == "false"

    lab.keyboard.press("Enter")
    lab.wait_for_selector(DETAILS, timeout=5_000)
    assert focused(lab, DETAILS), "the focus did not move into the details"
    assert lab.get_attribute(ITEM, "aria-expanded") == "true"
    # Its button is the next stop of Tab.
    lab.keyboard.press("Tab")
    assert focused(lab, ".jp-CullExt-keepalive-button")
    lab.keyboard.press("Escape")
    lab.wait_for_selector(DETAILS, state="detached", timeout=5_000)
    assert focused(lab, ITEM), "the focus did not come back to the item"
    assert lab.get_attribute(ITEM, "aria-expanded") == "false"

    # Escape on the item closes the popup too.
    lab.keyboard.press("Enter")
    lab.wait_for_selector(DETAILS, timeout=5_000)
    lab.focus(ITEM)
    lab.keyboard.press("Escape")
    lab.wait_for_selector(DETAILS, state="detached", timeout=5_000)


def test_warning_is_announced_reachable_by_tab_and_passes_axe(lab: Any) -> None:
    warning = lab.locator(TOAST, has_text="reaches its maximum age and stops at")
    warning.wait_for(timeout=(MAX_AGE + 10) * 1000)
    assert phase(lab) == "warning"
    # JupyterLab's notifications are alerts: screen readers read them as they appear.
    assert warning.locator("[role=alert]").count() == 1
    assert violations(lab, "warning") == {}

    lab.focus(ITEM)
    presses = tab_to(lab, f"{TOAST} button", limit=50)
    label = lab.evaluate("document.activeElement.textContent")
    print(f"warning: its first button ({label!r}) is {presses} Tab presses after the item")
    assert label == "Save all"


def test_warning_on_the_item_only_is_announced_by_a_live_region(
    browser: Any, server: LabServer
) -> None:
    """With the warning shown on the status-bar item only (no notification), a polite live
    region of ours carries it: a screen reader still hears it once."""
    settings = server.home / ".jupyter" / "lab" / "user-settings" / "jupyter-cull-ext"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "plugin.jupyterlab-settings").write_text(
        json.dumps({"warningDisplay": "status-bar"}))
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(server.lab_url)
        page.wait_for_selector(f"{ITEM}.jp-CullExt-warning", timeout=60_000)
        region = page.locator(".jp-CullExt-announcer")
        wait_until(lambda: "reaches its maximum age and stops at" in (region.text_content() or ""), 5,
                   what="the warning in the live region")
        assert region.get_attribute("aria-live") == "polite"
        assert region.get_attribute("role") == "status"
        assert page.locator(TOAST, has_text="maximum age").count() == 0
    finally:
        page.close()
        (settings / "plugin.jupyterlab-settings").unlink()


def test_stopped_item_passes_axe(lab: Any, server: LabServer) -> None:
    wait_until(server.poll_exit, MAX_AGE + 10, interval=0.5, what="the stop at max age")
    wait_until(lambda: phase(lab) == "stopped", 15, what="stopped state")
    name = lab.get_attribute(ITEM, "aria-label")
    assert name.startswith("Server stopped. This server has stopped."), name
    # Light only: a theme is switched through the settings, which a stopped server no
    # longer saves (the stopped colours are checked against the others in base.css).
    assert violations(lab, "stopped", THEMES[:1]) == {}
