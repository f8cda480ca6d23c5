"""What one counted request (a save) and one status read cost the server, ours vs stock, with
the server log file on and off: the rows behind the overhead follow-up in README.md.

Three servers side by side (ours; ours with ``--CullExt.server_log_path=``; stock), each
endpoint in interleaved bursts; prints the median server CPU per request of each.

    .venv/bin/python benchmarks/counted_write.py [--rounds 8] [--seconds 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from http_load import _prepare, burst
from servers import JServer, start_all

MODES = {
    "ours": dict(ours=True),
    "ours, server log off": dict(ours=True, args=["--CullExt.server_log_path="]),
    "stock": dict(ours=False),
}
ENDPOINTS = {"PUT (a save: counted)": "PUT api/contents/bench/c{}.txt",
             "GET api/status (jupyter_server's, asks us for last activity)": "GET api/status"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0, help="per burst")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cull-bench-write-"))
    servers = {m: JServer(root / str(i), **kw) for i, (m, kw) in enumerate(MODES.items())}
    try:
        start_all(list(servers.values()))
        for server in servers.values():
            _prepare(server)
        for label, endpoint in ENDPOINTS.items():
            cpu: dict[str, list[float]] = {m: [] for m in servers}
            for _ in range(args.rounds):
                for m, server in servers.items():
                    r = burst(server, args.seconds, args.clients, (endpoint,))
                    cpu[m].append(r["cpu_per_request"] * 1e6)
            med = {m: statistics.median(v) for m, v in cpu.items()}
            extra = med["ours"] - med["stock"]
            print(f"{label}: " + ", ".join(f"{m} {v:.0f} us" for m, v in med.items())
                  + f"; ours - stock {extra:+.0f} us ({extra / med['stock']:+.1%})")
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
