"""The hub companion: stop each server at its deadline, found through the hub's REST API.

How it keeps the "at most 2 s late" promise without hammering the hub:

- A *sweep* lists the users with ready servers (``GET users?state=ready``, paginated) every
  ``cull_every`` seconds and computes each server's deadline (``rules.decide``). Servers
  already past it are stopped once the listing is complete (stopping while paging would shift
  the later pages); the others get a timer at their deadline.
- When a timer fires, that one user is read again (the server may have been restarted, its
  activity may have moved, its user may have changed groups) and the server is stopped if it
  is still due, else re-scheduled. Pending servers are never touched.
- ``DELETE`` answers 204 (stopped), 202 (stopping slowly: checked again later until it is gone)
  or 404 (already gone). Every failure is confined to its server and retried with backoff; a
  sweep that fails (hub restarting) keeps the scheduled deadlines and is retried sooner.

``cull_max_age(url, api_token, ...)`` takes every input as an argument; the command line
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
from .hubapi import PAGE_SIZE, HubAPI, HubError, internal_ssl_context
from .rules import Policy, Server, Verdict, decide, describe, servers_of

Key = tuple[str, str]

#: Seconds past a deadline at which its timer fires: the re-read must find the server due.
EPSILON = 0.02
#: First retry after a failed stop (doubling per failure up to RETRY_MAX).
RETRY, RETRY_MAX = 1.0, 16.0
#: First re-check of a slow (202) stop (doubling up to SLOW_STOP_MAX).
SLOW_STOP, SLOW_STOP_MAX = 2.0, 60.0
#: Scopes the hub shows a token with ours, implied by them.
IMPLIED_SCOPES = {"read:users:name"}


def default_cull_every(policy: Policy) -> int:
    """Sweep often enough to find a new server well before its deadline: a quarter of the
    shortest duration in the policy, between 1 s and 5 min."""
    return min(max(policy.shortest() // 4, 1), 300) if policy.shortest() else 300


class Companion:
    """The scheduler. ``api`` talks to the hub; ``utcnow`` is the clock."""

    def __init__(self, api: HubAPI, policy: Policy, *, cull_every: float = 0,
                 dry_run: bool = False, remove_named_servers: bool = False,
                 log: logging.Logger | logging.LoggerAdapter | None = None,
                 utcnow: Callable[[], datetime] = utcnow):
        self.api = api
        self.policy = policy
        self.cull_every = cull_every or default_cull_every(policy)
        self.dry_run = dry_run
        self.remove_named_servers = remove_named_servers
        self.log = log or logging.getLogger("jupyter_cull_ext.hub")
        self.utcnow = utcnow
        self.scheduled: dict[Key, tuple[datetime | None, asyncio.TimerHandle]] = {}
        self.stopping: set[Key] = set()  # a DELETE is under way, or a slow stop is watched
        self.stopped: dict[Key, datetime | None] = {}  # key -> `started` of what we stopped
        self.attempts: dict[Key, int] = {}  # failed attempts per server
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
                    verdict = decide(server, self.policy)
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
        self._forget(seen)
        now = self.utcnow()
        results = await asyncio.gather(
            *(self._stop(v, now, watch=watch_slow_stops) for v in due))
        nxt = min(((d, k) for k, (d, _) in self.scheduled.items() if d), default=None)
        level = logging.INFO if self.sweeps == 1 or due else logging.DEBUG
        self.log.log(
            level, "Sweep %d: %d users with ready servers, %d servers (%d left alone), %d due "
            "now, %d scheduled%s; %d hub requests in %.2f s.", self.sweeps, users, len(seen),
            skipped, len(due), len(self.scheduled),
            f" (next: {_label(nxt[1])} at {isoformat(nxt[0])})" if nxt else "",
            self.api.requests - requests, time.monotonic() - started)
        return all(results)

    def _check_groups_visible(self, user: Mapping) -> None:
        if self.policy.needs_groups and "groups" not in user and not self._groups_warned:
            self._groups_warned = True
            self.log.warning(
                "This token cannot read group membership (scope read:users:groups): the "
                "default max age applies to every user.")

    def _plan(self, verdict: Verdict, due: list[Verdict]) -> None:
        key = verdict.server.key
        if key in self.stopping:
            return
        if verdict.due(self.utcnow()):
            self._unschedule(key)
            due.append(verdict)
        elif verdict.skip is None and verdict.deadline is not None:
            if self.scheduling and self.scheduled.get(key, (None,))[0] != verdict.deadline:
                self._schedule(key, verdict.deadline)
        else:
            if verdict.skip:
                self.log.debug("Leaving server %s alone: %s", verdict.server.label,
                               verdict.skip)
            self._unschedule(key)

    def _forget(self, seen: set[Key]) -> None:
        """Drop what we know about servers that are no longer running."""
        for key in [k for k in self.scheduled if k not in seen]:
            self._unschedule(key)
        for table in (self.stopped, self.attempts):
            for key in [k for k in table if k not in seen]:
                del table[key]

    # --- deadlines -------------------------------------------------------------------------

    def _schedule(self, key: Key, deadline: datetime | None, delay: float | None = None):
        self._unschedule(key)
        if delay is None:
            assert deadline is not None
            delay = max((deadline - self.utcnow()).total_seconds(), 0) + EPSILON
        handle = asyncio.get_running_loop().call_later(delay, self._fire, key)
        self.scheduled[key] = (deadline, handle)

    def _unschedule(self, key: Key) -> None:
        entry = self.scheduled.pop(key, None)
        if entry is not None:
            entry[1].cancel()

    def _fire(self, key: Key) -> None:
        self.scheduled.pop(key, None)
        self._spawn(self._at_deadline(key))

    async def _at_deadline(self, key: Key) -> None:
        """A deadline arrived: read the user again and stop the server if still due."""
        if key in self.stopping:
            return
        try:
            server = await self._read(key)
        except HubError as e:
            self._failed(key, None, f"could not read it at its deadline: {e}")
            return
        if server is None:
            self.log.debug("Server %s is gone.", _label(key))
            return
        verdict, now = decide(server, self.policy), self.utcnow()
        if verdict.due(now):
            await self._stop(verdict, now)
        elif verdict.skip is None and verdict.deadline is not None:
            self.log.debug("Server %s has a new deadline %s.", server.label,
                           isoformat(verdict.deadline))
            self._schedule(key, verdict.deadline)
        else:
            self.log.debug("Not stopping server %s at its deadline: %s.", server.label,
                           verdict.skip or "no deadline any more")

    async def _read(self, key: Key) -> Server | None:
        user = await self.api.user(key[0])
        servers = servers_of(user) if user else []
        return next((s for s in servers if s.name == key[1]), None)

    # --- stopping --------------------------------------------------------------------------

    async def _stop(self, verdict: Verdict, now: datetime, watch: bool = True) -> bool:
        """Stop one due server (or, in a dry run, say so). True if the hub accepted it."""
        server, key = verdict.server, verdict.server.key
        if key in self.stopping or self.stopped.get(key, False) == server.started:
            return True
        self._unschedule(key)
        text = describe(verdict, self.policy, now)
        if self.dry_run:
            self.stopped[key] = server.started
            self.log.info("Would stop server %s (dry run): %s", server.label, text)
            return True
        remove = bool(server.name) and self.remove_named_servers
        self.log.info("Stopping %sserver %s: %s", "and removing " if remove else "",
                      server.label, text)
        self.stopping.add(key)
        try:
            code = await self.api.stop_server(server.user, server.name, remove=remove)
        except HubError as e:
            self.stopping.discard(key)
            self._failed(key, verdict.deadline, f"stopping it failed: {e}")
            return False
        self.attempts.pop(key, None)
        if code == 202:
            if watch:
                self.log.warning("Server %s is slow to stop; checking again in %.0f s.",
                                 server.label, SLOW_STOP)
                self._spawn(self._watch_slow_stop(server))
                return True
            self.log.warning("Server %s is slow to stop; the hub is finishing it.",
                             server.label)
        elif code == 404:
            self.log.info("Server %s was already gone.", server.label)
        else:
            self.log.info("Stopped %sserver %s.", "and removed " if remove else "",
                          server.label)
        self.stopping.discard(key)
        self.stopped[key] = server.started
        return True

    async def _watch_slow_stop(self, server: Server) -> None:
        """After a 202, check again (with backoff) until the server is gone."""
        key, delay, since = server.key, SLOW_STOP, time.monotonic()
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, SLOW_STOP_MAX)
            try:
                now_server = await self._read(key)
            except HubError as e:
                self.log.warning("Checking slow stop of server %s failed: %s", server.label, e)
                continue
            if now_server is not None and now_server.started == server.started:
                if now_server.pending == "stop":
                    self.log.debug("Server %s is still stopping.", server.label)
                    continue
                if now_server.ready:
                    self.log.warning("Server %s is still running after a slow stop; "
                                     "stopping it again.", server.label)
                    self.stopping.discard(key)
                    await self._stop(decide(now_server, self.policy), self.utcnow())
                    return
            self.log.info("Server %s has stopped (%.0f s after the stop request).",
                          server.label, time.monotonic() - since)
            self.stopping.discard(key)
            self.stopped[key] = server.started
            return

    def _failed(self, key: Key, deadline: datetime | None, message: str) -> None:
        """One server's failure: log it (once per burst) and try again later."""
        n = self.attempts[key] = self.attempts.get(key, 0) + 1
        delay = min(RETRY * 2 ** (n - 1), RETRY_MAX)
        level = logging.ERROR if n == 1 else logging.DEBUG
        self.log.log(level, "Server %s: %s; retrying in %.0f s.", _label(key), message, delay)
        if self.scheduling:
            self._schedule(key, deadline, delay)

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

    async def check_scopes(self) -> None:
        """Say if the token lacks a scope the policy needs, or has more than it needs."""
        try:
            _, me = await self.api.request("GET", "user")
        except HubError as e:
            self.log.warning("Could not read this token's scopes: %s", e)
            return
        have = {scope.split("!")[0] for scope in me.get("scopes", [])}
        missing = [scope for scope in self.policy.scopes if scope not in have]
        extra = sorted(have - set(self.policy.scopes) - IMPLIED_SCOPES)
        if missing:
            self.log.error("This token lacks scope(s) %s; see docs/hub.md.", ", ".join(missing))
        if extra:
            self.log.warning("This token has scopes it does not need: %s.", ", ".join(extra))

    async def run_forever(self) -> None:
        self.log.info("Sweeping every %s s; stopping servers at their deadlines%s.",
                      self.cull_every, " (dry run: stopping nothing)" if self.dry_run else "")
        await self.check_scopes()
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


