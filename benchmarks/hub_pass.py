"""One pass of our hub companion vs one of jupyterhub-idle-culler --max-age, N running servers.

A real JupyterHub (configurable-http-proxy run separately, sqlite) with N users, each with a
running default server from ``tests/hub/fakehub.FakeSpawner`` (no process). Two kinds of
pass, each run by both tools through their own entry points, one pass each:

- steady: nothing is due (max age one day): what every sweep costs;
- stop-all: every server is due (max age 1 s): after a policy change or an outage. The N
  servers are started again between the two tools. ``--stop-seconds`` makes every stop take
  that long in the spawner (0: stops cost only hub CPU; a real spawner waits for a process,
  container or pod to go away, and the hub awaits that without blocking).

Measured: wall time, and hub API requests from the hub's own Prometheus counter (so both
tools are counted the same way). Each tool uses its default page size (ours: 200, the hub's
maximum; idle-culler: the hub's default, 50), and the steady pass also runs idle-culler with
ours; ``--page-size`` sets one for both. Concurrency 10 for both; they log only warnings.
Needs ``pip install jupyterhub-idle-culler`` (not a project dependency).

    .venv/bin/python benchmarks/hub_pass.py [--users 1000 10000] [--page-size N]
        [--stop-seconds 0] [--steady-only]

``bench()`` returns the measured rows (``benchmarks/run.py`` calls it); ``report()`` prints
them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "hub")]

from hubharness import Hub, free_port, http  # noqa: E402
from hubtools import api_url, fake_spawner_config, hub_config, service_token  # noqa: E402
from jupyterhub_idle_culler import cull_idle  # noqa: E402

from jupyter_cull_ext.hub.companion import default_cull_every, run_companion  # noqa: E402
from jupyter_cull_ext.hub.hubapi import PAGE_SIZE, PAGINATION  # noqa: E402
from jupyter_cull_ext.hub.options import Options  # noqa: E402

TEN_YEARS = 10 * 365 * 24 * 3600
METRIC = re.compile(
    r'^jupyterhub_request_duration_seconds_count\{[^}]*handler="jupyterhub\.apihandlers'
    r'[^}]*\} (\S+)$', re.M)


def get(url: str, **headers: str) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
        return r.read()


def hub_requests(hub: Hub) -> int:
    text = get(f"http://127.0.0.1:{hub.hub_port}/hub/metrics").decode()
    return int(sum(float(n) for n in METRIC.findall(text)))


def start_servers(hub: Hub, names: list[str]) -> float:
    """Start every user's server (32 requests at a time); seconds it took."""
    started = time.monotonic()

    def spawn(name: str) -> None:
        # a generous timeout: a busy hub answers slow spawns only after slow_spawn_timeout
        code, body = http("POST", f"{api_url(hub)}/users/{name}/server", hub.admin_token, {},
                          timeout=120)
        assert code in (201, 202), (name, code, body)

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(spawn, names))
    return time.monotonic() - started


def quiet(name: str) -> logging.Logger:
    log = logging.getLogger(name)
    log.setLevel(logging.WARNING)
    return log


async def ours(hub: Hub, token: str, max_age: int, page_size: int) -> bool:
    options = Options(max_age=max_age, once=True, api_page_size=page_size, server_grace=0)
    return await run_companion(api_url(hub), token, options, logger=quiet("companion"))


async def idle_culler(hub: Hub, token: str, max_age: int, page_size: int) -> bool:
    await cull_idle(api_url(hub), token, inactive_limit=TEN_YEARS, logger=quiet("idle-culler"),
                    max_age=max_age, api_page_size=page_size)
    return True


def contenders(page_size: int | None) -> list[tuple[str, Callable, int]]:
    """(label, tool, page size): each tool with its default page size (and idle-culler with
    ours too, to tell the page size from the rest), or both with ``page_size``."""
    if page_size is not None:
        return [("ours", ours, page_size), ("idle-culler", idle_culler, page_size)]
    return [("ours", ours, PAGE_SIZE), ("idle-culler", idle_culler, 0),
            (f"idle-culler --api-page-size={PAGE_SIZE}", idle_culler, PAGE_SIZE)]


def measure(hub: Hub, tool: Callable, token: str, max_age: int,
            page_size: int) -> tuple[float, int]:
    """Wall time and hub API requests of one pass."""
    before = hub_requests(hub)
    started = time.monotonic()
    ok = asyncio.run(tool(hub, token, max_age, page_size))
    wall = time.monotonic() - started
    assert ok, tool.__name__
    return wall, hub_requests(hub) - before


