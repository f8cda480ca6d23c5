"""The extension speaks the user's language: with a language pack for our domain installed
and chosen, the status item, its details, the warning and the settings' titles show the
pack's strings, and no English of ours slips through untranslated.

The pack is a pseudo-locale (``langpack.py``): every message wrapped in ``⟦…⟧``, so any text
of the extension outside the brackets bypassed the translator.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hubharness import wait_until

from . import langpack
from .langpack import pseudo, untranslated

IDLE = 60
WARN = 55  # the warning comes 5 s after the last activity
ITEM = ".jp-CullExt-item"
TOAST = ".Toastify__toast"

pytestmark = pytest.mark.timeout(120)


def leftovers(text: str, server_words: list[str | None]) -> list[str]:
    """Words of English left in ``text`` once the pseudo-translated parts and what the
    server itself words (``server_words``: activity labels) are taken out. Times
    (``12:03:04 PM``) and numbers may stay."""
    rest = untranslated(text)
    for words in server_words:
        if words:
            rest = rest.replace(words, " ")
    return re.findall(r"[A-Za-z]{3,}", rest)


def test_status_item_details_and_warning_in_the_users_language(
    browser: Any, lab_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack = langpack.install(tmp_path / "pack")
    monkeypatch.setenv("PYTHONPATH", str(pack))
    server = lab_factory([f"--ServerApp.shutdown_no_activity_timeout={IDLE}",
                          f"--CullExt.warn_before={WARN}", "--CullExt.keepalive_max=3600",
                          "--LabApp.expose_app_in_browser=True"])
    langpack.choose(server.home)

    # The settings' titles, translated by the server from the pack's gettext catalogue.
    schema = server.request("GET", "lab/api/settings/jupyter-cull-ext:plugin")["schema"]
    assert schema["title"] == pseudo("Server auto-stop"), schema["title"]
    assert schema["properties"]["showSeconds"]["title"] == pseudo("Show seconds")

    page = browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.lab_url)
    item = page.locator(ITEM)
    item.wait_for(timeout=90_000)

    # The warning, with its actions, in the pack's words.
    warning = page.locator(TOAST, has_text="this server stops at")
    warning.wait_for(timeout=(WARN + 30) * 1000)
    text = warning.inner_text()
    assert text.startswith(pseudo("Nothing has happened for a while: ")[:-1]), text
    for action in ("I'm still here", "Keep alive for …"):
        assert warning.locator("button", has_text=pseudo(action)).count() == 1, text
    status = server.status()["server"]
    server_words = [status["last_activity_label"], status["last_activity_detail"]]
    assert leftovers(text, server_words) == [], text

    # The item: its text and its accessible name.
    label = item.inner_text()
    assert re.fullmatch(r"⟦Idle stop in \d+:\d\d⟧", label), label
    name = item.get_attribute("aria-label") or ""
    assert re.fullmatch(r"⟦Idle stop in \d+:\d\d⟧\. ⟦This server stops at .+, when "
                        r"⟦nothing has happened for ⟦1 min⟧⟧\.⟧", name), name
    assert leftovers(name, server_words) == [], name

    # The details popup.
    item.click()
    details = page.locator(".jp-CullExt-details")
    details.wait_for(timeout=10_000)
    text = details.inner_text()
    for words in ("Automatic stop", "Last activity", "Idle timeout", "Keep-alive",
                  "Keep alive for …", "Maximum age"):
        assert pseudo(words) in text, (words, text)
    status = server.status()["server"]
    server_words = [status["last_activity_label"], status["last_activity_detail"]]
    assert leftovers(text, server_words) == [], text

    # The commands' labels (menus, command palette).
    label = page.evaluate("jupyterapp.commands.label('jupyter-cull-ext:show-details')")
    assert label == pseudo("Show When the Server Stops"), label
    assert errors == []
