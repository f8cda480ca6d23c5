"""The status document of ``GET api/cull/status``: built here and only here.

The widget, ``jupyter cull status``, admins and scripts read it. Its shape is published as
a JSON Schema (``schemas/status.json``, every key required, none extra); the tests validate
real responses against it and generate the widget's TypeScript types from it, so the two
sides cannot drift apart. Every time is ISO 8601 UTC with a ``Z``, every duration seconds.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from . import policy
from .timeutil import isoformat

SCHEMA_FILE = "schemas/status.json"

#: What each activity source means, for people (the widget and ``jupyter cull status``).
SOURCE_LABELS = {
    policy.SERVER_START: "the server starting",
    policy.KERNEL: "kernel activity (running code, completion, widgets)",
    policy.BUSY_KERNEL: "a kernel running code right now",
    policy.TERMINAL: "terminal input or output",
    policy.USER_API: "something you did (saving, renaming, starting or stopping a kernel, ...)",
    policy.PRESENCE: "someone using JupyterLab in a visible tab",
    policy.KEEPALIVE: "a keep-alive request",
    policy.BUSY_TERMINAL: "a command running in a terminal right now",
    policy.INPUT: "someone answering a prompt (input())",
    policy.UNKNOWN_KERNEL: "a kernel whose state cannot be read now (its gateway is out of reach)",
}

#: The ``hub`` part when nothing is reported to a hub. A reporter fills in what it knows;
#: every key is always present.
HUB_OFF: dict = {
    "reporting": False,
    "interval": None,
    "last_report": None,
    "last_report_ok": None,
    "last_error": None,
    "last_reported_activity": None,
    "reports": 0,
    "clock_skew_seconds": None,
}


def source_label(source: str) -> str:
    """A sentence fragment for an activity source (``extension:<key>`` included)."""
    if source.startswith("extension:"):
        return f"the {source.split(':', 1)[1]} extension"
    if source.startswith(policy.PROCESS):
        return f"the process {source[len(policy.PROCESS):]} using CPU"
    return SOURCE_LABELS.get(source, source)


def hub_part(reported: dict | None) -> dict:
    """The ``hub`` part: the reporter's own status (None: no reporter) in the one shape."""
    return {**HUB_OFF, **(reported or {})}


def document(decision: policy.Decision, hub: dict | None = None,
             gateway: dict | None = None) -> dict:
    """The status document for ``decision``; ``hub`` is the reporter's status, if any,
    ``gateway`` the gateway watcher's (None: kernels are local)."""
    s, cfg = decision.server, decision.settings
    return {
        "now": isoformat(decision.now),
        "server": {
            "deadline": isoformat(s.deadline),
            "reason": s.reason,
            "warn_at": isoformat(s.warn_at),
            "autosave_at": isoformat(s.autosave_at),
            "idle_timeout": cfg.server_timeout,
            "idle_deadline": isoformat(s.idle_deadline),
            "max_age": cfg.max_age,
            "max_age_deadline": isoformat(s.max_age_deadline),
            "started": isoformat(cfg.started),
            "last_activity": isoformat(s.last_activity),
            "last_activity_source": s.last_activity_source,
            "last_activity_label": source_label(s.last_activity_source),
            "last_activity_detail": s.last_activity_detail,
            "protected_by": s.protected_by,
            "keepalive_until": isoformat(decision.keepalive_until),
            "keepalive_max": cfg.keepalive_max,
            "warn_before": cfg.warn_before,
            "presence_interval": s.presence_interval,
        },
        "kernels": [
            {
                "id": k.kernel.id,
                "name": k.kernel.name,
                "execution_state": k.kernel.execution_state,
                "connections": k.kernel.connections,
                "last_activity": isoformat(k.kernel.last_activity),
                "timeout": k.kernel.timeout,
                "deadline": isoformat(k.deadline),
                "reason": k.reason,
                "protected_by": k.protected_by,
                "goes_with_server": k.goes_with_server,
                "heads_up_at": isoformat(k.heads_up_at),
                "keepalive_offer": k.keepalive_offer,
                "waiting_for_input_since": isoformat(k.kernel.waiting_since),
            }
            for k in decision.kernels
        ],
        "terminals": [
            {
                "name": t.terminal.name,
                "last_activity": isoformat(t.terminal.last_activity),
                "timeout": t.timeout,
                "deadline": isoformat(t.deadline),
                "protected_by": t.protected_by,
                "command": t.terminal.command,
                "waiting_for_input": t.terminal.waiting_for_input,
            }
            for t in decision.terminals
        ],
        "processes": [
            {"pid": p.pid, "name": p.name, "command": p.command, "cpu": p.cpu,
             "sampled": isoformat(p.sampled), "source": f"{policy.PROCESS}{p.name}"}
            for p in decision.processes
        ],
        "settings": {
            "kernel_timeout": cfg.kernel_timeout,
            "cull_busy": cfg.cull_busy,
            "cull_connected": cfg.cull_connected,
            "terminal_timeout": cfg.terminal_timeout,
            "cull_busy_terminals": cfg.cull_busy_terminals,
        },
        "hub": hub_part(hub),
        "gateway": gateway,
    }


@cache
def schema() -> dict:
    """The JSON Schema of the document, as shipped in the package."""
    return json.loads(files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))
