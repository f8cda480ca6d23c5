"""How much of a busy server's time is spent in our code: a sampling profile of our server
under the overhead row's request mix.

Side-by-side ratios on a shared 2-core machine have a few per cent of noise (see the
calibration in ``run.py``), more than the 2 % target they judge. A profile does not compare
two processes, so it has no such noise: py-spy samples the thread holding our server's GIL
(``--gil``: the Python work; threads waiting for work are not counted) while ``http_load``'s
mix runs against it, and the share of those samples whose stack is in ``jupyter_cull_ext``
is what the extension costs directly. Calls back into jupyter_server from our request hook
(its own request logging) are not counted as ours.

That share is an upper bound of our share of the server's CPU, whose time also includes
system calls and C code run without the GIL; ``profile`` also returns the process's CPU
time over the window and the GIL-held time the samples stand for, to show by how much.

Needs ``py-spy`` (not a project dependency): installed into this venv with pip if missing.

    .venv/bin/python benchmarks/profile_mix.py [--seconds 30] [--rate 500]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import http_load
from servers import BIN, JServer, start_all

OURS = "jupyter_cull_ext"


def ensure_py_spy() -> str:
    exe = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if exe is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=True)
        exe = str(BIN / "py-spy")
    return exe


def shares(raw: str) -> tuple[int, int, collections.Counter]:
    """(GIL-held samples, those in our code, ours by outermost function) from py-spy's raw
    (collapsed-stack) output."""
    busy, ours, by_fn = 0, 0, collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        busy += n
        mine = [i for i, f in enumerate(frames) if OURS in f]
        if not mine:
            continue
        first = frames[mine[0]]
        if "log_function" in first and any("log_request" in f for f in frames[mine[0]:]):
            continue  # jupyter_server's own request logging, called through our hook
        ours += n
        by_fn[first.split(" (")[0]] += n
    return busy, ours, by_fn


def profile(seconds: float, rate: int,
            clients: int = 4) -> tuple[int, int, collections.Counter, float]:
    """``shares`` of a profile taken while the mix runs for ``seconds``, and the server
    process's CPU seconds over the profile's window."""
    root = Path(tempfile.mkdtemp(prefix="cull-bench-profile-"))
    server = JServer(root / "ours", ours=True)
    try:
        start_all([server])
        http_load._prepare(server)
        http_load.burst(server, 2.0, clients)  # warm up
        out = root / "stacks.txt"
        cpu0 = server.cpu_seconds()
        spy = subprocess.Popen([ensure_py_spy(), "record", "--pid", str(server.pid),
                                "--rate", str(rate), "--format", "raw", "--nonblocking", "--gil",
                                "--duration", str(int(seconds) + 2), "-o", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            http_load.burst(server, 1.5, clients)
        spy.wait(timeout=seconds + 30)
        result = (*shares(out.read_text()), server.cpu_seconds() - cpu0)
    finally:
        server.stop()
    shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=500, help="samples per second")
    args = parser.parse_args()
    busy, ours, by_fn, cpu = profile(args.seconds, args.rate)
    print(f"GIL-held samples {busy} ({busy / args.rate:.1f} s; the process used {cpu:.1f} s "
          f"of CPU); in {OURS}: {ours} ({ours / busy * 100:.2f} % of the samples; "
          f"{ours / args.rate:.2f} s, {ours / args.rate / cpu * 100:.2f} % of the CPU)")
    for fn, n in by_fn.most_common(8):
        print(f"  {n / busy * 100:5.2f} %  {fn}")


if __name__ == "__main__":
    main()
