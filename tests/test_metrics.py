"""Prometheus metrics on jupyter_server's own /metrics."""

from __future__ import annotations

import json
import math

import pytest
from conftest import wait_for


async def scrape(jp_fetch) -> dict[str, float]:
    r = await jp_fetch("metrics")
    samples = {}
    for line in r.body.decode().splitlines():
        if line.startswith("jupyter_cull_ext_"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def culls(samples: dict, kind: str, reason: str) -> float:
    return samples.get(f'jupyter_cull_ext_culls_total{{kind="{kind}",reason="{reason}"}}', 0)


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 2, "server_idle_timeout": 3600}})
async def test_culls_and_deadlines_are_exported(jp_fetch, start_kernel):
    before = await scrape(jp_fetch)
    assert 3590 < before["jupyter_cull_ext_server_deadline_seconds"] <= 3600
    assert math.isnan(before["jupyter_cull_ext_next_cull_seconds"])

    kid = await start_kernel()
    during = await scrape(jp_fetch)
    assert 0 < during["jupyter_cull_ext_next_cull_seconds"] <= 2

    async def culled():
        r = await jp_fetch("api", "kernels")
        return kid not in [k["id"] for k in json.loads(r.body)]

    await wait_for(culled, timeout=10)
    after = await scrape(jp_fetch)
    assert culls(after, "kernel", "idle") == culls(before, "kernel", "idle") + 1
