"""Activity POSTs per server-hour: our reporter vs jupyterhub-singleuser's stock one.

Runs a real JupyterHub (configurable-http-proxy from npm) with two users: ``ours`` (this
package installed and enabled) and ``stock`` (this package disabled for that server, so the
stock reporter runs). Time is compressed: the activity interval is INTERVAL seconds and one
"server-hour" is 12 intervals, as 3600 s is 12 x the default 300 s. Two phases, each one
server-hour: idle (nothing happens) and active (a kernel runs a silent job the whole time).

    .venv/bin/python benchmarks/hub_activity.py [--interval 2]

``measure()`` returns the counts (``benchmarks/run.py`` calls it); ``report()`` prints them.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hubharness import Hub  # noqa: E402

USERS = ("ours", "stock")


def posts(hub: Hub, name: str) -> int:
    return len(re.findall(rf"POST /hub/api/users/{name}/activity", hub.log()))


def measure(interval: float = 2.0, log=print) -> dict:
    """Run both phases; {"idle": {"ours": POSTs, "stock": POSTs}, "active": {...}} for one
    (compressed) server-hour each, plus the interval and the hour's length in seconds."""
    hour = 12 * interval

    root = Path(tempfile.mkdtemp(prefix="cull-bench-"))
    disabled = root / "stock-config"
    disabled.mkdir()
    (disabled / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_cull_ext": False}}}))
    hub = Hub(root, spawner_env={"JUPYTERHUB_ACTIVITY_INTERVAL": str(int(interval))},
              config=f"""
def _stock(spawner):
    if spawner.user.name == "stock":
        spawner.environment["JUPYTER_CONFIG_DIR"] = {str(disabled)!r}
c.Spawner.pre_spawn_hook = _stock
""")
    hub.start()
    try:
        for name in USERS:
            hub.start_server(name)
        results: dict = {"interval": interval, "hour": hour}
        for phase in ("idle", "active"):
            if phase == "active":
                for name in USERS:
                    code, kernel = hub.server_api("POST", name, "api/kernels",
                                                  {"name": "python3"})
                    assert code == 201
                    # a silent job for the whole hour, and no client traffic at all
                    hub.execute_and_leave(name, kernel["id"], f"import time; time.sleep({hour + 5})")
            before = {name: posts(hub, name) for name in USERS}
            time.sleep(hour)
            results[phase] = {name: posts(hub, name) - before[name] for name in USERS}
            log(f"  {phase}: {results[phase]}")
    finally:
        hub.close()
    shutil.rmtree(root, ignore_errors=True)  # kept for the hub's log when something failed
    return results


def report(results: dict) -> None:
    print(f"interval {results['interval']:g} s standing for 300 s; one server-hour = "
          f"{results['hour']:g} s")
    print(f"{'phase':8} {'ours':>6} {'stock':>6}  ratio (ours/stock)")
    for phase in ("idle", "active"):
        counts = results[phase]
        ratio = counts["ours"] / counts["stock"] if counts["stock"] else float("nan")
        print(f"{phase:8} {counts['ours']:6d} {counts['stock']:6d}  {ratio:.2f}")
    print("idle: nothing happens. active: a kernel runs a silent job all hour (the stock "
          "reporter sends the job's start time again and again; ours sends 'now').")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=2.0,
                        help="activity interval in seconds (stands for 300 s)")
    args = parser.parse_args()
    report(measure(args.interval, log=lambda *a: None))


if __name__ == "__main__":
    main()
