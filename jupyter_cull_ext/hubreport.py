"""Report activity to JupyterHub (``notify_activity``), from our activity model.

The hub's ``last_activity`` is what admins see and what hub-side cullers act on. The stock
reporter in jupyterhub-singleuser re-sends the same timestamp every 300 s, reports polling
tabs as activity and never reports a kernel silently busy with a long job. This one:

- reports the first activity after a quiet period within seconds (it looks every
  ``CHECK_EVERY`` seconds, and at once when something counts);
- while active, reports at most once per interval (±10 % jitter), with the latest value;
- never reports while nothing counted has happened (unchanged timestamps are not re-sent);
- reports a busy kernel or an active keep-alive as *now* at each report (never a future
  time: the hub rejects those);
- on failure backs off exponentially with jitter, logs one ERROR line per failure burst and
  one INFO line when reports succeed again; it never raises into the server.

Each response's ``Date`` header tells the hub's clock: the status document shows the skew
(``clock_skew_seconds``, hub minus server, whole seconds), since the server warns and saves on
its own clock while the hub companion stops it on the hub's.

Only one reporter may run per server: when jupyterhub-singleuser's extension is loaded, the
app sets its ``hub_activity_interval`` to 0 before it starts, so the stock one sends nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from . import metrics, timeutil
from .activity import shifted
from .knobs import ConfigError
from .timeutil import utcnow

#: How often (seconds) the reporter looks for activity nobody told it about (kernel output).
CHECK_EVERY = 2.0
#: The shortest activity interval (seconds) accepted from the environment; 0 is off.
MIN_INTERVAL = 1.0
#: Backoff bounds (seconds) after a failed report.
BACKOFF_START, BACKOFF_MAX = 1.0, 60.0
#: Seconds a report may take before it counts as failed, so a hub that hangs only delays
#: the next report.
REQUEST_TIMEOUT = 10.0


def jittered(seconds: float, rand: Callable[[], float] = random.random) -> float:
    """``seconds`` ±10 %, so many servers started together do not report together."""
    return seconds * (1 + 0.2 * (rand() - 0.5))


def clock_skew(date_header: str | None, sent: datetime, received: datetime) -> int | None:
    """The hub's clock minus ours, in whole seconds, from one response's ``Date`` header (None
    without a readable one). The header is truncated to the second and was stamped between
    ``sent`` and ``received``, so the skew lies between ``date - received`` and
    ``date + 1 - sent``: the middle of that, rounded, is right to about a second."""
    try:
        date = parsedate_to_datetime(date_header or "")
    except (TypeError, ValueError):
        return None
    if date.tzinfo is None:
        return None
    low = (date - received).total_seconds()
    high = (date - sent).total_seconds() + 1
    return round((low + high) / 2)


def payload(server_name: str, when: datetime) -> dict:
    """The body jupyterhub-singleuser sends to ``$JUPYTERHUB_ACTIVITY_URL``."""
    ts = timeutil.isoformat(when)
    return {"servers": {server_name: {"last_activity": ts}}, "last_activity": ts}


def ssl_options_from_env(env: dict[str, str]) -> dict[str, Any]:
    """TLS client options for a hub with internal_ssl (the same variables the hub sets)."""
    certfile, keyfile = env.get("JUPYTERHUB_SSL_CERTFILE"), env.get("JUPYTERHUB_SSL_KEYFILE")
    cafile = env.get("JUPYTERHUB_SSL_CLIENT_CA")
    if not (certfile and keyfile):
        return {}
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.load_cert_chain(certfile, keyfile)
    return {"ssl_options": context}


class HubReporter:
    """Sends the server's refined last activity to the hub, promptly and sparingly."""

    def __init__(
        self,
        url: str,
        token: str,
        server_name: str,
        interval: float,
        last_activity: Callable[[], datetime],
        log: Any,
        request_options: dict[str, Any] | None = None,
        on_event: Callable[..., None] | None = None,
        already_known: datetime | None = None,
    ):
        self.url = url
        self.token = token
        self.server_name = server_name
        self.interval = interval
        self.last_activity = last_activity
        self.log = log
        self.request_options = request_options or {}
        self.on_event = on_event or (lambda kind, **fields: None)
        # The activity time the hub has; it set last_activity itself when it spawned us, so
        # the server's own start is not worth a report.
        self.sent: datetime | None = already_known
        self.last_report: datetime | None = None  # when we last tried
        self.last_report_ok: bool | None = None
        self.last_error: str | None = None
        self.clock_skew: int | None = None  # hub clock minus ours (s), from the last answer
        self.reports = 0
        self._next_allowed: float = 0.0  # loop time before which we do not report again
        self._failures = 0
        self._failing_since: datetime | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def clock_jumped(self, jump: timedelta, since: datetime, now: datetime) -> None:
        """The wall clock jumped (``activity.Clock``), and every activity time moved with it:
        so does the time the hub was last sent. Otherwise, after a backward jump of an hour,
        nothing new would look newer than it, and reports would stop for that hour."""
        self.sent = shifted(self.sent, jump, since, now)
        self.clock_skew = None  # measured against the old clock: unknown until the next report

    def poke(self, source: str = "") -> None:
        """Something counted: look now instead of at the next check."""
        self._wake.set()

    def status(self) -> dict:
        """The ``hub`` part of the status document."""
        return {
            "reporting": True,
            "interval": self.interval,
            "last_report": timeutil.isoformat(self.last_report),
            "last_report_ok": self.last_report_ok,
            "last_error": self.last_error,
            "last_reported_activity": timeutil.isoformat(self.sent),
            "reports": self.reports,
            "clock_skew_seconds": self.clock_skew,
        }

    # --- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                delay = await self._step(loop.time())
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("Hub activity reporter failed; continuing")
                delay = CHECK_EVERY
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass

    def pending(self) -> datetime | None:
        """The activity time to report, if the hub does not have it yet."""
        now = utcnow()
        when = min(self.last_activity(), now)
        if self.sent is not None and when <= self.sent:
            return None
        return when

    async def _step(self, loop_now: float) -> float:
        """Report if there is something new and we may; return how long to wait."""
        when = self.pending()
        if when is None:
            return CHECK_EVERY
        wait = self._next_allowed - loop_now
        if wait > 0:
            return min(wait, CHECK_EVERY) if self._failures else wait
        ok = await self.report(when)
        loop_now = asyncio.get_running_loop().time()
        if ok:
            self._next_allowed = loop_now + jittered(self.interval)
        else:
            backoff = min(BACKOFF_START * 2 ** (self._failures - 1), BACKOFF_MAX)
            self._next_allowed = loop_now + jittered(backoff)
        return max(self._next_allowed - loop_now, 0.05)

    async def report(self, when: datetime) -> bool:
        """POST one activity report; never raises."""
        self.last_report = utcnow()
        request = HTTPRequest(
            self.url,
            method="POST",
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            body=json.dumps(payload(self.server_name, when)),
            request_timeout=REQUEST_TIMEOUT,
            **self.request_options,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except Exception as e:
            self._read_clock(getattr(e, "response", None))
            metrics.HUB_REPORTS.labels("failed").inc()
            self._failed(e)
            return False
        self._read_clock(response)
        metrics.HUB_REPORTS.labels("ok").inc()
        self.reports += 1
        self.sent = when
        self.last_report_ok = True
        self.last_error = None
        if self._failures:
            down = (utcnow() - self._failing_since).total_seconds()
            self.log.info("Hub activity reports succeed again after %d failure(s) over %s.",
                          self._failures, timeutil.duration(down))
            self.on_event("hub_report_recovered", failures=self._failures, seconds=down)
            self._failures, self._failing_since = 0, None
        self.log.debug("Reported activity %s to the hub", timeutil.isoformat(when))
        return True

    def _read_clock(self, response: Any) -> None:
        """Note the hub's clock from an answer (kept when one has no usable ``Date``)."""
        if response is not None and self.last_report is not None:
            skew = clock_skew(response.headers.get("Date"), self.last_report, utcnow())
            self.clock_skew = self.clock_skew if skew is None else skew

    def _failed(self, error: Exception) -> None:
        self._failures += 1
        self.last_report_ok = False
        self.last_error = f"{type(error).__name__}: {error}"
        self.log.debug("Hub activity report failed", exc_info=True)
        if self._failures == 1:
            self._failing_since = self.last_report
            self.log.error(
                "Could not report activity to the hub (%s); retrying with backoff, "
                "further failures are logged at debug level.", self.last_error)
            self.on_event("hub_report_failing", error=self.last_error)


def hub_token(env: Mapping[str, str]) -> str:
    """This server's hub API token, where the hub's spawners put it ("" outside a hub)."""
    return env.get("JUPYTERHUB_API_TOKEN") or env.get("JPY_API_TOKEN", "")


def reporter_from_env(
    env: dict[str, str], interval: float | None, last_activity: Callable[[], datetime],
    log: Any, on_event: Callable[..., None] | None = None,
    already_known: datetime | None = None,
) -> HubReporter | None:
    """A reporter configured the way jupyterhub-singleuser's is, or None outside a hub or
    with an interval of 0 (reporting off, as in jupyterhub-singleuser)."""
    url = env.get("JUPYTERHUB_ACTIVITY_URL", "")
    token = hub_token(env)
    if not url or not token:
        return None
    if interval is None:
        interval = env_interval(env)
    if interval <= 0:
        return None
    return HubReporter(url, token, env.get("JUPYTERHUB_SERVER_NAME", ""), interval,
                       last_activity, log, ssl_options_from_env(env), on_event, already_known)


def env_interval(env: dict[str, str]) -> float:
    """``$JUPYTERHUB_ACTIVITY_INTERVAL`` (seconds; the hub sets it), else 300; 0 is off. A
    value that is not a number of seconds, or is below ``MIN_INTERVAL`` (with 0.01 the
    reporter would post to the hub many times a second while a kernel is busy), fails
    startup, naming it, like an invalid trait."""
    raw = (env.get("JUPYTERHUB_ACTIVITY_INTERVAL") or "").strip()
    if not raw:
        return 300.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigError(f"JUPYTERHUB_ACTIVITY_INTERVAL={raw!r} is not a number of seconds")
    if 0 < value < MIN_INTERVAL:
        raise ConfigError(f"JUPYTERHUB_ACTIVITY_INTERVAL={raw!r} is below the minimum of "
                          f"{MIN_INTERVAL:g} s (0 turns reporting off)")
    return value
