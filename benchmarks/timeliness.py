"""How late after its deadline an idle kernel is culled and an idle server stops: ours vs
jupyter_server's own culling and idle shutdown, with the same standard settings.

Real ``jupyter server`` processes (``servers.py``), ours and stock side by side, all at once
(one thread each), so the machine's load hits both alike. Three scenarios:

- **kernel**: ``MappingKernelManager.cull_idle_timeout=3``, ``cull_interval=30``. A kernel is
  started, then at a random moment runs ``pass`` over its websocket (the client hangs up).
  Deadline: ours, the kernel's ``deadline`` in ``api/cull/status``; stock, the kernel's
  ``last_activity`` (``api/kernels/<id>``) + 3 s. The stock culler sweeps every
  ``cull_interval`` from the first kernel start, so the moment of the activity is random
  over a whole interval (ours: over 2 s; its timer does not depend on it).
- **server**: ``ServerApp.shutdown_no_activity_timeout=5``, no kernel. A file is saved
  (``PUT api/contents``) at a random moment (stock: over 50 s, within the first of its 60 s
  checks; ours: over 2 s). Deadline: ours, ``server.deadline`` in the status; stock,
  ``/api/status`` ``last_activity`` + 5 s. Then nothing talks to the server.
- **server, idle kernel**: the same with one idle kernel and kernel culling off
  (``cull_idle_timeout=0``). jupyter_server never stops while a kernel exists: the stock
  server is watched for a bounded time (one or two of its 60 s checks after the deadline)
  and reported as never stopping if it is still up.

Lateness is measured conservatively: a kernel is late until the first ``GET api/kernels``
(polled every 0.1 s) that no longer lists it *returned*; a server until its process was seen
exited (polled every 0.05 s). Negative would mean early.

    .venv/bin/python benchmarks/timeliness.py [--samples 2] [--batches 1] [--checks 1]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from servers import JServer, wall

KERNEL_TIMEOUT = 3
CULL_INTERVAL = 30
SERVER_TIMEOUT = 5
STOCK_CHECK = 60  # jupyter_server's idle-shutdown check period, fixed
#: Ours: the design target, seconds after the deadline shown.
TARGET = 2.0

KERNEL_ARGS = [f"--MappingKernelManager.cull_idle_timeout={KERNEL_TIMEOUT}",
               f"--MappingKernelManager.cull_interval={CULL_INTERVAL}"]
SERVER_ARGS = [f"--ServerApp.shutdown_no_activity_timeout={SERVER_TIMEOUT}"]
BLOCKED_ARGS = SERVER_ARGS + ["--MappingKernelManager.cull_idle_timeout=0"]


def _stable(read, what: str, timeout: float = 10) -> float:
    """Poll ``read()`` (a deadline) until it has not moved for a second."""
    limit = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        value = read()
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since >= 1.0:
            return value
        if time.monotonic() > limit:
            raise RuntimeError(f"{what} kept moving for {timeout} s")
        time.sleep(0.2)


def kernel_deadline(server: JServer, kid: str) -> float:
    if server.ours:
        def read():
            k = next(k for k in server.status()["kernels"] if k["id"] == kid)
            return wall(k["deadline"])
    else:
        def read():
            return wall(server.json("GET", f"api/kernels/{kid}")["last_activity"]) \
                + KERNEL_TIMEOUT
    return _stable(read, "the kernel's deadline")


def server_deadline(server: JServer) -> float:
    if server.ours:
        def read():
            return wall(server.status()["server"]["deadline"])
    else:
        def read():
            return wall(server.json("GET", "api/status")["last_activity"]) + SERVER_TIMEOUT
    return _stable(read, "the server's deadline")


def watch_exit(server: JServer, limit: float) -> float | None:
    """The wall time the process was first seen exited; None if still running at ``limit``."""
    while time.time() < limit:
        if not server.running():
            return server.exited_at
        time.sleep(0.05)
    return None


def run_kernel(server: JServer) -> dict:
    kid = server.start_kernel()
    started = time.time()
    spread = 2.0 if server.ours else CULL_INTERVAL
    offset = random.uniform(0, spread)
    time.sleep(max(0.0, started + offset - time.time()))
    server.execute(kid, "pass")
    deadline = kernel_deadline(server, kid)
    detail = (f"ran code at kernel start+{offset:.1f} s, deadline at kernel start"
              f"+{deadline - started:.1f} s")
    limit = deadline + (TARGET + 10 if server.ours else 2 * CULL_INTERVAL + 10)
    while True:
        r = server.request("GET", "api/kernels", timeout=10)
        returned = time.time()
        if kid not in {k["id"] for k in r.json()}:
            return {"late": returned - deadline, "detail": detail}
        if returned > limit:
            return {"late": None, "waited": returned - deadline, "detail": detail}
        time.sleep(0.1)


def run_server(server: JServer) -> dict:
    spread = 2.0 if server.ours else STOCK_CHECK - SERVER_TIMEOUT - 5
    offset = random.uniform(0, spread)
    time.sleep(max(0.0, server.ready_at + offset - time.time()))
    r = server.request("PUT", "api/contents/saved.txt",
                       {"type": "file", "format": "text", "content": "saved\n"})
    if r.status_code not in (200, 201):
        raise RuntimeError(f"{server.name}: save failed: {r.status_code} {r.text[:200]}")
    deadline = server_deadline(server)
    bound = TARGET + 20 if server.ours else 2 * STOCK_CHECK + 10
    exited = watch_exit(server, deadline + bound)
    detail = f"saved at ready+{offset:.1f} s, deadline at ready+{deadline - server.ready_at:.1f} s"
    if exited is None:
        return {"late": None, "waited": time.time() - deadline, "detail": detail}
    return {"late": exited - deadline, "detail": detail}


def run_blocked(server: JServer, checks: int) -> dict:
    kid = server.start_kernel()
    server.execute(kid, "pass")
    deadline = server_deadline(server)
    bound = TARGET + 20 if server.ours else checks * STOCK_CHECK + 5
    exited = watch_exit(server, deadline + bound)
    if exited is None:
        return {"late": None, "waited": time.time() - deadline, "checks": checks}
    return {"late": exited - deadline}


SCENARIOS = {"kernel": (KERNEL_ARGS, run_kernel), "server": (SERVER_ARGS, run_server),
             "blocked": (BLOCKED_ARGS, run_blocked)}


def measure(samples: int = 2, batches: int = 1, checks: int = 1, log=print) -> dict:
    """{scenario: {mode: [result, ...]}}; each result has ``late`` (s, None: never within
    the bound) and for never, ``waited`` (s after the deadline)."""
    results: dict = {s: {"ours": [], "stock": []} for s in SCENARIOS}
    errors: list[str] = []
    for batch in range(batches):
        root = Path(tempfile.mkdtemp(prefix=f"cull-bench-timeliness-{batch}-"))
        plan = [(s, m, i) for s in ("kernel", "server") for m in ("ours", "stock")
                for i in range(samples)]
        if batch == 0:
            plan += [("blocked", m, 0) for m in ("ours", "stock")]

        def one(scenario: str, mode: str, i: int) -> None:
            args, fn = SCENARIOS[scenario]
            server = JServer(root / f"{scenario}-{mode}-{i}", ours=(mode == "ours"),
                             args=args)
            try:
                server.wait_ready(120)
                server.check_mode()
                result = fn(server, checks) if scenario == "blocked" else fn(server)
                results[scenario][mode].append(result)
                late = result["late"]
                log(f"  {scenario:8} {mode:5}: " + (f"{late:+.3f} s" if late is not None
                    else f"still running {result['waited']:.0f} s after its deadline")
                    + (f" ({result['detail']})" if "detail" in result else ""))
            except Exception as e:  # reported, and the rest of the batch goes on
                errors.append(f"{scenario} {mode} {i}: {e}")
            finally:
                server.stop()

        threads = [threading.Thread(target=one, args=p, daemon=True) for p in plan]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if not errors:
            shutil.rmtree(root, ignore_errors=True)  # kept for its logs when something failed
    if errors:
        raise RuntimeError("timeliness runs failed:\n" + "\n".join(errors))
    return results


def summary(values: list[dict]) -> dict:
    late = [v["late"] for v in values if v["late"] is not None]
    never = [v for v in values if v["late"] is None]
    out = {"n": len(values), "never": len(never)}
    if late:
        out.update(median=statistics.median(late), max=max(late), min=min(late))
    if never:
        out.update(waited=min(v["waited"] for v in never),
                   checks=min(v.get("checks", 0) for v in never))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2, help="per scenario, mode and batch")
    parser.add_argument("--batches", type=int, default=1)
    parser.add_argument("--checks", type=int, default=1,
                        help="stock idle-shutdown checks to wait for in the idle-kernel case")
    args = parser.parse_args()
    results = measure(args.samples, args.batches, args.checks)
    for scenario, modes in results.items():
        for mode, values in modes.items():
            print(f"{scenario:8} {mode:5} {summary(values)}")


if __name__ == "__main__":
    main()
