"""Fixtures: a real jupyter_server (pytest-jupyter) with the extension loaded, real ipykernel
kernels, and bounded polling helpers.

Configure a test's server with ``@pytest.mark.cull_config({...})``: a traitlets config dict
merged over the defaults below (short timeouts, but never a server idle stop in-process: that
would stop the test's event loop; server exits are tested in a subprocess).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from traitlets.config import Config

from jupyter_cull_ext import timeutil

pytest_plugins = ["pytest_jupyter.jupyter_server"]


def merge(base: dict, extra: dict) -> dict:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in extra.items():
        out.setdefault(section, {}).update(values)
    return out


BASE_CONFIG = {
    "ServerApp": {
        "jpserver_extensions": {"jupyter_cull_ext": True, "jupyter_server_terminals": True},
        "allow_unauthenticated_access": False,
    },
    "CullExt": {"server_idle_timeout": 0},
}


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest) -> Config:
    marker = request.node.get_closest_marker("cull_config")
    extra = marker.args[0] if marker else {}
    return Config(merge(BASE_CONFIG, extra))


@pytest.fixture
def jp_serverapp(jp_serverapp: Any, jp_asyncio_loop: Any) -> Any:
    """pytest-jupyter's server, plus what ``ServerApp.start_ioloop`` would do next and
    pytest-jupyter skips: start the extensions (our enforcer and reporter start there)."""
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    return jp_serverapp


def parse_time(value: str) -> datetime:
    return timeutil.parse(value)


async def wait_for(
    predicate: Callable[[], Awaitable[Any]], timeout: float = 15, interval: float = 0.1
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        await asyncio.sleep(interval)


@pytest.fixture
def status(jp_fetch: Any) -> Callable[[], Awaitable[dict]]:
    """GET api/cull/status as a dict."""

    async def get() -> dict:
        r = await jp_fetch("api", "cull", "status")
        return json.loads(r.body)

    return get


@pytest.fixture
def start_kernel(jp_fetch: Any, jp_serverapp: Any) -> Callable[[], Awaitable[str]]:
    """Start a real ipykernel through the REST API and wait until it is ready."""

    async def start() -> str:
        r = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
        kid = json.loads(r.body)["id"]
        kernel = jp_serverapp.kernel_manager.get_kernel(kid)
        await kernel.ready
        return kid

    return start


@pytest.fixture
def execute(jp_serverapp: Any) -> Callable[..., Awaitable[None]]:
    """Run code on a kernel through a ZMQ client (as any frontend would), and wait for it
    to finish (and the server to see the kernel idle again) unless ``wait=False``."""
    clients = []

    async def run(kid: str, code: str, wait: bool = True) -> None:
        kernel = jp_serverapp.kernel_manager.get_kernel(kid)
        kc = kernel.client()
        kc.start_channels()
        clients.append(kc)
        await kc.wait_for_ready(timeout=30)
        msg_id = kc.execute(code)
        if not wait:
            return
        while True:
            reply = await kc.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                assert reply["content"]["status"] == "ok", reply["content"]
                break

        # The server learns that the kernel is idle again from the kernel's iopub status
        # message, which may arrive after the reply we just read.
        async def server_sees_idle() -> bool:
            return kernel.execution_state == "idle"

        await wait_for(server_sees_idle, timeout=10, interval=0.02)

    yield run
    for kc in clients:
        kc.stop_channels()
