"""What the extension costs a server: per request, per decision, per idle second.

- the request hook (classifying every finished request) in microseconds;
- one decision (``policy.decide``) for 1, 10 and 100 kernels with 10 terminals;
- the enforcer's idle cost: it looks at least once a second (``MAX_SLEEP``), so the CPU
  share of an idle server is one decision per second.

    .venv/bin/python benchmarks/overhead.py
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


def main() -> None:
    classifier = RequestClassifier("/user/alice/", DEFAULT_COUNTED_REQUESTS)
    poll = per_call(lambda: classifier.counts("GET", "/user/alice/api/kernels", 200), 100_000)
    save = per_call(
        lambda: classifier.counts("PUT", "/user/alice/api/contents/a/b/nb.ipynb", 200), 100_000)
    print(f"request hook: {poll * 1e6:.2f} us for a poll, {save * 1e6:.2f} us for a save")

    now = datetime.now(timezone.utc)
    settings = policy.Settings(kernel_timeout=3600, terminal_timeout=3600, server_timeout=3600,
                               warn_before=600, keepalive_max=86400, max_age=86400,
                               started=now - timedelta(hours=1))
    for n in (1, 10, 100):
        facts = policy.Facts(
            now=now,
            activity={policy.SERVER_START: now - timedelta(hours=1),
                      policy.USER_API: now - timedelta(minutes=5)},
            kernels=tuple(policy.Kernel(str(i), "python3", "idle", 1,
                                        now - timedelta(seconds=i), 3600) for i in range(n)),
            terminals=tuple(policy.Terminal(str(i), now - timedelta(seconds=i))
                            for i in range(10)),
        )
        t = per_call(lambda: policy.decide(facts, settings), 2_000)
        share = t / MAX_SLEEP * 100
        print(f"decision with {n:3d} kernels: {t * 1e6:7.1f} us; idle CPU share "
              f"{share:.4f} % of one core")


if __name__ == "__main__":
    main()
