"""Helpers shared by the reliability tests (``tests/conftest.py``'s fixtures apply too)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import parse_time

#: The promise (README): a kernel, terminal or server is stopped within about 2 s of the
#: deadline the status showed.
LATE = 2.0
#: Measurement slack for "not before the deadline" (the request that last saw an item was
#: sent before the deadline by at most this much scheduling noise).
EARLY = 0.3
LOG_NAME = ".jupyter-server-log.txt"


@pytest.fixture
def server_log(jp_home_dir: Path) -> Callable[[], str]:
    """The server log file's text (the default path, under the test server's HOME)."""
    return lambda: (jp_home_dir / LOG_NAME).read_text()


def extension(serverapp: Any) -> Any:
    return serverapp.web_app.settings["jupyter_cull_ext"]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


class Watch:
    """When each kernel or terminal was last seen listed and first seen gone, polling
    ``GET api/{kind}`` as a browser tab does, on the monotonic clock."""

    def __init__(self, jp_fetch: Any, kind: str):
        self.jp_fetch, self.kind = jp_fetch, kind
        self.last_seen: dict[str, float] = {}  # ident -> send time of the last listing with it
        self.gone: dict[str, float] = {}  # ident -> return time of the first listing without it

    async def poll(self) -> set[str]:
        sent = time.monotonic()
        r = await self.jp_fetch("api", self.kind)
        returned = time.monotonic()
        listed = {x.get("id", x.get("name")) for x in json.loads(r.body)}
        for ident in listed:
            self.last_seen[ident] = sent
        for ident in set(self.last_seen) - listed:
            self.gone.setdefault(ident, returned)
        return listed

    async def until_gone(self, idents: set[str], timeout: float, interval: float = 0.1) -> None:
        limit = time.monotonic() + timeout
        while True:
            await self.poll()
            if idents <= set(self.gone):
                return
            assert time.monotonic() < limit, (
                f"{sorted(idents - set(self.gone))} still listed after {timeout} s")
            await asyncio.sleep(interval)


async def settled_deadline(status: Callable[[], Awaitable[dict]], kind: str, ident: str,
                           timeout: float = 15) -> tuple[dict, float]:
    """Poll the status until the item's deadline has not moved for 0.6 s (a fresh kernel's
    start-up messages move it once); return its entry and the deadline on the monotonic
    clock (wall deadline minus the status's ``now``, plus the monotonic time of the read)."""
    key = "id" if kind == "kernels" else "name"
    limit = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        before = time.monotonic()
        doc = await status()
        after = time.monotonic()
        (entry,) = [x for x in doc[kind] if x[key] == ident]
        if entry["deadline"] != last:
            last, since = entry["deadline"], after
        elif after - since >= 0.6:
            left = (parse_time(entry["deadline"]) - parse_time(doc["now"])).total_seconds()
            return entry, (before + after) / 2 + left
        assert after < limit, f"{kind} {ident}: deadline kept moving: {entry}"
        await asyncio.sleep(0.1)


def cpu_seconds() -> float:
    """CPU time of this process (the in-process server), user + system."""
    t = os.times()
    return t.user + t.system
