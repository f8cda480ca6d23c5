"""What the extension costs a server: per request, per decision, per idle second.

- the request hook (classifying every finished request) in microseconds;
- one decision (``policy.decide``) for 1, 10 and 100 kernels with 10 terminals;
- the enforcer's idle cost as the share of one decision per second (it looks at least once
  a second, ``MAX_SLEEP``): a lower bound, as a live server's tick also reads its kernels and
  re-arms; ``run.py`` measures a real idle server's CPU.

    .venv/bin/python benchmarks/overhead.py

``request_hook()`` and ``decisions()`` return the figures (``benchmarks/run.py`` calls them).
"""

from __future__ import annotations

import timeit
from datetime import datetime, timedelta, timezone

from jupyter_cull_ext import policy
from jupyter_cull_ext.activity import DEFAULT_COUNTED_REQUESTS, RequestClassifier
from jupyter_cull_ext.enforce import MAX_SLEEP


def per_call(fn, number: int) -> float:
    """Best of 5 runs, seconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def request_hook() -> tuple[float, float]:
    """Seconds the request hook takes to classify a poll and a save."""
    classifier = RequestClassifier("/user/alice/", DEFAULT_COUNTED_REQUESTS)
    poll = per_call(lambda: classifier.counts("GET", "/user/alice/api/kernels", 200), 100_000)
    save = per_call(
        lambda: classifier.counts("PUT", "/user/alice/api/contents/a/b/nb.ipynb", 200), 100_000)
    return poll, save


def decisions(sizes: tuple[int, ...] = (1, 10, 100)) -> dict[int, float]:
    """Seconds one ``policy.decide`` takes with n kernels and 10 terminals, per n."""
    now = datetime.now(timezone.utc)
    settings = policy.Settings(kernel_timeout=3600, terminal_timeout=3600, server_timeout=3600,
                               warn_before=600, keepalive_max=86400, max_age=86400,
                               started=now - timedelta(hours=1))
    out = {}
    for n in sizes:
        facts = policy.Facts(
            now=now,
            activity={policy.SERVER_START: now - timedelta(hours=1),
                      policy.USER_API: now - timedelta(minutes=5)},
            kernels=tuple(policy.Kernel(str(i), "python3", "idle", 1,
                                        now - timedelta(seconds=i), 3600) for i in range(n)),
            terminals=tuple(policy.Terminal(str(i), now - timedelta(seconds=i))
                            for i in range(10)),
        )
        out[n] = per_call(lambda: policy.decide(facts, settings), 2_000)
    return out


def main() -> None:
    poll, save = request_hook()
    print(f"request hook: {poll * 1e6:.2f} us for a poll, {save * 1e6:.2f} us for a save")
    for n, t in decisions().items():
        share = t / MAX_SLEEP * 100
        print(f"decision with {n:3d} kernels: {t * 1e6:7.1f} us; idle CPU share "
              f"{share:.4f} % of one core")
    print("(the decision alone; a live server's tick also reads its kernels and re-arms: "
          "benchmarks/run.py measures a real idle server's CPU)")


if __name__ == "__main__":
    main()
