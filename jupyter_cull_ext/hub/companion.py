"""The hub companion: stop each server at its deadline, found through the hub's REST API.

How it keeps the "at most 2 s late" promise without hammering the hub:

- A *sweep* lists the users with ready servers (``GET users?state=ready``, paginated) every
  ``cull_every`` seconds and computes each server's deadline (``rules.decide``). Servers
  already past it are stopped once the listing is complete (stopping while paging would shift
  the later pages); the others get a timer at their deadline (plus the server grace).
- A timer is kept until it fires, even when a sweep did not see its server: the listing is
  offset-paginated, so servers stopping during a sweep shift the pages and hide others.
- Every server is read again right before it is stopped (at its timer, or after the sweep that
  found it due): it may have been restarted (a new ``started``), its activity may have moved,
  its user may have changed groups. It is stopped only if it is still due, else re-scheduled.
  Pending servers are never touched.
- ``DELETE`` answers 204 (stopped), 202 (stopping slowly: checked again later until it is gone)
  or 404 (already gone) (``stops.Stopper``). Every failure is confined to its server and
  retried with backoff; a sweep that fails (hub restarting) keeps the scheduled deadlines and
  is retried sooner.

``run_companion(url, api_token, options)`` takes every input as an argument; the command line
(``cli.py``) and tests call it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

from ..timeutil import isoformat, utcnow
from .hubapi import HubAPI, HubError, internal_ssl_context
from .options import Options
from .rules import Limits, Server, Verdict, decide, servers_of
from .stops import RETRY, RETRY_MAX, Key, Stopper, label, read_server

#: Seconds past a deadline at which its timer fires: the re-read must find the server due.
EPSILON = 0.02
#: Scopes the hub shows a token with ours, implied by them.
IMPLIED_SCOPES = {"read:users:name"}


def default_cull_every(limits: Limits) -> int:
    """Sweep often enough to find a new server well before its deadline: a quarter of the
    shortest limit, between 1 s and 5 min."""
    return min(max(limits.shortest() // 4, 1), 300) if limits.shortest() else 300


class Companion:
    """The scheduler. ``api`` talks to the hub; ``utcnow`` is the clock."""

    def __init__(self, api: HubAPI, options: Options, *,
                 log: logging.Logger | logging.LoggerAdapter | None = None,
                 utcnow: Callable[[], datetime] = utcnow):
        self.api = api
        self.limits = options.limits()
        self.cull_every = options.cull_every or default_cull_every(self.limits)
        self.dry_run = options.dry_run
        self.log = log or logging.getLogger("jupyter_cull_ext.hub")
        self.utcnow = utcnow
        self.scheduled: dict[Key, tuple[datetime | None, asyncio.TimerHandle]] = {}
        self.stopper = Stopper(api, self.limits, self.log, dry_run=options.dry_run,
                               remove_named_servers=options.remove_named_servers,
                               retry=self._retry, spawn=self._spawn, utcnow=utcnow)
        self.sweeps = 0
        self._tasks: set[asyncio.Task] = set()
        self._groups_warned = False
        self._failing_since: float | None = None
        self.scheduling = True  # off for a single pass

    # --- sweeps ----------------------------------------------------------------------------

    async def sweep(self, *, watch_slow_stops: bool = True) -> bool:
        """List ready servers, schedule their deadlines and stop those already due. True if
        the listing completed and every stop was accepted."""
        started, requests = time.monotonic(), self.api.requests
        seen: set[Key] = set()
        due: list[Verdict] = []
        users = skipped = 0
        try:
            async for user in self.api.users_ready():
                users += 1
                self._check_groups_visible(user)
                for server in servers_of(user):
                    seen.add(server.key)
                    verdict = decide(server, self.limits)
                    skipped += verdict.skip is not None
                    self._plan(verdict, due)
        except HubError as e:
            # One ERROR line per outage; the deadlines already known stay scheduled.
            first = self._failing_since is None
            self._failing_since = self._failing_since or time.monotonic()
            self.log.log(logging.ERROR if first else logging.DEBUG,
                         "Listing servers failed after %d users: %s; %d deadlines stay "
                         "scheduled; retrying.", users, e, len(self.scheduled))
            return False
        if self._failing_since is not None:
            self.log.warning("Listing servers works again, after %.0f s.",
                             time.monotonic() - self._failing_since)
            self._failing_since = None
        self.sweeps += 1
        self.stopper.forget(seen)
        results = await asyncio.gather(
            *(self.settle(v.server.key, v.server, watch=watch_slow_stops) for v in due))
        nxt = min(((d, k) for k, (d, _) in self.scheduled.items() if d), default=None)
        level = logging.INFO if self.sweeps == 1 or due else logging.DEBUG
        self.log.log(
            level, "Sweep %d: %d users with ready servers, %d servers (%d left alone), %d due "
            "now, %d scheduled%s; %d hub requests in %.2f s.", self.sweeps, users, len(seen),
            skipped, len(due), len(self.scheduled),
            f" (next: {label(nxt[1])} at {isoformat(nxt[0])})" if nxt else "",
            self.api.requests - requests, time.monotonic() - started)
        return all(results)

    def _check_groups_visible(self, user: Mapping) -> None:
        if self.limits.needs_groups and "groups" not in user and not self._groups_warned:
            self._groups_warned = True
            self.log.warning(
                "This token cannot read group membership (scope read:users:groups): the "
                "default max age applies to every user.")

    def _plan(self, verdict: Verdict, due: list[Verdict]) -> None:
        key = verdict.server.key
        if key in self.stopper.stopping:
            return
        if verdict.due(self.utcnow()):
            self._unschedule(key)
            due.append(verdict)
        elif verdict.skip is None and verdict.acts_at is not None:
            if self.scheduling and self.scheduled.get(key, (None,))[0] != verdict.acts_at:
                self._schedule(key, verdict.acts_at)
        else:
            if verdict.skip:
                self.log.debug("Leaving server %s alone: %s", verdict.server.label,
                               verdict.skip)
            self._unschedule(key)

    # --- deadlines -------------------------------------------------------------------------

    def _schedule(self, key: Key, acts_at: datetime | None, delay: float | None = None):
        self._unschedule(key)
        if delay is None:
            assert acts_at is not None
            delay = max((acts_at - self.utcnow()).total_seconds(), 0) + EPSILON
        handle = asyncio.get_running_loop().call_later(delay, self._fire, key)
        self.scheduled[key] = (acts_at, handle)

    def _retry(self, key: Key, acts_at: datetime | None, delay: float) -> None:
        if self.scheduling:
            self._schedule(key, acts_at, delay)

    def _unschedule(self, key: Key) -> None:
        entry = self.scheduled.pop(key, None)
        if entry is not None:
            entry[1].cancel()

    def _fire(self, key: Key) -> None:
        self.scheduled.pop(key, None)
        self._spawn(self.settle(key))

    async def settle(self, key: Key, listed: Server | None = None, watch: bool = True) -> bool:
        """Read one server again and stop it if it is still due, else re-schedule it (a server
        restarted since ``listed``, as a sweep saw it, has a new deadline). True unless reading
        or stopping it failed."""
        if key in self.stopper.stopping:
            return True
        try:
            server = await read_server(self.api, key)
        except HubError as e:
            self.stopper.failed(key, None, f"could not read it before stopping it: {e}")
            return False
        if server is None:
            self.log.debug("Server %s is gone.", label(key))
            return True
        if listed is not None and server.started != listed.started:
            self.log.info("Server %s was restarted since it was listed (started %s, was %s).",
                          server.label, isoformat(server.started), isoformat(listed.started))
        verdict, now = decide(server, self.limits), self.utcnow()
        if verdict.due(now):
            self._unschedule(key)
            return await self.stopper.stop(verdict, now, watch)
        if verdict.skip is None and verdict.acts_at is not None:
            self.log.debug("Server %s has a new deadline %s.", server.label,
                           isoformat(verdict.acts_at))
            if self.scheduling:
                self._schedule(key, verdict.acts_at)
        else:
            self.log.debug("Not stopping server %s: %s.", server.label,
                           verdict.skip or "no deadline any more")
        return True

    # --- running ---------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("Unexpected error", exc_info=task.exception())

    async def run_once(self) -> bool:
        """One pass: stop what is due now (deadlines still ahead are not waited for)."""
        started, self.scheduling = time.monotonic(), False
        ok = await self.sweep(watch_slow_stops=False)
        self.close()
        self.log.info("Pass %s in %.2f s with %d hub API requests.",
                      "done" if ok else "FAILED", time.monotonic() - started,
                      self.api.requests)
        return ok

    async def run_forever(self) -> None:
        self.log.info("Sweeping every %s s; stopping servers at their deadlines%s.",
                      self.cull_every, " (dry run: stopping nothing)" if self.dry_run else "")
        await check_scopes(self.api, self.limits, self.log)
        backoff = RETRY
        while True:
            try:
                ok = await self.sweep()
            except Exception:  # a surprise in one sweep must not end the service
                self.log.exception("Sweep failed")
                ok = False
            if ok:
                backoff, delay = RETRY, self.cull_every
            else:
                delay, backoff = min(backoff, self.cull_every), min(backoff * 2, RETRY_MAX)
            await asyncio.sleep(delay)

    def close(self) -> None:
        for key in list(self.scheduled):
            self._unschedule(key)
        for task in list(self._tasks):
            task.cancel()


async def check_scopes(api: HubAPI, limits: Limits,
                       log: logging.Logger | logging.LoggerAdapter) -> None:
    """Say if the token lacks a scope the limits need, or has more than it needs."""
    try:
        _, me = await api.request("GET", "user")
    except HubError as e:
        log.warning("Could not read this token's scopes: %s", e)
        return
    have = {scope.split("!")[0] for scope in me.get("scopes", [])}
    missing = [scope for scope in limits.scopes if scope not in have]
    extra = sorted(have - set(limits.scopes) - IMPLIED_SCOPES)
    if missing:
        log.error("This token lacks scope(s) %s; see docs/hub.md.", ", ".join(missing))
    if extra:
        log.warning("This token has scopes it does not need: %s.", ", ".join(extra))


async def run_companion(url: str, api_token: str, options: Options = Options(), *,
                        logger: logging.Logger | None = None,
                        utcnow: Callable[[], datetime] = utcnow) -> bool:
    """Stop servers at their max age (and, with ``options.timeout``, idle ones).

    With ``options.once``, make one pass and return whether it succeeded; otherwise run
    until cancelled."""
    options.limits()  # a bad value fails here, naming it, before a client is made
    api = HubAPI(url, api_token, concurrency=options.concurrency,
                 page_size=options.api_page_size,
                 ssl_context=internal_ssl_context(options.internal_certs_location)
                 if options.ssl_enabled else None)
    companion = Companion(api, options, log=logger, utcnow=utcnow)
    try:
        if options.once:
            return await companion.run_once()
        await companion.run_forever()
        return True  # not reached
    finally:
        companion.close()
        api.close()
