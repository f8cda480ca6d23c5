"""Announcing decisions: one readable log line, one event and a metric for each.

The enforcer decides *when*; this module says *what happened and why* in the words admins
and users read in ``~/.jupyter-server-log.txt`` ("why was my server stopped?"). Each line
names the reason and the durations behind it, and the same words go into the event's ``msg``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import metrics, policy
from .timeutil import duration, isoformat

#: Decisions that stop something, and the ``kind`` label of the culls metric.
CULL_KINDS = {"kernel_culled": "kernel", "terminal_culled": "terminal",
              "server_stopping": "server"}


class Announcer:
    """Logs, emits (``events.CullEvents.emit``) and counts each decision."""

    def __init__(self, log: Any, emit: Callable[..., None] | None = None):
        self.log = log
        self.emit = emit or (lambda kind, **fields: None)

    def decided(self, kind: str, level: int, fmt: str, *args: Any, **fields: Any) -> None:
        """Log a decision as one line and emit it as an event of action ``kind``."""
        self.log.log(level, fmt, *args)
        self.emit(kind, msg=fmt % args, **fields)
        if kind in CULL_KINDS:
            metrics.CULLS.labels(CULL_KINDS[kind], fields.get("reason") or "idle").inc()

    def kernel_culled(self, k: policy.KernelDecision, now: datetime, path: str | None) -> None:
        kid = k.kernel.id
        where = f", session {path!r}" if path else ""
        fields = dict(kernel_id=kid, kernel_name=k.kernel.name, path=path, reason=k.reason)
        if k.reason == "dead":
            self.decided("kernel_culled", logging.WARNING, "Culling dead kernel %s (%s%s).",
                         kid, k.kernel.name, where, **fields)
            return
        idle = (now - k.kernel.last_activity).total_seconds()
        conns = k.kernel.connections
        self.decided(
            "kernel_culled", logging.WARNING,
            "Culling idle kernel %s (%s%s): idle for %s >= timeout %s%s.",
            kid, k.kernel.name, where, duration(idle), duration(k.kernel.timeout),
            f", {conns} connection(s)" if conns else "",
            idle_seconds=round(idle, 3), timeout_seconds=k.kernel.timeout,
            connections=conns, **fields)

    def terminal_culled(self, t: policy.TerminalDecision, now: datetime) -> None:
        idle = (now - t.terminal.last_activity).total_seconds()
        self.decided("terminal_culled", logging.WARNING,
                     "Culling idle terminal %s: idle for %s >= timeout %s.",
                     t.terminal.name, duration(idle), duration(t.timeout),
                     terminal=t.terminal.name, reason="idle", idle_seconds=round(idle, 3),
                     timeout_seconds=t.timeout)

    def server_stopping(self, decision: policy.Decision) -> None:
        s, cfg, now = decision.server, decision.settings, decision.now
        fields = dict(reason=s.reason, kernels=len(decision.kernels),
                      terminals=len(decision.terminals),
                      last_activity=isoformat(s.last_activity),
                      last_activity_source=s.last_activity_source)
        source = _source(s)
        if s.reason == "max_age":
            age = (now - cfg.started).total_seconds()
            self.decided("server_stopping", logging.WARNING,
                         "Stopping server: reached its max age (%s >= %s, started %s).",
                         duration(age), duration(cfg.max_age), isoformat(cfg.started),
                         age_seconds=round(age, 3), max_age_seconds=cfg.max_age,
                         started=isoformat(cfg.started), **fields)
            return
        idle = (now - s.last_activity).total_seconds()
        self.decided(
            "server_stopping", logging.WARNING,
            "Stopping server: idle for %s >= timeout %s (last activity: %s at %s); "
            "%d kernel(s) and %d terminal(s) shut down with it.",
            duration(idle), duration(cfg.server_timeout), source,
            isoformat(s.last_activity), len(decision.kernels), len(decision.terminals),
            idle_seconds=round(idle, 3), timeout_seconds=cfg.server_timeout, **fields)

    def warning(self, decision: policy.Decision) -> None:
        s, cfg = decision.server, decision.settings
        left = (s.deadline - decision.now).total_seconds()
        if s.reason == "max_age":
            why = f"it reaches its max age of {duration(cfg.max_age)}"
        else:
            why = (f"idle since {isoformat(s.last_activity)} (last activity: "
                   f"{_source(s)}), timeout {duration(cfg.server_timeout)}")
            if s.protected_by == policy.KEEPALIVE:
                why += f", kept alive until {isoformat(decision.keepalive_until)}"
        self.decided("warning", logging.WARNING, "Server will stop in %s (at %s): %s.",
                     duration(left), isoformat(s.deadline), why,
                     reason=s.reason, deadline=isoformat(s.deadline),
                     seconds_left=round(left, 3), last_activity=isoformat(s.last_activity),
                     last_activity_source=s.last_activity_source)

    def keepalive_refused(self, refusal: str, secs: float, cap: float, who: str) -> None:
        self.decided("keepalive_refused", logging.INFO, "Keep-alive refused: %s%s.",
                     refusal, _asked_by(who), by="user", user=who or None,
                     requested_seconds=secs, cap_seconds=cap)

    def keepalive_cancelled(self, was: datetime, who: str) -> None:
        self.decided("keepalive_cancelled", logging.INFO,
                     "Keep-alive cancelled (was until %s)%s.", isoformat(was), _asked_by(who),
                     by="user", user=who or None, keepalive_until=isoformat(was))

    def keepalive_requested(self, secs: float, cap: float, until: datetime, who: str) -> None:
        self.decided("keepalive_requested", logging.INFO,
                     "Keep-alive requested for %s (cap %s): until %s%s.", duration(secs),
                     duration(cap), isoformat(until), _asked_by(who), by="user",
                     user=who or None, requested_seconds=secs, cap_seconds=cap,
                     keepalive_until=isoformat(until))


def _source(s: policy.ServerDecision) -> str:
    """The last activity's source, with what it was where the name is not enough."""
    detail = f" ({s.last_activity_detail})" if s.last_activity_detail else ""
    return f"{s.last_activity_source}{detail}"


def _asked_by(who: str) -> str:
    """Who asked: under JupyterHub sharing a guest may act on someone else's server."""
    return f" (asked by {who})" if who else ""
