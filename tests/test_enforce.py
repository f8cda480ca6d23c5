"""Kernels and terminals are stopped at the deadline the status API showed, and not before;
protections (busy, connected, kernelspec timeouts) hold. Server exits are tested in a real
process (test_server_process.py)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime, timezone

import pytest
from conftest import parse_time, wait_for

#: The promise: the action happens at most this long after the deadline shown.
LATENESS = 2.0
#: Clock and measurement slack for "not before the deadline".
EARLY = 0.3


def seconds_until(iso: str) -> float:
    return (parse_time(iso) - datetime.now(timezone.utc)).total_seconds()


async def gone_at(jp_fetch, kind: str, ident: str, timeout: float) -> float:
    """Poll the REST listing (as a browser tab does) until ``ident`` disappears; return the
    wall-clock time it was first seen gone."""

    async def gone():
        r = await jp_fetch("api", kind)
        ids = [x.get("id", x.get("name")) for x in json.loads(r.body)]
        return time.time() if ident not in ids else None

    return await wait_for(gone, timeout=timeout, interval=0.1)


# 5 s: longer than LATENESS, so jupyter_server's own sweep (every 5 s) cannot pass for us.
@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 5}})
async def test_idle_kernel_culled_at_its_deadline(status, start_kernel, execute, jp_fetch):
    kid = await start_kernel()
    await execute(kid, "x = 1")
    kernel = (await status())["kernels"][0]
    assert kernel["id"] == kid and kernel["reason"] == "idle" and kernel["timeout"] == 5
    deadline = parse_time(kernel["deadline"]).timestamp()
    assert deadline == pytest.approx(parse_time(kernel["last_activity"]).timestamp() + 5)

    t = await gone_at(jp_fetch, "kernels", kid, timeout=10)
    assert deadline - EARLY <= t <= deadline + LATENESS, t - deadline


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 2, "cull_connected": False}})
async def test_connected_kernel_is_protected_until_disconnected(
    status, start_kernel, jp_ws_fetch, jp_fetch
):
    kid = await start_kernel()
    ws = await jp_ws_fetch("api", "kernels", kid, "channels")

    async def connected():
        k = (await status())["kernels"][0]
        return k if k["connections"] == 1 else None

    k = await wait_for(connected, timeout=10)
    assert (k["deadline"], k["protected_by"]) == (None, "connected")
    await asyncio.sleep(2.5)  # past the idle timeout: still there
    r = await jp_fetch("api", "kernels", kid)
    assert json.loads(r.body)["id"] == kid

    ws.close()
    t0 = time.time()
    t = await gone_at(jp_fetch, "kernels", kid, timeout=10)
    # idle for > 2 s already, so due as soon as the client is gone
    assert t - t0 <= LATENESS


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 2, "cull_busy": True}})
async def test_cull_busy_culls_a_silent_busy_kernel(status, start_kernel, execute, jp_fetch):
    kid = await start_kernel()
    await execute(kid, "import time; time.sleep(60)", wait=False)

    async def busy():
        k = (await status())["kernels"][0]
        return k if k["execution_state"] == "busy" else None

    k = await wait_for(busy, timeout=10)
    assert k["protected_by"] is None and k["deadline"] is not None
    deadline = parse_time(k["deadline"]).timestamp()
    t = await gone_at(jp_fetch, "kernels", kid, timeout=10)
    assert deadline - EARLY <= t <= deadline + LATENESS


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 2}})
async def test_busy_kernel_is_not_culled(status, start_kernel, execute, jp_fetch):
    kid = await start_kernel()
    await execute(kid, "import time; time.sleep(4)", wait=False)
    await asyncio.sleep(3.5)  # well past the 2 s idle timeout while silent and busy
    r = await jp_fetch("api", "kernels", kid)
    assert json.loads(r.body)["execution_state"] == "busy"
    # once idle it gets a fresh deadline (from its last message) and is culled 2 s later
    await gone_at(jp_fetch, "kernels", kid, timeout=10)


@pytest.mark.cull_config({"CullExt": {"terminal_idle_timeout": 2}})
async def test_idle_terminal_culled_at_its_deadline(status, jp_fetch):
    r = await jp_fetch("api", "terminals", method="POST", body="{}")
    name = json.loads(r.body)["name"]

    async def settled():
        a = (await status())["terminals"][0]["deadline"]
        await asyncio.sleep(0.5)
        return a if a == (await status())["terminals"][0]["deadline"] else None

    deadline = parse_time(await wait_for(settled, timeout=10)).timestamp()
    t = await gone_at(jp_fetch, "terminals", name, timeout=10)
    assert deadline - EARLY <= t <= deadline + LATENESS


@pytest.fixture
def short_kernelspec(jp_data_dir):
    """A kernelspec whose metadata asks for a 2 s idle timeout."""
    spec_dir = jp_data_dir / "kernels" / "short"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Short-lived Python",
        "language": "python",
        "metadata": {"cull_idle_timeout": 2},
    }))
    return "short"


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 3600}})
async def test_kernelspec_timeout_overrides_the_global_one(
    short_kernelspec, status, jp_fetch, jp_serverapp, start_kernel
):
    r = await jp_fetch("api", "kernels", method="POST",
                       body=json.dumps({"name": short_kernelspec}))
    short = json.loads(r.body)["id"]
    await jp_serverapp.kernel_manager.get_kernel(short).ready
    normal = await start_kernel()
    by_id = {k["id"]: k for k in (await status())["kernels"]}
    assert by_id[short]["timeout"] == 2
    assert by_id[normal]["timeout"] == 3600

    await gone_at(jp_fetch, "kernels", short, timeout=10)
    r = await jp_fetch("api", "kernels", normal)
    assert json.loads(r.body)["id"] == normal
