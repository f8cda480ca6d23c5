"""A throwaway JupyterLab language pack for one test server: a pseudo-locale.

Every message of our translation domain (``jupyter_cull_ext``), taken from the sources'
``trans.__`` / ``trans._n`` calls and from the settings schema, is "translated" by wrapping
it in ``⟦…⟧``. Text shown by the extension that comes out unwrapped bypassed the translator.

The pack is what ``jupyterlab_server.translation_utils`` looks for: a module registered
under the ``jupyterlab.languagepack`` entry point (named by its locale), holding
``locale/<locale>/LC_MESSAGES/<domain>.json`` for the browser (Jed-style, read through
``GET api/translations/<locale>``) and ``<domain>.mo`` for the server's translation of
settings schemas (gettext, found by the module name ``jupyterlab_language_pack_<locale>``).
It lives in a temporary directory put on the test server's ``PYTHONPATH`` only.
"""

from __future__ import annotations

import ast
import json
import re
import struct
from pathlib import Path

from .conftest import REPO

DOMAIN = "jupyter_cull_ext"
#: A locale JupyterLab accepts (babel knows it) and no test machine has a pack for.
LOCALE = "fr_FR"
OPEN, CLOSE = "⟦", "⟧"

SOURCES = REPO / "labextension" / "src"
SCHEMA = REPO / "labextension" / "schema" / "plugin.json"

_LITERAL = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_SINGULAR = re.compile(r"\btrans\.__\(\s*" + _LITERAL)
_PLURAL = re.compile(r"\btrans\._n\(\s*" + _LITERAL + r"\s*,\s*" + _LITERAL)
#: Schema strings JupyterLab translates, and their gettext context (jupyterlab_server's
#: default selectors, which cover everything our schema has).
_SCHEMA_CONTEXTS = {
    "title": "schema",
    "description": "schema",
    "jupyter.lab.setting-icon-label": "settings",
}


def pseudo(text: str) -> str:
    return f"{OPEN}{text}{CLOSE}"


def messages() -> tuple[set[str], set[tuple[str, str]]]:
    """The singular and (singular, plural) messages of the frontend's sources."""
    singular: set[str] = set()
    plural: set[tuple[str, str]] = set()
    for path in sorted(SOURCES.glob("*.ts*")):
        text = path.read_text()
        singular.update(ast.literal_eval(m) for m in _SINGULAR.findall(text))
        plural.update((ast.literal_eval(a), ast.literal_eval(b))
                      for a, b in _PLURAL.findall(text))
    return singular, plural


def schema_messages() -> set[tuple[str, str]]:
    """The settings schema's translatable strings, as (gettext context, string)."""
    schema = json.loads(SCHEMA.read_text())
    found = {(ctx, schema[key]) for key, ctx in _SCHEMA_CONTEXTS.items() if key in schema}
    for prop in schema["properties"].values():
        found.update(("settings", prop[key]) for key in ("title", "description") if key in prop)
    return found


def _mo(catalog: dict[str, str]) -> bytes:
    """A GNU gettext .mo file of ``catalog`` (keys already carry their context)."""
    catalog = {"": "Content-Type: text/plain; charset=UTF-8\n", **catalog}
    keys = sorted(catalog)
    ids = [k.encode() for k in keys]
    strs = [catalog[k].encode() for k in keys]
    n = len(keys)
    start = 7 * 4 + 16 * n
    table, data = [], b""
    for blob in ids + strs:
        table.append((len(blob), start + len(data)))
        data += blob + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, n, 7 * 4, 7 * 4 + 8 * n, 0, 0)
    return header + b"".join(struct.pack("<2I", *entry) for entry in table) + data


def install(root: Path) -> Path:
    """Write the pack under ``root``; returns the directory to put on ``PYTHONPATH``."""
    module = f"jupyterlab_language_pack_{LOCALE}"
    package = root / module
    messages_dir = package / "locale" / LOCALE / "LC_MESSAGES"
    messages_dir.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    singular, plural = messages()
    assert len(singular) > 50, f"too few messages found in {SOURCES}: {sorted(singular)}"
    catalog: dict[str, list[str]] = {m: [pseudo(m)] for m in singular}
    catalog.update({one: [pseudo(one), pseudo(many)] for one, many in plural})
    (messages_dir / f"{DOMAIN}.json").write_text(json.dumps({
        # The language as JupyterLab's Gettext looks it up: a BCP 47 tag (fr-FR).
        "": {"domain": DOMAIN, "language": LOCALE.replace("_", "-"),
             "plural_forms": "nplurals=2; plural=(n > 1);", "version": "0"},
        **catalog,
    }, ensure_ascii=False))
    (messages_dir / f"{DOMAIN}.mo").write_bytes(_mo(
        {f"{ctx}\x04{text}": pseudo(text) for ctx, text in schema_messages()}))
    dist = root / f"{module}-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[jupyterlab.languagepack]\n{LOCALE} = {module}\n")
    return root


def choose(home: Path) -> None:
    """Make the pseudo-locale the user's language (JupyterLab's language setting)."""
    settings = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "translation-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"locale": LOCALE}))


def untranslated(text: str) -> str:
    """``text`` without its pseudo-translated parts (nested ones included)."""
    inner = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
    while True:
        stripped = inner.sub(" ", text)
        if stripped == text:
            return text
        text = stripped