def running(hub: Hub) -> int:
    """Users with a running server (the hub's count for a paginated listing)."""
    body = get(f"{api_url(hub)}/users?state=active&limit=1", Accept=PAGINATION,
               Authorization=f"token {hub.admin_token}")
    return json.loads(body)["_pagination"]["total"]


def bench(n: int, page_size: int | None = None, stop_seconds: float = 0,
          steady_only: bool = False, log=print) -> list[tuple[str, str, tuple[float, int]]]:
    """Both tools' passes with ``n`` running servers: rows of (pass, tool, (wall s,
    requests)), ours first in each pass (``report`` prints them)."""
    token = service_token()
    root = Path(tempfile.mkdtemp(prefix=f"cull-hub-bench-{n}-"))
    hub = Hub(root, config=fake_spawner_config(free_port()) + hub_config(
        "configure(c, max_age=86400, api_token=TOKEN, managed=False, tell_servers=False)",
        token, "c.JupyterHub.authenticate_prometheus = False\n"
                "c.JupyterHub.log_level = 'WARN'\n"
                f"c.FakeSpawner.stop_seconds = {stop_seconds}\n"))
    try:
        hub.start()
        names = [f"user-{i:05}" for i in range(n)]
        for i in range(0, n, 500):
            # a generous timeout: with thousands of users a busy hub takes its time
            code, _ = http("POST", f"{hub.url}/hub/api/users", hub.admin_token,
                           {"usernames": names[i:i + 500]}, timeout=300)
            assert code == 201, code
        setup = start_servers(hub, names)
        log(f"\nN = {n}: {running(hub)} running servers, started in {setup:.0f} s "
            f"(concurrency 10, each stop {stop_seconds} s in the spawner)")
        rows = [("steady (0 due)", label, measure(hub, tool, token, 86400, size))
                 for label, tool, size in contenders(page_size)]
        if not steady_only:
            for label, tool, size in contenders(page_size)[:2]:
                if running(hub) < n:
                    start_servers(hub, names)
                time.sleep(1.5)  # every server older than the 1 s max age
                rows.append((f"stop-all ({n} due)", label,
                             measure(hub, tool, token, 1, size)))
                assert running(hub) == 0, (label, running(hub))
    finally:
        hub.close()
    shutil.rmtree(root, ignore_errors=True)  # kept for the hub's log when something failed
    return rows


def report(rows: list[tuple[str, str, tuple[float, int]]]) -> None:
    print(f"{'pass':<20} {'tool':<32} {'wall s':>8} {'requests':>9} {'vs ours':>14}")
    base: dict[str, tuple[float, int]] = {}
    for kind, label, (wall, requests) in rows:
        w1, r1 = base.setdefault(kind, (wall, requests))
        ratio = "" if label == "ours" else f"{wall / w1:.1f}x {requests / max(r1, 1):.2f}x"
        print(f"{kind:<20} {label:<32} {wall:>8.2f} {requests:>9} {ratio:>14}")
    steady = {label: result for kind, label, result in rows if kind.startswith("steady")}
    c = lateness_cost(steady["ours"], steady["idle-culler"])
    late = " (impossible: a pass takes longer)" if c["idle_culler_busy"] > 1 else ""
    print(f"At most 2 s late (max age 7 days): ours sweeps every {c['every']} s: "
          f"{c['ours_requests_per_hour']:.0f} listing requests/h, hub busy listing "
          f"{c['ours_busy']:.2%} of the time; idle-culler passing every 2 s: "
          f"{c['idle_culler_requests_per_hour']:.0f} requests/h, {c['idle_culler_busy']:.0%} "
          f"of the time{late}.")


def lateness_cost(ours: tuple[float, int], idle_culler: tuple[float, int]) -> dict:
    """What stopping at most 2 s late costs each tool, from the measured steady pass (max age
    7 days): ours sweeps at its default interval and stops on timers (a GET and a DELETE per
    stop); idle-culler only notices at a pass, so it would have to pass every 2 s."""
    every = default_cull_every(Options(max_age=7 * 86400).limits())
    (w1, r1), (w2, r2) = ours, idle_culler
    return {"every": every, "ours_requests_per_hour": r1 * 3600 / every,
            "ours_busy": w1 / every, "idle_culler_requests_per_hour": r2 * 1800,
            "idle_culler_busy": w2 / 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--page-size", type=int, default=None,
                        help="users per page for both tools (0: the hub's default); "
                             "default: each tool's own")
    parser.add_argument("--stop-seconds", type=float, default=0,
                        help="seconds each stop takes in the spawner")
    parser.add_argument("--steady-only", action="store_true",
                        help="skip the stop-all pass (which starts every server twice)")
    args = parser.parse_args()
    for n in args.users:
        report(bench(n, args.page_size, args.stop_seconds, args.steady_only))


if __name__ == "__main__":
    main()
