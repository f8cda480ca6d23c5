"""``jupyter cull status``: "when will this server stop, and why (or why not)?" in words.

Run it in a user server's terminal (it finds the server it runs in) or as an admin with
``--url`` and ``--token``. It prints what ``GET api/cull/status`` says; ``--json`` prints the
document itself. The wording is built by ``explain()``, a pure function of the document; the
activity source comes worded in the document (the widget shows the same words).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import datetime

from .timeutil import duration
from .timeutil import parse as _time
from .timeutil import span as _span


def _left(iso: str | None, now: datetime) -> str:
    """``in 0:42:13 (at 12:50:00 UTC)``."""
    when = _time(iso)
    return f"in {duration((when - now).total_seconds())} (at {when:%H:%M:%S} UTC)"


def explain(doc: dict) -> str:
    """The status document as a few plain sentences."""
    now = _time(doc["now"])
    s = doc["server"]
    lines = []
    last = f"last activity {_time(s['last_activity']):%H:%M:%S} UTC: " \
           f"{s['last_activity_label']}"
    if s["deadline"] is None:
        why = {
            "busy_kernel": "a kernel is busy, which counts as activity for as long as it runs",
            "busy_terminal": "a command runs in a terminal, which counts as activity for as "
                             "long as it runs",
            "unknown_kernel": "a kernel's state cannot be read now (its gateway is out of "
                              "reach); nothing is stopped on stale facts",
        }.get(s.get("protected_by") or "", "idle stopping is turned off")
        lines.append(f"This server will not be stopped for now: {why}.")
    elif s["reason"] == "max_age":
        lines.append(f"This server stops {_left(s['deadline'], now)}: it reaches its maximum "
                     f"age of {_span(s['max_age'])}, however active it is.")
    else:
        lines.append(f"This server stops {_left(s['deadline'], now)} if nothing else counts "
                     f"as activity: it stops after {_span(s['idle_timeout'])} idle.")
    detail = f" ({s['last_activity_detail']})" if s.get("last_activity_detail") else ""
    lines.append(f"  {last[0].upper()}{last[1:]}{detail}.")
    if s["deadline"] and s["warn_at"]:
        lines.append(f"  A warning is shown {_left(s['warn_at'], now)}.")
    if s["keepalive_until"]:
        lines.append(f"  Kept alive until {_time(s['keepalive_until']):%H:%M:%S} UTC "
                     "(the maximum age still applies).")
    elif s["keepalive_max"]:
        lines.append(f"  You may keep it alive for up to {_span(s['keepalive_max'])} "
                     "(the status bar's menu, or POST api/cull/keepalive).")
    if s.get("max_age_deadline") and s["reason"] != "max_age":
        lines.append(f"  Its maximum age is reached {_left(s['max_age_deadline'], now)}.")

    for k in doc["kernels"]:
        head = f"Kernel {k['name']} {k['id'][:8]} ({k['execution_state']})"
        if k.get("waiting_for_input_since"):
            head += (f", waiting for your input since "
                     f"{_time(k['waiting_for_input_since']):%H:%M:%S} UTC")
        if k["deadline"] and k["reason"] == "dead":
            lines.append(f"{head}: dead; it is being removed.")
        elif k["deadline"]:
            held = " (held by the keep-alive)" if k["protected_by"] == "keepalive" else ""
            lines.append(f"{head}: shut down {_left(k['deadline'], now)} unless used; idle "
                         f"timeout {_span(k['timeout'])}{held}.")
        elif k["protected_by"] == "busy":
            lines.append(f"{head}: kept while it is busy.")
        elif k["protected_by"] == "connected":
            lines.append(f"{head}: kept while a browser tab is connected.")
        elif k["protected_by"] == "unknown":
            lines.append(f"{head}: its state cannot be read now (gateway out of reach); "
                         "not shut down until it can.")
        else:
            lines.append(f"{head}: never shut down for idleness.")
    for t in doc["terminals"]:
        head = f"Terminal {t['name']}"
        if t.get("command"):
            head += (f" (waiting for your input: {t['command']})" if t.get("waiting_for_input")
                     else f" (running {t['command']})")
        if t["protected_by"] == "busy":
            lines.append(f"{head}: kept while the command runs.")
        elif t["deadline"]:
            lines.append(f"{head}: closed {_left(t['deadline'], now)} unless used.")
        else:
            lines.append(f"{head}: never closed for idleness.")

    for p in doc.get("processes") or []:
        lines.append(f"Process {p['pid']} ({p['command']}) used {p['cpu']:g} cores: it counts "
                     "as activity while it works.")
    gw = doc.get("gateway")
    if gw:
        state = "reachable" if gw.get("reachable") else f"unreachable: {gw.get('error')}"
        lines.append(f"Kernels run on the gateway {gw['url']} ({state}).")

    hub = doc.get("hub") or {}
    if hub.get("reporting"):
        state = "never yet" if not hub.get("last_report") else (
            f"last at {_time(hub['last_report']):%H:%M:%S} UTC, "
            + ("ok" if hub.get("last_report_ok") else f"failing: {hub.get('last_error')}"))
        lines.append(f"Activity is reported to JupyterHub ({state}).")
    return "\n".join(lines)


def find_server() -> tuple[str, str]:
    """The URL and token of the server this runs in (or the first one running here)."""
    from jupyter_server.serverapp import list_running_servers

    for info in list_running_servers():
        token = info.get("token") or os.environ.get("JUPYTERHUB_API_TOKEN", "")
        return info["url"], token
    raise SystemExit("No running Jupyter server found here; pass --url and --token.")


def fetch(url: str, token: str) -> dict:
    req = urllib.request.Request(url.rstrip("/") + "/api/cull/status")
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{url}: HTTP {e.code} {e.reason}") from None
    except OSError as e:
        raise SystemExit(f"{url}: {e}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="jupyter cull", description="When will this Jupyter server stop, and why?")
    parser.add_argument("command", nargs="?", default="status", choices=["status"])
    parser.add_argument("--url", help="the server's URL, base_url included "
                                      "(default: the server this runs in)")
    parser.add_argument("--token", default=os.environ.get("JUPYTER_TOKEN"),
                        help="an API token (default: $JUPYTER_TOKEN or the server's own)")
    parser.add_argument("--json", action="store_true", help="print the status document")
    args = parser.parse_args(argv)
    url, token = (args.url, args.token or "") if args.url else find_server()
    doc = fetch(url, args.token or token)
    print(json.dumps(doc, indent=2) if args.json else explain(doc))


if __name__ == "__main__":
    main(sys.argv[1:])
