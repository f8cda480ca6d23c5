"""CPU an idle server uses, ours vs stock: one idle kernel, no requests, default settings.

Both servers run side by side for the same window; the figure is the server process's own
CPU time (user + system, from /proc) per minute of wall time. Our cost while idle is the
timer (it wakes at the next deadline or a quarter of the shortest timeout, at most every
30 s) and the process sampler (every ``process_sample_interval``, 5 s by default, which
reads only this server's known processes and scans the process table every 30 s while idle:
a machine where processes come and go by the hundred costs more here).

    python benchmarks/idle_cpu.py [--seconds 60] [--pairs 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from servers import JServer, start_all


def measure(seconds: float, pairs: int, settle: float = 5.0) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ours": [], "stock": []}
    for pair in range(pairs):
        root = Path(tempfile.mkdtemp(prefix=f"cull-bench-idle-{pair}-"))
        servers = {m: JServer(root / m, ours=(m == "ours")) for m in out}
        try:
            start_all(list(servers.values()))
            for server in servers.values():
                server.start_kernel()
            time.sleep(settle)
            before = {m: s.cpu_seconds() for m, s in servers.items()}
            time.sleep(seconds)
            for m, s in servers.items():
                out[m].append((s.cpu_seconds() - before[m]) * 1000 * 60 / seconds)
        finally:
            for server in servers.values():
                server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window")
    parser.add_argument("--pairs", type=int, default=2, help="fresh ours/stock pairs")
    args = parser.parse_args()
    result = measure(args.seconds, args.pairs)
    ours, stock = (statistics.median(result[m]) for m in ("ours", "stock"))
    print(f"idle CPU (1 idle kernel, {args.seconds:g} s x {args.pairs}): "
          f"ours {ours:.1f} ms/min, stock {stock:.1f} ms/min; ours - stock "
          f"{ours - stock:+.1f} ms/min (samples: ours {result['ours']}, "
          f"stock {result['stock']})")


if __name__ == "__main__":
    main()
