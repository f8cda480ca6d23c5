"""How long after a server stops itself the hub shows it stopped: through the hub vs by itself.

A real JupyterHub (configurable-http-proxy from npm) with two users whose servers are real
``jupyterhub-singleuser`` processes with this package, each told a short max age
(``JUPYTER_CULL_MAX_AGE``): ``ours``, whose token may stop its own server
(``delete:servers!server``, as ``hub.configure`` grants), and ``stock``, whose token may not,
so its server exits by itself as every server did before and the hub learns of it at its next
spawner poll (``Spawner.poll_interval``, the default 30 s). Per round both servers start
together; measured, from the deadline in each server's status document: when the process
exited and when the hub's REST API first showed the server not ready.

    .venv/bin/python benchmarks/hub_stop.py [--rounds 3] [--max-age 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hubharness import Hub, process_gone, wait_until  # noqa: E402

USERS = ("ours", "stock")
CONFIG = """
from jupyter_cull_ext.hub.configure import DEFAULT_SERVER_SCOPES, SELF_STOP_SCOPE
c.Spawner.environment["JUPYTER_CULL_MAX_AGE"] = "{max_age}"
c.Spawner.server_token_scopes = lambda spawner: [*DEFAULT_SERVER_SCOPES] + (
    [SELF_STOP_SCOPE] if spawner.user.name == "ours" else [])
"""


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def one_round(hub: Hub) -> dict[str, tuple[float, float]]:
    """Start both servers; per user (process exit, hub shows stopped), seconds after the
    deadline its status document showed."""
    deadline, pid, seen = {}, {}, {}
    for name in USERS:
        hub.start_server(name)
    for name in USERS:
        code, doc = hub.server_api("GET", name, "api/cull/status")
        assert code == 200, doc
        deadline[name] = ts(doc["server"]["deadline"])
        pid[name] = hub.user(name)["servers"][""]["state"]["pid"]
        seen[name] = {}

    def done() -> bool:
        now = time.time()
        for name in USERS:
            if "exit" not in seen[name] and process_gone(pid[name]):
                seen[name]["exit"] = now - deadline[name]
            model = hub.user(name)["servers"].get("")
            if "hub" not in seen[name] and (model is None or not model["ready"]
                                             or model["pending"]):
                seen[name]["hub"] = time.time() - deadline[name]
        return all(len(s) == 2 for s in seen.values())

    wait_until(done, 120, interval=0.1, what="both servers stopped, as the hub shows")
    for name in USERS:  # the hub done stopping (a pending stop) before the next round
        wait_until(lambda: hub.user(name)["servers"].get("") is None, 60)
    return {name: (seen[name]["exit"], seen[name]["hub"]) for name in USERS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-age", type=int, default=30)
    args = parser.parse_args()
    hub = Hub(Path(tempfile.mkdtemp(prefix="cull-bench-")),
              config=CONFIG.format(max_age=args.max_age))
    hub.start()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in USERS}
    try:
        for r in range(args.rounds):
            for name, times in one_round(hub).items():
                results[name].append(times)
            print(f"round {r + 1}: " + ", ".join(
                f"{name}: exit {e:+.2f} s, hub {h:+.2f} s" for name, (e, h) in
                ((n, results[n][-1]) for n in USERS)), file=sys.stderr)
    finally:
        hub.close()
    print(f"\nAfter the deadline ({args.rounds} rounds; hub poll interval 30 s):")
    print("| server | process exit, median (max) | hub shows stopped, median (max) |")
    print("| --- | --- | --- |")
    for name, label in (("ours", "stops through the hub (delete:servers!server)"),
                        ("stock", "exits by itself (no scope)")):
        exits, hubs = zip(*results[name])
        print(f"| {label} | {statistics.median(exits):+.2f} s ({max(exits):+.2f}) | "
              f"{statistics.median(hubs):+.2f} s ({max(hubs):+.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
