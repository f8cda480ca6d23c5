"""Every benchmark in one run: a table of figures, each measured in this run against the stock
alternative, with the ratio and whether the target was met.

    .venv/bin/python benchmarks/run.py [--quick] [--only ROW ...] [--json FILE]

Rows (see benchmarks/README.md):

- overhead:   a jupyter_server with our extension vs without (http_load.py), the same
              load on two stock servers (the method's own error), the share of a busy
              server's Python time in our code (profile_mix.py; installs py-spy with pip if it is
              missing), and the request-hook and decision micro-costs (overhead.py);
- timeliness: kernel cull and server stop lateness vs jupyter_server's own (timeliness.py);
- hub:        activity POSTs per server-hour vs jupyterhub-singleuser (hub_activity.py);
- companion:  one hub pass vs jupyterhub-idle-culler (hub_pass.py; installs
              jupyterhub-idle-culler into this venv with pip if it is missing);
- widget:     requests per minute from an idle JupyterLab tab with our item vs without
              (widget.py).

``--quick`` (about 5 minutes) uses fewer rounds and samples, small sizes, and counts the
widget and hub rows at the same time (both only count requests). Progress goes to stderr, the
table to stdout. The exit code is 0 when every row ran, missed targets included (the table
says so), and 1 if a row could not run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import http_load  # noqa: E402
import overhead  # noqa: E402
import profile_mix  # noqa: E402
import timeliness  # noqa: E402
import widget  # noqa: E402

ROWS = ("overhead", "timeliness", "hub", "companion", "widget")

QUICK = {
    "load": dict(rounds=12, seconds=1.5, clients=4, pairs=1, idle_seconds=10.0),
    # stock against stock, to show the harness's own error next to the ratios above
    "calibration": dict(rounds=12, seconds=1.5, clients=4, pairs=1, idle_seconds=3.0),
    "profile_seconds": 15.0,
    "timeliness": dict(samples=2, batches=1, checks=1),
    "hub_interval": 1,
    "users": [200],
    "widget": dict(window=60.0, settle=10.0),
}
FULL = {
    "load": dict(rounds=24, seconds=1.5, clients=4, pairs=2, idle_seconds=30.0,
                 endpoint_rounds=4),
    "calibration": dict(rounds=24, seconds=1.5, clients=4, pairs=1, idle_seconds=3.0),
    "profile_seconds": 30.0,
    "timeliness": dict(samples=3, batches=2, checks=2),
    "hub_interval": 2,
    # hub_pass.py's default sizes; at 10000 only the steady pass, as starting 10000 servers
    # takes the hub about 10 minutes here and the stop-all pass needs that twice more
    "users": [1000, 10000],
    "steady_only_from": 10000,
    "widget": dict(window=180.0, settle=15.0),
}

#: ≤ 2 % slower, ≤ 5 MB more; ours stops things at most 2 s after the deadline it showed.
SLOWER = 0.02
MORE_MB = 5.0
LATE_S = timeliness.TARGET

T0 = time.monotonic()


def progress(*parts: object) -> None:
    print(f"[{time.monotonic() - T0:6.0f} s]", *parts, file=sys.stderr, flush=True)


class Table:
    """Rows of (row, measure, ours, stock, ratio, target, verdict)."""

    HEAD = ("row", "measure", "ours", "stock", "ours/stock", "target", "verdict")

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.notes: list[str] = []
        self.missed: list[str] = []

    def add(self, row: str, measure: str, ours: str, stock: str, ratio: str = "",
            target: str = "", met: bool | None = None, qualifier: str = "") -> None:
        verdict = "" if met is None else ("met" if met else "MISSED")
        if qualifier and verdict:
            verdict += f" ({qualifier})"
        if met is False:
            self.missed.append(f"{row}: {measure}")
        self.rows.append((row, measure, ours, stock, ratio, target, verdict))

    def text(self) -> str:
        widths = [max(len(r[i]) for r in [self.HEAD, *self.rows]) for i in range(7)]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        out = [line(self.HEAD), line(tuple("-" * w for w in widths))]
        out += [line(r) for r in self.rows]
        return "\n".join(out)

    def markdown(self) -> str:
        out = ["| " + " | ".join(self.HEAD) + " |", "|" + " --- |" * 7]
        out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in self.rows]
        return "\n".join(out)


# --- rows ------------------------------------------------------------------------------------


def row_overhead(table: Table, cfg: dict, raw: dict) -> None:
    load = cfg["load"]
    progress(f"overhead: ours vs stock jupyter_server, {load['pairs']} pair(s), "
             f"{load['rounds']} interleaved rounds of {load['seconds']:g} s, "
             f"{load['clients']} clients")
    result = http_load.measure(**load, log=progress)
    s = http_load.summarize(result)
    raw["overhead"] = {k: v for k, v in s.items()}
    o, k = s["ours"], s["stock"]
    mix = f"mix of 4, {load['clients']} clients"

    def rate(measure: str, key: str, ratio_key: str, unit: str, fmt: str,
             higher_better: bool) -> None:
        r, lo, hi = s[f"ratio_{ratio_key}"]
        bound = 1 - SLOWER if higher_better else 1 + SLOWER
        met = r >= bound if higher_better else r <= bound
        target = f">= {bound:.2f}" if higher_better else f"<= {bound:.2f}"
        noisy = lo < bound < hi  # the rounds' quartiles straddle the target
        table.add("overhead", measure, f"{o[key]:{fmt}} {unit}", f"{k[key]:{fmt}} {unit}",
                  f"{r:.3f} ({lo:.3f}-{hi:.3f})", target, met, "noisy" if noisy else "")

    rate(f"throughput ({mix})", "rps", "rps", "req/s", ".0f", True)
    rate("latency p50", "p50_ms", "p50", "ms", ".2f", False)
    rate("latency p95", "p95_ms", "p95", "ms", ".2f", False)
    rate("server CPU per request", "cpu_us", "cpu_per_request", "us", ".0f", False)
    calibrate(table, cfg["calibration"], raw)
    profile_row(table, cfg, raw)
    for endpoint, us in o["endpoint_cpu_us"].items():
        st = k["endpoint_cpu_us"][endpoint]
        table.add("overhead", f"  CPU per request, {endpoint.replace('c{}.txt', 'c<n>.txt')}"
                  " alone", f"{us:.0f} us", f"{st:.0f} us", f"{us / st:.3f} ({us - st:+.0f} us)")
    for measure, key in (("RSS after startup (1 idle kernel)", "rss_start"),
                         ("RSS after the load", "rss_end")):
        diff = o[key] - k[key]
        table.add("overhead", measure, f"{o[key]:.1f} MB", f"{k[key]:.1f} MB",
                  f"{diff:+.1f} MB", f"<= +{MORE_MB:g} MB", diff <= MORE_MB)
    table.add("overhead", "server CPU while idle (1 kernel)", f"{o['idle_cpu']:.1f} ms/min",
              f"{k['idle_cpu']:.1f} ms/min", f"{o['idle_cpu'] - k['idle_cpu']:+.1f} ms/min")
    poll, save = overhead.request_hook()
    table.add("overhead", "request hook (micro)", f"{poll * 1e6:.2f} us poll, "
              f"{save * 1e6:.2f} us save", "-")
    costs = overhead.decisions()
    table.add("overhead", "one decision, 1/10/100 kernels (micro)",
              " / ".join(f"{t * 1e6:.0f}" for t in costs.values()) + " us", "-")
    raw["overhead_micro"] = {"hook_poll_s": poll, "hook_save_s": save,
                             "decision_s": {str(n): t for n, t in costs.items()}}
    table.notes.append(
        f"overhead: {load['pairs']} fresh pair(s) of servers x {load['rounds']} rounds, each "
        f"round one {load['seconds']:g} s burst per server, adjacent, order alternating; mix: "
        "GET api/kernels, GET api/contents (20 files), GET api/status, PUT a 200-byte file. "
        "Rates: medians; ratio: median of the per-round ratios (quartiles in brackets); "
        f"p50/p95 over all {o['requests']} / {k['requests']} requests. CPU from "
        "/proc/<pid>/task/*/schedstat of the server process. Calibration: the same load on "
        f"two stock servers ({cfg['calibration']['rounds']} rounds); its distance from 1 is "
        "the harness's own error on this machine at that moment.")


def profile_row(table: Table, cfg: dict, raw: dict) -> None:
    """What the ratios above cannot resolve on a noisy machine: the share of a busy server's
    GIL-held samples that are in our code (profile_mix.py), an upper bound of its CPU share."""
    progress(f"overhead: profiling our server under the mix, {cfg['profile_seconds']:g} s")
    try:
        busy, ours, by_fn, cpu = profile_mix.profile(cfg["profile_seconds"], rate=500)
    except Exception as e:  # py-spy missing and not installable, or no ptrace here
        table.add("overhead", "  share of the server's Python time in our code (profile)",
                  f"could not run: {e}", "-")
        return
    raw["overhead_profile"] = {"gil_samples": busy, "ours_samples": ours, "rate": 500,
                               "process_cpu_s": cpu, "by_function": dict(by_fn.most_common(8))}
    top = ", ".join(f"{fn.split('.')[-1]} {n / busy * 100:.2f} %"
                    for fn, n in by_fn.most_common(2))
    share = ours / busy * 100
    table.add("overhead", "  share of the server's Python time in our code (profile)",
              f"{share:.2f} % ({top}); {ours / 500 / cpu * 100:.2f} % of its CPU time",
              "-", "", f"<= {SLOWER * 100:g} % direct", share <= SLOWER * 100)


def calibrate(table: Table, load: dict, raw: dict) -> None:
    """The same load on two stock servers: how far from 1 a ratio lands when there is no
    difference at all. A ratio above is only a finding when it lies beyond this."""
    progress(f"overhead calibration: stock vs stock, {load['rounds']} rounds")
    s = http_load.summarize(http_load.measure(**load, log=progress, a_a=True))
    raw["overhead_calibration"] = {k: v for k, v in s.items() if k.startswith("ratio_")}
    for measure, key in (("throughput", "rps"), ("server CPU per request", "cpu_per_request")):
        r, lo, hi = s[f"ratio_{key}"]
        table.add("overhead", f"  calibration, stock vs stock: {measure}", "-", "-",
                  f"{r:.3f} ({lo:.3f}-{hi:.3f})")


def _lateness(values: list[dict]) -> str:
    s = timeliness.summary(values)
    parts = []
    if "median" in s:
        parts.append(f"median {s['median']:.2f} s, max {s['max']:.2f} s")
    if s["never"]:
        parts.append(f"never ({s['never']}/{s['n']} up {s['waited']:.0f} s past the deadline, "
                     f"{s['checks']} check{'s' if s['checks'] > 1 else ''})"
                     if s.get("checks") else
                     f"{s['never']} of {s['n']} not done {s['waited']:.0f} s after")
    return "; ".join(parts) + ("" if s["never"] == s["n"] else f" (n={s['n']})")


def row_timeliness(table: Table, cfg: dict, raw: dict) -> None:
    t = cfg["timeliness"]
    progress(f"timeliness: ours vs stock, {t['samples']} sample(s) x {t['batches']} "
             "batch(es), all servers of a batch at once")
    results = timeliness.measure(**t, log=progress)
    raw["timeliness"] = results
    names = {
        "kernel": f"kernel cull lateness ({timeliness.KERNEL_TIMEOUT} s idle timeout, "
                  f"cull_interval {timeliness.CULL_INTERVAL} s)",
        "server": f"server stop lateness, no kernel ({timeliness.SERVER_TIMEOUT} s timeout)",
        "blocked": "server stop lateness, idle kernel, kernel culling off",
    }
    for scenario, label in names.items():
        ours, stock = results[scenario]["ours"], results[scenario]["stock"]
        so, ss = timeliness.summary(ours), timeliness.summary(stock)
        ratio = ""
        if "median" in so and "median" in ss and not ss["never"]:
            ratio = f"{so['median'] / ss['median']:.3f}"
        elif ss["never"] and not so["never"]:
            ratio = "0 (never)"
        met = not so["never"] and so.get("max", 0) <= LATE_S and so.get("min", 0) >= -0.5
        table.add("timeliness", label, _lateness(ours), _lateness(stock), ratio,
                  f"ours max <= {LATE_S:g} s", met)
    table.notes.append(
        "timeliness: deadline = what ours showed in api/cull/status; stock: last_activity "
        "(api/kernels/<id>, api/status) + the timeout. Late until the first api/kernels "
        "poll (every 0.1 s) without the kernel returned, or the process was seen exited "
        "(every 0.05 s). The stock moment of activity is random over a whole cull_interval / "
        "60 s check, so its lateness is spread over that period; ratio: median / median.")


def row_hub(cfg: dict, raw: dict, table: Table) -> None:
    import hub_activity  # imports tests/hubharness.py

    interval = cfg["hub_interval"]
    progress(f"hub: activity POSTs, real JupyterHub, interval {interval} s for 300 s")
    result = hub_activity.measure(interval, log=progress)
    raw["hub"] = result
    for phase, what in (("idle", "idle: nothing happens"),
                        ("active", "a silent busy kernel all hour")):
        c = result[phase]
        ratio = f"{c['ours'] / c['stock']:.2f}" if c["stock"] else "-"
        table.add("hub traffic", f"activity POSTs per server-hour, {what}",
                  f"{c['ours']}", f"{c['stock']}", ratio)
    table.notes.append(
        f"hub traffic: time compressed {300 / interval:g}x (JUPYTERHUB_ACTIVITY_INTERVAL="
        f"{interval} s stands for 300 s; a server-hour is {12 * interval} s); stock = "
        "jupyterhub-singleuser's own reporter (our extension off for that user).")


def ensure_idle_culler() -> str | None:
    """None when jupyterhub-idle-culler can be imported (installed with pip if need be),
    else why not."""
    if importlib.util.find_spec("jupyterhub_idle_culler") is not None:
        return None
    progress("companion: jupyterhub-idle-culler is missing; pip install jupyterhub-idle-culler")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                           "jupyterhub-idle-culler"], capture_output=True, text=True)
    importlib.invalidate_caches()
    if done.returncode != 0 or importlib.util.find_spec("jupyterhub_idle_culler") is None:
        return ("needs jupyterhub-idle-culler: `pip install jupyterhub-idle-culler` failed: "
                + (done.stderr.strip().splitlines() or ["?"])[-1])
    return None


def row_companion(table: Table, cfg: dict, raw: dict, users: list[int]) -> None:
    missing = ensure_idle_culler()
    if missing:
        table.add("companion", "one pass vs jupyterhub-idle-culler", "-", "-", "",
                  "", None)
        table.notes.append(f"companion: not measured: {missing}")
        return
    import hub_pass

    table.notes.append(
        "companion: stock = jupyterhub-idle-culler --max-age (page size: each tool's "
        "default); fake spawner, no processes; one pass of each per kind; the 2-s row is "
        "computed from the measured steady pass (hub_pass.py).")
    raw["companion"] = {}
    for n in users:
        steady_only = n >= cfg.get("steady_only_from", float("inf"))
        progress(f"companion: {n} users with running servers, one pass each "
                 f"({'steady only' if steady_only else 'steady, then stop-all'})")
        rows = hub_pass.bench(n, steady_only=steady_only, log=progress)
        raw["companion"][str(n)] = rows
        by = {(kind.split(" ")[0], label): result for kind, label, result in rows}
        for kind, what in (("steady", "steady pass (0 due)"),
                           ("stop-all", f"stop-all pass ({n} due)")):
            if (kind, "ours") not in by:
                continue
            (w1, r1), (w2, r2) = by[(kind, "ours")], by[(kind, "idle-culler")]
            table.add("companion", f"N={n}, {what}: wall, hub API requests",
                      f"{w1:.2f} s, {r1} req", f"{w2:.2f} s, {r2} req",
                      f"{w1 / w2:.2f}, {r1 / max(r2, 1):.2f}")
        steady = {label: result for kind, label, result in rows if kind.startswith("steady")}
        c = hub_pass.lateness_cost(steady["ours"], steady["idle-culler"])
        busy = c["idle_culler_busy"]
        impossible = f", impossible: a pass takes {busy * 2:.1f} s" if busy > 1 else ""
        table.add("companion", f"N={n}, stops <= 2 s late (max age 7 d): hub API requests/h",
                  f"{c['ours_requests_per_hour']:.0f} (sweep every {c['every']} s)",
                  f"{c['idle_culler_requests_per_hour']:.0f} (pass every 2 s{impossible})",
                  f"{c['ours_requests_per_hour'] / c['idle_culler_requests_per_hour']:.4f}")


def row_widget(table: Table, cfg: dict, raw: dict) -> None:
    w = cfg["widget"]
    progress(f"widget: two JupyterLab tabs in headless Chromium, counting for "
             f"{w['window']:g} s after they settled")
    result = widget.measure(**w, log=progress)
    raw["widget"] = {m: {"counts": dict(r["counts"]), "window": r["window"],
                         "checks": r["checks"]} for m, r in result.items()}
    per_min = {m: 60 / r["window"] for m, r in result.items()}
    counts = {m: r["counts"] for m, r in result.items()}
    groups = sorted(set(counts["ours"]) | set(counts["stock"]))
    for g in [*groups, "total"]:
        o, s = ((sum(counts[m].values()) if g == "total" else counts[m][g]) * per_min[m]
                for m in ("ours", "stock"))
        table.add("widget", f"requests/min, {g}", f"{o:.1f}", f"{s:.1f}",
                  f"{o / s:.3f}" if s else f"{o - s:+.1f}/min")
    table.notes.append(
        f"widget: default settings, pages untouched and visible, {w['window']:g} s counted "
        "in each (at the same time, separate Chromium processes); stock: server extension "
        "off and the JupyterLab extension disabled for that server (status item absent and "
        "api/cull/status 404, checked). Ratio, or for a group stock does not have, the "
        "difference.")


# --- main ------------------------------------------------------------------------------------


def run_row(name: str, fn, errors: list[str], table: Table) -> None:
    started = time.monotonic()
    try:
        fn()
    except Exception as e:  # the other rows still run; the table says what failed
        traceback.print_exc(file=sys.stderr)
        errors.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        table.add(name, "FAILED (see stderr)", "-", "-")
    progress(f"{name}: {time.monotonic() - started:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 5 minutes")
    parser.add_argument("--only", nargs="+", choices=ROWS, help="run only these rows")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--users", type=int, nargs="+",
                        help="companion sizes (default: quick 200; full 1000 10000, the "
                             "latter steady pass only)")
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    rows = args.only or list(ROWS)
    table, raw, errors = Table(), {}, []
    started = datetime.now(timezone.utc)

    if "overhead" in rows:
        run_row("overhead", lambda: row_overhead(table, cfg, raw), errors, table)
    if "timeliness" in rows:
        run_row("timeliness", lambda: row_timeliness(table, cfg, raw), errors, table)
    if "companion" in rows:
        run_row("companion", lambda: row_companion(table, cfg, raw, args.users or cfg["users"]),
                errors, table)

    hub_table = Table()  # filled in its own thread when run alongside the widget
    hub_thread = None
    if "hub" in rows:
        def hub() -> None:
            run_row("hub traffic", lambda: row_hub(cfg, raw, hub_table), errors, hub_table)
        if args.quick and "widget" in rows:
            hub_thread = threading.Thread(target=hub, daemon=True)
            hub_thread.start()
        else:
            hub()
    if "widget" in rows:
        run_row("widget", lambda: row_widget(table, cfg, raw), errors, table)
    if hub_thread is not None:
        hub_thread.join()
    # The hub rows go before the companion's, as in the README.
    at = next((i for i, r in enumerate(table.rows) if r[0] in ("companion", "widget")),
              len(table.rows))
    table.rows[at:at] = hub_table.rows
    at = next((i for i, n in enumerate(table.notes) if n.startswith(("companion", "widget"))),
              len(table.notes))
    table.notes[at:at] = hub_table.notes
    table.missed += hub_table.missed

    wall = time.monotonic() - T0
    print(f"\njupyter-cull-ext benchmarks, {'quick' if args.quick else 'full'} mode, "
          f"{started:%Y-%m-%d %H:%M} UTC, {wall / 60:.1f} min; {platform.node()}, "
          f"{platform.python_version()}, {_cpus()}")
    print("ours = with jupyter-cull-ext; stock = the same without it (jupyter_server's own "
          "culling, jupyterhub-singleuser's reporter, jupyterhub-idle-culler, JupyterLab "
          "without our item)\n")
    print(table.text())
    print()
    for note in table.notes:
        print("- " + note)
    if table.missed:
        print("\nTargets missed: " + "; ".join(table.missed))
    if errors:
        print("\nRows that could not run: " + "; ".join(errors))
    if args.json:
        args.json.write_text(json.dumps({"mode": "quick" if args.quick else "full",
                                         "started": started.isoformat(), "wall_s": wall,
                                         "table": table.rows, "markdown": table.markdown(),
                                         "notes": table.notes, "raw": raw},
                                        indent=1, default=str))
    return 1 if errors else 0


def _cpus() -> str:
    import os

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average at the end {load}"


if __name__ == "__main__":
    sys.exit(main())
