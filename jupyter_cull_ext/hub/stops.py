"""Stopping one server: the ``DELETE``, a slow (202) stop watched until the server is gone,
and failures retried with backoff. The caller has just read the server again (``Companion``
re-reads before every stop), so what is stopped is the server whose deadline passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from .hubapi import HubAPI, HubError
from .rules import Limits, Server, Verdict, decide, describe, servers_of

Key = tuple[str, str]

#: First retry after a failed stop (doubling per failure up to RETRY_MAX).
RETRY, RETRY_MAX = 1.0, 16.0
#: First re-check of a slow (202) stop (doubling up to SLOW_STOP_MAX).
SLOW_STOP, SLOW_STOP_MAX = 2.0, 60.0


def label(key: Key) -> str:
    return f"{key[0]}/{key[1]}" if key[1] else key[0]


async def read_server(api: HubAPI, key: Key) -> Server | None:
    """One server as the hub shows it now (None: gone)."""
    user = await api.user(key[0])
    return next((s for s in servers_of(user) if s.name == key[1]), None) if user else None


class Stopper:
    """Stops servers and remembers what it stopped. ``retry(key, acts_at, delay)`` is
    called after a failure; ``spawn`` runs a background task (a slow stop's watch)."""

    def __init__(self, api: HubAPI, limits: Limits, log: logging.Logger | logging.LoggerAdapter,
                 *, dry_run: bool, remove_named_servers: bool,
                 retry: Callable[[Key, datetime | None, float], None],
                 spawn: Callable[[Coroutine[Any, Any, Any]], None],
                 utcnow: Callable[[], datetime]):
        self.api, self.limits, self.log = api, limits, log
        self.dry_run = dry_run
        self.remove_named_servers = remove_named_servers
        self.retry, self.spawn, self.utcnow = retry, spawn, utcnow
        self.stopping: set[Key] = set()  # a DELETE is under way, or a slow stop is watched
        self.stopped: dict[Key, datetime | None] = {}  # key -> `started` of what we stopped
        self.attempts: dict[Key, int] = {}  # failed attempts per server

    def forget(self, keep: set[Key]) -> None:
        """Drop what we remember of servers not in ``keep`` (no longer running)."""
        for table in (self.stopped, self.attempts):
            for key in [k for k in table if k not in keep]:
                del table[key]

    async def stop(self, verdict: Verdict, now: datetime, watch: bool = True) -> bool:
        """Stop one due server, as just read (or, in a dry run, say so). True if the hub
        accepted it."""
        server, key = verdict.server, verdict.server.key
        if key in self.stopping or self.stopped.get(key, False) == server.started:
            return True
        text = describe(verdict, self.limits, now)
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
            self.failed(key, verdict.acts_at, f"stopping it failed: {e}")
            return False
        self.attempts.pop(key, None)
        if code == 202:
            if watch:
                self.log.warning("Server %s is slow to stop; checking again in %.0f s.",
                                 server.label, SLOW_STOP)
                self.spawn(self._watch_slow_stop(server))
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
                now_server = await read_server(self.api, key)
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
                    await self.stop(decide(now_server, self.limits), self.utcnow())
                    return
            self.log.info("Server %s has stopped (%.0f s after the stop request).",
                          server.label, time.monotonic() - since)
            self.stopping.discard(key)
            self.stopped[key] = server.started
            return

    def failed(self, key: Key, acts_at: datetime | None, message: str) -> None:
        """One server's failure: log it (once per burst) and try again later."""
        n = self.attempts[key] = self.attempts.get(key, 0) + 1
        delay = min(RETRY * 2 ** (n - 1), RETRY_MAX)
        level = logging.ERROR if n == 1 else logging.DEBUG
        self.log.log(level, "Server %s: %s; retrying in %.0f s.", label(key), message, delay)
        self.retry(key, acts_at, delay)
