"""Kernels on a gateway (Kernel Gateway, Enterprise Gateway): their facts, kept fresh.

With ``GatewayClient.url`` set, kernels run elsewhere and their state, connections and last
activity live on the gateway; jupyter_server learns them only when it lists the kernels. The
refresher here lists them on its own schedule (often near a deadline, seldom otherwise, not
at all with no remote kernel) so that decisions, which are synchronous, can read them.

Policy when the gateway is in trouble: a remote kernel's facts count only if the latest
listing succeeded, included it and is not overdue by more than ``GRACE``. Otherwise it is *unknown*:
never culled, and it holds the server up like a busy kernel (``policy``), because a kernel
we cannot see may be working. One log line when a burst of failures starts, one on recovery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tornado.ioloop import PeriodicCallback

from . import timeutil

#: Seconds between listings while a deadline is near (or a timeout is short).
FAST = 1.0
#: Seconds between listings otherwise.
SLOW = 10.0
#: Seconds a listing may take before it counts as failed.
TIMEOUT = 5.0
#: Facts older than the current interval plus this many seconds are unknown (a listing
#: hung, or the event loop stalled).
GRACE = 2.0


def watcher(serverapp: Any, log: Any,
            decide: Callable[[], Any]) -> GatewayWatcher | None:
    """A refresher for the server's kernels if they run on a gateway, else None."""
    from jupyter_server.gateway.managers import GatewayMappingKernelManager

    km = serverapp.kernel_manager
    if not isinstance(km, GatewayMappingKernelManager):
        return None
    url = getattr(serverapp, "gateway_config", None)
    return GatewayWatcher(km, getattr(url, "url", None) or "", log,
                          lambda: decide().next_deadline())


class GatewayWatcher:
    """Lists the gateway's kernels in the background and says which facts are fresh."""

    def __init__(self, kernel_manager: Any, url: str, log: Any,
                 next_deadline: Callable[[], datetime | None]):
        self.km = kernel_manager
        self.url = url
        self.log = log
        self.next_deadline = next_deadline  # the decisions' next deadline: when to hurry
        self.last_ok: datetime | None = None
        self.error: str | None = None  # the latest listing's failure, None if it succeeded
        self.failing_since: datetime | None = None
        self.listed: frozenset[str] = frozenset()  # kernel ids in the latest good listing
        self.requests = 0  # listings sent (benchmarks read it)
        self._last_try: datetime | None = None
        self._interval = FAST  # the current interval between listings
        # Looks every FAST seconds whether a listing is due (a tick waits for its listing).
        self.timer = PeriodicCallback(self._tick, FAST * 1000)

    async def _tick(self) -> None:
        try:
            if self._due(timeutil.utcnow()):
                await self.refresh()
        except Exception:  # never let the refresher die: decisions would go unknown
            self.log.exception("Gateway refresher failed; retrying")

    def _due(self, now: datetime) -> bool:
        """Whether to list now: a kernel we have not seen listed, or the interval is up."""
        ids = set(self.km._kernels)
        if not ids:
            return False
        if not ids <= self.listed or self._last_try is None:
            return True
        self._interval = self.interval(now)
        return now - self._last_try >= timedelta(seconds=self._interval)

    def interval(self, now: datetime) -> float:
        """``FAST`` while failing, when a deadline is near, or when a timeout is so short
        that a kernel going idle could be due before the next slow look; else ``SLOW``."""
        if self.error is not None:
            return FAST
        try:
            nxt = self.next_deadline()
        except Exception:
            return FAST
        if nxt is not None and (nxt - now).total_seconds() <= SLOW + FAST:
            return FAST
        timeouts = [self.km.cull_idle_timeout, self._server_timeout()]
        return FAST if any(0 < t <= SLOW + FAST for t in timeouts) else SLOW

    def _server_timeout(self) -> float:
        app = getattr(self.km, "parent", None)
        return getattr(app, "shutdown_no_activity_timeout", 0) or 0

    async def refresh(self) -> None:
        """One listing; jupyter_server's own ``list_kernels`` updates each remote kernel's
        state, last activity and connections (and forgets kernels the gateway culled)."""
        started = self._last_try = timeutil.utcnow()
        self.requests += 1
        try:
            models = await asyncio.wait_for(self.km.list_kernels(), TIMEOUT)
        except Exception as e:
            self._failed(started, e)
            return
        self.listed = frozenset(m["id"] for m in models)
        self.last_ok = started
        if self.error is not None:
            self.log.warning("Gateway %s reachable again after %s; remote kernels are judged "
                             "on fresh facts again.", self.url,
                             timeutil.duration((started - (self.failing_since or started)).total_seconds()))
        self.error, self.failing_since = None, None

    def _failed(self, when: datetime, e: Exception) -> None:
        reason = describe(e)
        if self.error is None:  # a burst begins: one line, not one per attempt
            self.failing_since = when
            self.log.warning(
                "Gateway %s unreachable (%s): remote kernels are not culled and do not let "
                "the server stop until it answers again.", self.url, reason)
        self.error = reason

    def known(self, kernel_id: str, now: datetime) -> bool:
        """Whether this remote kernel's facts are fresh enough to decide on."""
        return (self.error is None and self.last_ok is not None
                and kernel_id in self.listed
                and (now - self.last_ok).total_seconds() <= self._interval + GRACE)

    def status(self, now: datetime) -> dict:
        """The ``gateway`` part of the status document."""
        return {
            "url": self.url,
            "reachable": None if self.last_ok is None and self.error is None
            else self.error is None,
            "last_ok": timeutil.isoformat(self.last_ok),
            "error": self.error,
            "facts_age": None if self.last_ok is None
            else round((now - self.last_ok).total_seconds(), 3),
            "max_age": self._interval + GRACE,
        }


def describe(e: BaseException) -> str:
    """A failure in a line, for the log and the status (tornado's HTTPError says
    ``HTTP 503: Service Unavailable (...)``)."""
    if isinstance(e, asyncio.TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    return (str(e) or type(e).__name__).split("\n", 1)[0][:300]
