"""A hub that is slow (answers later than the reporter waits) or refuses our reports (403):
the server keeps running, culling is on time, status answers promptly, and the server log
has one ERROR per failure burst (and one INFO line when reports succeed again).

The hub is ``test_hubreport_faults.StubHub``, a real HTTP server on 127.0.0.1: a real hub
cannot be made slow or refusing on demand. The reporter's timings are shortened (its
``fast`` fixture, and ``REQUEST_TIMEOUT``) so a burst of several failures takes seconds.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from test_hubreport_faults import StubHub, fast  # noqa: F401 (fast is a fixture)

from jupyter_cull_ext import hubreport

from .conftest import LATE, Watch, settled_deadline

HUB_TOKEN = "hub-api-token-not-for-the-log-0123"
#: How long a status request may take (docs/operator.md, "Reliability").
STATUS_BOUND = 1.0
#: The reporter gives up on a report after this long in these tests; the slow hub answers
#: later still.
CLIENT_TIMEOUT, SLOW_ANSWER = 0.5, 2.0


@pytest.fixture
def hub(jp_asyncio_loop: Any):
    async def make() -> StubHub:
        return StubHub([])

    stub = jp_asyncio_loop.run_until_complete(make())
    yield stub
    stub.server.stop()


@pytest.fixture
def jp_environ(jp_environ: Any, hub: StubHub, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The environment JupyterHub gives a single-user server, pointing at the stub."""
    monkeypatch.setenv("JUPYTERHUB_ACTIVITY_URL", hub.url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", HUB_TOKEN)
    return jp_environ


def breaker(hub: StubHub, fault: str):
    def broken(on: bool) -> None:
        if fault == "slow":
            hub.delay = SLOW_ANSWER if on else 0.0
        else:
            hub.codes = [403] * 10_000 if on else []

    return broken


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[E ")]


@pytest.mark.parametrize("fault", ["slow", "403"])
@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 3, "hub_activity_interval": 1}})
async def test_a_failing_hub_never_affects_culling(
    fault: str, hub: StubHub, fast: None, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    jp_serverapp: Any, jp_fetch: Any, start_kernel: Any, status: Any, server_log: Any,
) -> None:
    monkeypatch.setattr(hubreport, "REQUEST_TIMEOUT", CLIENT_TIMEOUT)
    broken = breaker(hub, fault)
    assert (await status())["hub"]["reporting"] is True

    async def failures_since(start: int, at_least: int, timeout: float = 15) -> None:
        limit = time.monotonic() + timeout
        while len(hub.requests) - start < at_least:
            assert time.monotonic() < limit, f"only {len(hub.requests) - start} reports tried"
            await asyncio.sleep(0.05)

    async def recovered() -> None:
        limit = time.monotonic() + 15
        while not (await status())["hub"]["last_report_ok"]:
            assert time.monotonic() < limit, (await status())["hub"]
            await asyncio.sleep(0.05)

    # Burst 1, while a kernel reaches its idle deadline.
    broken(True)
    kid = await start_kernel()  # starting a kernel counts: a report is due
    _, deadline = await settled_deadline(status, "kernels", kid)
    watch = Watch(jp_fetch, "kernels")
    slowest = 0.0
    while kid not in watch.gone:
        t0 = time.monotonic()
        doc = await status()
        slowest = max(slowest, time.monotonic() - t0)
        await watch.poll()
        assert time.monotonic() < deadline + LATE + 5, f"kernel not culled: {doc['kernels']}"
        await asyncio.sleep(0.1)
    assert watch.gone[kid] - deadline <= LATE, watch.gone[kid] - deadline
    assert slowest <= STATUS_BOUND, slowest
    start = 0
    await failures_since(start, 3)
    hub_status = (await status())["hub"]
    assert hub_status["last_report_ok"] is False, hub_status
    assert ("timeout" in hub_status["last_error"].lower() if fault == "slow"
            else "403" in hub_status["last_error"]), hub_status
    assert len(error_lines(server_log())) == 1, error_lines(server_log())

    broken(False)
    await recovered()

    # Burst 2: one more ERROR line, however many reports fail.
    broken(True)
    start = len(hub.requests)
    await jp_fetch("api", "cull", "activity", method="POST", body="{}")
    await failures_since(start, 3)
    broken(False)
    await recovered()

    text = server_log()
    errors = error_lines(text)
    assert len(errors) == 2, errors
    assert all("Could not report activity to the hub" in line for line in errors), errors
    assert len(re.findall(r"Hub activity reports succeed again after \d+ failure", text)) == 2
    assert HUB_TOKEN not in text
    reporter = jp_serverapp.web_app.settings["jupyter_cull_ext"].reporter
    assert reporter.last_report_ok is True
    # Stop it here, on the running loop, and let the cancellation finish (pytest-jupyter's
    # teardown would only cancel it, and close the loop under it).
    reporter.stop()
    await asyncio.wait([reporter._task], timeout=5)
    assert reporter._task.done()
