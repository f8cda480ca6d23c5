"""Prometheus metrics, served on jupyter_server's own ``/metrics``.

Registered once per process in the default registry (the one jupyter_server serves). The
deadline gauges are computed when scraped, from the same decision the status API shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import Counter, Gauge

from . import policy

CULLS = Counter(
    "jupyter_cull_ext_culls_total",
    "Things stopped by jupyter_cull_ext, by kind (kernel, terminal, server) and reason "
    "(idle, dead, max_age).",
    ["kind", "reason"],
)
HUB_REPORTS = Counter(
    "jupyter_cull_ext_hub_reports_total",
    "Activity reports sent to JupyterHub, by outcome (ok, failed).",
    ["outcome"],
)
SECONDS_TO_SERVER_DEADLINE = Gauge(
    "jupyter_cull_ext_server_deadline_seconds",
    "Seconds until the server stops (idle or max age); NaN when nothing will stop it.",
)
SECONDS_TO_NEXT_CULL = Gauge(
    "jupyter_cull_ext_next_cull_seconds",
    "Seconds until the next kernel or terminal is culled; NaN when none will be.",
)


def _seconds(deadline, now) -> float:
    return (deadline - now).total_seconds() if deadline is not None else math.nan


def watch(decide: Callable[[], policy.Decision]) -> None:
    """Let the deadline gauges ask ``decide`` at scrape time."""

    def server() -> float:
        d = decide()
        return _seconds(d.server.deadline, d.now)

    def next_cull() -> float:
        d = decide()
        deadlines = [x.deadline for x in (*d.kernels, *d.terminals) if x.deadline is not None]
        return _seconds(min(deadlines, default=None), d.now)

    SECONDS_TO_SERVER_DEADLINE.set_function(server)
    SECONDS_TO_NEXT_CULL.set_function(next_cull)
