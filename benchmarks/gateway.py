"""Requests a server sends to its kernel gateway per minute: ours vs stock.

A real ``jupyter kernelgateway`` and, in turn, a ``jupyter server --GatewayClient.url=...``
with our extension ("ours") or without it ("stock"), no client attached. Counted: the
requests in the gateway's log while the server sits for WINDOW seconds in each phase:

- no kernel;
- one idle kernel, default timeouts (kernel 1 h, server 1 h): nothing is near;
- one idle kernel, kernel timeout 10 s (ours lists often near a deadline: the phase starts
  right after the kernel did, and the cull comes within the window; counted until then).

    .venv/bin/python benchmarks/gateway.py [--window 60]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import JServer  # noqa: E402
from test_gateway import Gateway  # noqa: E402 (tests/ is on the path via servers)

REQUEST = re.compile(r"\] \d{3} (GET|POST|DELETE) (/api/kernels\S*)")
PHASES = [
    ("no kernel", [], False),
    ("one idle kernel, timeouts 1 h", [], True),
    ("one idle kernel, kernel timeout 10 s", ["--CullExt.kernel_idle_timeout=10"], True),
]


def count(log: str) -> int:
    """Listings and per-kernel GETs in a gateway log (not the kernel's own start/stop)."""
    return sum(1 for m in REQUEST.finditer(log) if m.group(1) == "GET")


def phase(workdir: Path, ours: bool, args: list[str], kernel: bool, window: float) -> float:
    gw = Gateway(workdir)
    gw.wait_ready()
    server = JServer(workdir / ("ours" if ours else "stock"), ours,
                     [f"--GatewayClient.url={gw.url}", *args])
    try:
        server.wait_ready()
        if kernel:
            kid = server.start_kernel()
        before, t0 = count(gw.log()), time.monotonic()
        end = t0 + window
        while time.monotonic() < end:
            if kernel and f"DELETE /api/kernels/{kid}" in gw.log():  # culled: count to here
                end = time.monotonic()
                break
            time.sleep(0.2)
        n = count(gw.log()) - before
        return n * 60 / (end - t0)
    finally:
        server.stop()
        gw.stop()


def measure(window: float) -> list[tuple[str, float, float]]:
    rows = []
    for name, args, kernel in PHASES:
        with tempfile.TemporaryDirectory() as d:
            ours = phase(Path(d), True, args, kernel, window)
        with tempfile.TemporaryDirectory() as d:
            stock_args = [a.replace("CullExt.kernel_idle_timeout",
                                    "MappingKernelManager.cull_idle_timeout") for a in args]
            stock = phase(Path(d), False, stock_args, kernel, window)
        rows.append((name, ours, stock))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=60, help="seconds per phase")
    window = parser.parse_args().window
    print("| phase | ours GET/min | stock GET/min |\n| --- | --- | --- |")
    for name, ours, stock in measure(window):
        print(f"| {name} | {ours:.1f} | {stock:.1f} |", flush=True)


if __name__ == "__main__":
    main()
