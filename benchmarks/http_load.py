"""What the extension costs a busy server: throughput, latency, CPU and memory, ours vs stock.

Two ``jupyter server`` processes run side by side, the same in everything but our extension
(``servers.py``: "stock" has ``jupyter_cull_ext`` disabled on its command line, checked by
``api/cull/status`` answering 404). Each has one idle kernel and a root dir of 20 small files,
as a user's server would. Then, in interleaved rounds (ours first in even rounds, stock first
in odd ones, so drift and other people's load hit both alike), each server gets a burst of
``--seconds`` from ``--clients`` concurrent keep-alive clients cycling through a typical mix:

    GET api/kernels, GET api/contents (the root listing), GET api/status, PUT a small file

(a PUT is a save: it counts as activity, so our extension re-arms its timer and decides).
Measured per server: requests per second of each burst, latency of every request, the
server process's CPU time per request (from /proc: steadier than wall time on a shared
machine), CPU while idle, and resident memory after startup (kernel started, before any
load) and after all rounds. Ratios are ours / stock; for rates they are the median of the
per-round ratios (each round's two bursts are adjacent in time), with their quartiles shown
as the noise.

With ``--endpoint-rounds N``, each endpoint of the mix is also measured alone (interleaved
the same way): its CPU per request, ours vs stock, shows where a difference comes from.

    .venv/bin/python benchmarks/http_load.py [--rounds 6] [--seconds 4] [--clients 4]
        [--pairs 1] [--endpoint-rounds 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from servers import TOKEN, JServer, start_all

MIX = ("GET api/kernels", "GET api/contents", "GET api/status", "PUT api/contents/bench/c{}.txt")
PUT_BODY = json.dumps({"type": "file", "format": "text", "content": "x" * 200 + "\n"})


async def _burst(url: str, seconds: float, clients: int,
                 mix: tuple[str, ...] = MIX) -> tuple[int, list[float], float, int]:
    """(requests, latencies in s, wall s, failures) of ``clients`` clients for ``seconds``."""
    latencies: list[float] = []
    failures = 0
    headers = {"Authorization": f"token {TOKEN}"}
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector,
                                     timeout=timeout) as session:
        start = time.perf_counter()
        stop_at = start + seconds

        async def client(n: int) -> None:
            nonlocal failures
            i = n  # each client starts at a different point of the mix
            while True:
                method, path = mix[i % len(mix)].split(" ", 1)
                path = "/" + path.format(n)
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                async with session.request(method, path,
                                           data=PUT_BODY if method == "PUT" else None) as r:
                    await r.read()
                    ok = r.status in (200, 201)
                latencies.append(time.perf_counter() - t0)
                failures += not ok
                i += 1

        await asyncio.gather(*(client(n) for n in range(clients)))
        wall = time.perf_counter() - start
    return len(latencies), latencies, wall, failures


def burst(server: JServer, seconds: float, clients: int, mix: tuple[str, ...] = MIX) -> dict:
    cpu0 = server.cpu_seconds()
    n, latencies, wall, failures = asyncio.run(_burst(server.url, seconds, clients, mix))
    cpu = server.cpu_seconds() - cpu0
    if failures:
        raise RuntimeError(f"{server.name}: {failures} of {n} requests failed:\n"
                           f"{server.log()[-3000:]}")
    return {"rps": n / wall, "latencies": latencies, "cpu_per_request": cpu / n, "n": n}


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1] \
        if len(values) > 1 else values[0]


def _prepare(server: JServer) -> None:
    (server.root / "bench").mkdir(exist_ok=True)
    for i in range(20):
        (server.root / f"file-{i:02}.txt").write_text(f"file {i}\n" * 20)
    server.start_kernel()


def measure(rounds: int = 6, seconds: float = 4.0, clients: int = 4, pairs: int = 1,
            idle_seconds: float = 10.0, warmup: float = 2.0, endpoint_rounds: int = 0,
            log=print, a_a: bool = False) -> dict:
    """Run the benchmark; a dict of per-mode samples and paired ratios (see ``summarize``).

    ``endpoint_rounds`` > 0 adds, per pair, that many interleaved rounds of one-endpoint
    bursts (``seconds`` each): the CPU per request of each endpoint of the mix.

    ``a_a``: both servers stock (the "ours" slot too), to measure the harness itself: any
    ratio other than 1 is the bias and noise of this machine and method, not ours."""
    modes = ("ours", "stock")
    raw = {m: {"rps": [], "latencies": [], "cpu_per_request": [], "rss_start": [],
               "rss_end": [], "idle_cpu_ms_per_min": [], "requests": 0,
               "endpoint_cpu": {e: [] for e in MIX}} for m in modes}
    paired = {"rps": [], "cpu_per_request": [], "p50": [], "p95": []}
    for pair in range(pairs):
        root = Path(tempfile.mkdtemp(prefix=f"cull-bench-load-{pair}-"))
        servers = {m: JServer(root / m, ours=(m == "ours" and not a_a))
                   for m in modes}
        try:
            start_all(list(servers.values()))
            for server in servers.values():
                _prepare(server)
            # Idle: both settle after the kernel start; CPU over the window, then memory.
            time.sleep(3)
            cpu0 = {m: s.cpu_seconds() for m, s in servers.items()}
            time.sleep(idle_seconds)
            for m, s in servers.items():
                raw[m]["idle_cpu_ms_per_min"].append(
                    (s.cpu_seconds() - cpu0[m]) * 1000 * 60 / idle_seconds)
                raw[m]["rss_start"].append(s.rss_mb())
            for m in modes:
                burst(servers[m], warmup, clients)
            for r in range(rounds):
                order = modes if (r + pair) % 2 == 0 else modes[::-1]
                result = {m: burst(servers[m], seconds, clients) for m in order}
                for m in modes:
                    raw[m]["rps"].append(result[m]["rps"])
                    raw[m]["latencies"].extend(result[m]["latencies"])
                    raw[m]["cpu_per_request"].append(result[m]["cpu_per_request"])
                    raw[m]["requests"] += result[m]["n"]
                o, s = result["ours"], result["stock"]
                paired["rps"].append(o["rps"] / s["rps"])
                paired["cpu_per_request"].append(o["cpu_per_request"] / s["cpu_per_request"])
                for q in (50, 95):
                    paired[f"p{q}"].append(quantile(o["latencies"], q / 100)
                                           / quantile(s["latencies"], q / 100))
                log(f"  pair {pair + 1} round {r + 1}/{rounds}: {o['rps']:.0f} vs "
                    f"{s['rps']:.0f} req/s ({paired['rps'][-1]:.3f}), CPU/request "
                    f"{o['cpu_per_request'] * 1e6:.0f} vs {s['cpu_per_request'] * 1e6:.0f} us")
            for r in range(endpoint_rounds):
                for endpoint in MIX:
                    order = modes if (r + pair) % 2 == 0 else modes[::-1]
                    for m in order:
                        b = burst(servers[m], seconds, clients, (endpoint,))
                        raw[m]["endpoint_cpu"][endpoint].append(b["cpu_per_request"])
                log(f"  pair {pair + 1} endpoint round {r + 1}/{endpoint_rounds} done")
            for m, s in servers.items():
                raw[m]["rss_end"].append(s.rss_mb())
        finally:
            for server in servers.values():
                server.stop()
        shutil.rmtree(root, ignore_errors=True)  # kept only when something failed
    return {"raw": raw, "paired": paired, "clients": clients, "seconds": seconds,
            "rounds": rounds, "pairs": pairs}


def summarize(result: dict) -> dict:
    """Medians, pooled percentiles and ratios, as plain numbers."""
    raw, paired = result["raw"], result["paired"]
    out: dict = {}
    for m, d in raw.items():
        out[m] = {
            "rps": statistics.median(d["rps"]),
            "p50_ms": quantile(d["latencies"], 0.50) * 1000,
            "p95_ms": quantile(d["latencies"], 0.95) * 1000,
            "cpu_us": statistics.median(d["cpu_per_request"]) * 1e6,
            "rss_start": statistics.median(d["rss_start"]),
            "rss_end": statistics.median(d["rss_end"]),
            "idle_cpu": statistics.median(d["idle_cpu_ms_per_min"]),
            "requests": d["requests"],
            "endpoint_cpu_us": {e: statistics.median(v) * 1e6
                                for e, v in d["endpoint_cpu"].items() if v},
        }
    for key, values in paired.items():
        qs = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 \
            else [values[0]] * 3
        out[f"ratio_{key}"] = (statistics.median(values), qs[0], qs[2])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0, help="per burst")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=1, help="fresh ours/stock pairs")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--endpoint-rounds", type=int, default=0,
                        help="also this many rounds per endpoint of the mix, alone")
    parser.add_argument("--a-a", action="store_true",
                        help="calibration: both servers stock, so 'ours' is stock too")
    args = parser.parse_args()
    s = summarize(measure(args.rounds, args.seconds, args.clients, args.pairs,
                          args.idle_seconds, endpoint_rounds=args.endpoint_rounds,
                          a_a=args.a_a))
    o, k = s["ours"], s["stock"]
    for label, key, unit, fmt in (("throughput", "rps", "req/s", ".0f"),
                                  ("latency p50", "p50_ms", "ms", ".2f"),
                                  ("latency p95", "p95_ms", "ms", ".2f"),
                                  ("CPU per request", "cpu_us", "us", ".0f")):
        ratio_key = {"rps": "rps", "p50_ms": "p50", "p95_ms": "p95",
                     "cpu_us": "cpu_per_request"}[key]
        r, lo, hi = s[f"ratio_{ratio_key}"]
        print(f"{label:16} ours {o[key]:{fmt}} {unit}, stock {k[key]:{fmt}} {unit}; "
              f"ours/stock {r:.3f} (rounds' quartiles {lo:.3f}-{hi:.3f})")
    for label, key in (("RSS after startup", "rss_start"), ("RSS after load", "rss_end")):
        print(f"{label:16} ours {o[key]:.1f} MB, stock {k[key]:.1f} MB; "
              f"{o[key] - k[key]:+.1f} MB")
    print(f"idle CPU         ours {o['idle_cpu']:.1f} ms/min, stock {k['idle_cpu']:.1f} ms/min")
    for e, us in o["endpoint_cpu_us"].items():
        st = k["endpoint_cpu_us"][e]
        print(f"CPU/request {e:32} ours {us:.0f} us, stock {st:.0f} us; {us - st:+.0f} us "
              f"({us / st:.3f})")


if __name__ == "__main__":
    main()
