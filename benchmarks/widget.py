"""What our status-bar item costs an idle tab: HTTP requests per minute from a visible
JupyterLab page left untouched, ours vs stock.

Two ``jupyter lab`` processes with default settings, each opened in its own headless Chromium
(Debian's ``/usr/bin/chromium`` through Playwright, as in ``tests/browser``), at the same
time:

- ours: the server extension and the JupyterLab extension enabled (as installed);
- stock: the server extension off (``servers.STOCK_ARG``) and the JupyterLab extension
  disabled for that server only, by ``jupyter labextension disable --level=user`` into a
  temporary ``JUPYTER_CONFIG_DIR``. Checked: no status item in the page, and
  ``api/cull/status`` answers 404.

Both have news and update checks off (the same user settings). After the page has settled
(ours: the item has loaded its first status; stock: the status bar is up; then ``--settle``
seconds more) every request the page makes is counted over ``--window`` seconds, from
Playwright's ``request`` events, grouped by endpoint. The pages are checked to be visible
(``document.visibilityState``), as our item reads nothing while hidden.

    .venv/bin/python benchmarks/widget.py [--window 60] [--settle 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from servers import BIN, TOKEN, JServer, clean_env, start_all

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ITEM = ".jp-CullExt-item"
LAB_EXTENSION = "jupyter-cull-ext"


def config_dir(root: Path, ours: bool) -> Path:
    """A JUPYTER_CONFIG_DIR with news and update checks off; for stock, our JupyterLab
    extension disabled in it (user level: nothing outside this folder changes)."""
    path = root / "config"
    settings = path / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    if not ours:
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(BIN / "jupyter"), "labextension", "disable", "--level=user",
                        LAB_EXTENSION], check=True, capture_output=True, timeout=120,
                       env=clean_env(home, {"JUPYTER_CONFIG_DIR": str(path)}))
        page_config = json.loads((path / "labconfig" / "page_config.json").read_text())
        if not page_config.get("disabledExtensions", {}).get(LAB_EXTENSION):
            raise RuntimeError(f"{LAB_EXTENSION} not disabled in {path}: {page_config}")
    return path


def group(url: str, base: str) -> str:
    """An endpoint group: ``api/<service>`` (``api/cull/<endpoint>`` for ours),
    ``lab/api/<service>``, else the first path segment (``static``, ``lab`` ...)."""
    parts = urlsplit(url)
    if not url.startswith(base):
        return f"(other host) {parts.netloc}"
    segments = [s for s in parts.path.split("/") if s]
    if segments[:2] == ["api", "cull"]:
        return "/".join(segments[:3])
    if segments[:1] == ["api"]:
        return "/".join(segments[:2])
    if segments[:2] == ["lab", "api"]:
        return "/".join(segments[:3])
    return segments[0] if segments else "/"


def measure(window: float = 60.0, settle: float = 10.0, log=print) -> dict:
    """{mode: {"counts": Counter(group -> requests in the window), "window": s, ...}}."""
    from playwright import (
        sync_api,  # the test extra; imported here so --help works without
    )

    root = Path(tempfile.mkdtemp(prefix="cull-bench-widget-"))
    modes = ("ours", "stock")
    servers = {m: JServer(root / m, ours=(m == "ours"), lab=True,
                          env={"JUPYTER_CONFIG_DIR": str(config_dir(root / m, m == "ours"))})
               for m in modes}
    try:
        start_all(list(servers.values()))
        with sync_api.sync_playwright() as p:
            browsers = {m: p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True) for m in modes}
            try:
                result = _count(servers, browsers, window, settle, log)
            finally:
                for b in browsers.values():
                    b.close()
    finally:
        for s in servers.values():
            s.stop()
    shutil.rmtree(root, ignore_errors=True)  # kept for its logs when something failed
    return result


def _count(servers: dict, browsers: dict, window: float, settle: float, log) -> dict:
    seen: dict[str, list[tuple[float, str, str]]] = {m: [] for m in servers}
    pages = {}
    for m, server in servers.items():
        page = browsers[m].new_page(viewport={"width": 1280, "height": 720})
        page.on("request", lambda r, m=m: seen[m].append((time.time(), r.method, r.url)))
        page.goto(f"{server.url}lab?token={TOKEN}")
        pages[m] = page
    for m, page in pages.items():
        page.wait_for_selector("#jp-main-statusbar", timeout=120_000)
        if m == "ours":
            page.wait_for_selector(f"{ITEM}:not(.jp-CullExt-loading)", timeout=60_000)
    pages["ours"].wait_for_timeout(settle * 1000)
    checks = {}
    for m, page in pages.items():
        items = page.locator(ITEM).count()
        visibility = page.evaluate("document.visibilityState")
        status = servers[m].request("GET", "api/cull/status").status_code
        checks[m] = {"status_items": items, "visibility": visibility, "cull_status": status}
        expected = (1, 200) if m == "ours" else (0, 404)
        if (items, status) != expected or visibility != "visible":
            raise RuntimeError(f"{m}: {checks[m]}, expected items/status {expected}, visible")
    log(f"  pages settled: {checks}; counting for {window:.0f} s")
    start = time.time()
    while time.time() < start + window:
        # Playwright's sync API delivers events only while it is called: wait in steps.
        pages["ours"].wait_for_timeout(min(1000, (start + window - time.time()) * 1000))
    end = time.time()
    result = {}
    for m, server in servers.items():
        inside = [(method, url) for t, method, url in seen[m] if start <= t < end]
        counts = Counter(f"{method} {group(url, server.url)}" for method, url in inside)
        result[m] = {"counts": counts, "window": end - start, "checks": checks[m]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds counted")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds after the page is up before counting")
    args = parser.parse_args()
    result = measure(args.window, args.settle)
    groups = sorted(set(result["ours"]["counts"]) | set(result["stock"]["counts"]))
    per_min = {m: 60 / r["window"] for m, r in result.items()}
    print(f"{'requests/min':32} {'ours':>7} {'stock':>7} {'diff':>7}")
    for g in groups + ["total"]:
        o, s = ((sum(result[m]["counts"].values()) if g == "total" else result[m]["counts"][g])
                * per_min[m] for m in ("ours", "stock"))
        print(f"{g:32} {o:7.1f} {s:7.1f} {o - s:+7.1f}")


if __name__ == "__main__":
    main()