def _label(key: Key) -> str:
    return f"{key[0]}/{key[1]}" if key[1] else key[0]


async def cull_max_age(
    url: str,
    api_token: str,
    max_age: int = 0,
    *,
    group_max_age: Mapping[str, int] | None = None,
    timeout: int = 0,
    cull_every: float = 0,
    concurrency: int = 10,
    api_page_size: int = PAGE_SIZE,
    dry_run: bool = False,
    once: bool = False,
    remove_named_servers: bool = False,
    cull_default_servers: bool = True,
    cull_named_servers: bool = True,
    ssl_enabled: bool = False,
    internal_certs_location: str = "internal-ssl",
    logger: logging.Logger | None = None,
    utcnow: Callable[[], datetime] = utcnow,
) -> bool:
    """Stop servers older than their max age (and, with ``timeout``, idle ones).

    With ``once``, make one pass and return whether it succeeded; otherwise run until
    cancelled. Seconds throughout; 0 disables a limit. ``group_max_age`` is ordered: a user's
    first group in it decides the max age (requires scope ``read:users:groups``).
    """
    policy = Policy.create(max_age, group_max_age, timeout, cull_default_servers,
                           cull_named_servers)
    api = HubAPI(url, api_token, concurrency=concurrency, page_size=api_page_size,
                 ssl_context=internal_ssl_context(internal_certs_location) if ssl_enabled
                 else None)
    companion = Companion(api, policy, cull_every=cull_every, dry_run=dry_run,
                          remove_named_servers=remove_named_servers, log=logger,
                          utcnow=utcnow)
    try:
        if once:
            return await companion.run_once()
        await companion.run_forever()
        return True  # not reached
    finally:
        companion.close()
        api.close()
