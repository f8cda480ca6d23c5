"""Each row of the activity table (docs/operator.md, "What counts as activity"): what counts, and what never does.

The observable is the status document's ``server.last_activity`` and
``last_activity_source``: the same value jupyter_server's ``/api/status``, its idle check and
hub reports see.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from conftest import parse_time, wait_for

from jupyter_cull_ext.activity import DEFAULT_COUNTED_REQUESTS, RequestClassifier

LAB = {
    "ServerApp": {
        "jpserver_extensions": {
            "jupyter_cull_ext": True,
            "jupyter_server_terminals": True,
            "jupyterlab": True,
        }
    }
}


async def last(status) -> tuple[datetime, str]:
    s = (await status())["server"]
    return parse_time(s["last_activity"]), s["last_activity_source"]


async def settle(status) -> datetime:
    """Let the clock move past the last activity, so a new one is distinguishable."""
    when, _ = await last(status)
    await asyncio.sleep(0.05)
    return when


# --- counts ----------------------------------------------------------------------------


async def test_kernel_execution_counts(status, start_kernel, execute, jp_serverapp):
    kid = await start_kernel()
    await execute(kid, "1 + 1")
    before = await settle(status)
    await execute(kid, "x = 2")

    async def idle_again():  # the reply can arrive before the kernel's "idle" status
        when, source = await last(status)
        return (when, source) if source != "busy_kernel" else None

    when, source = await wait_for(idle_again, timeout=10)
    assert source == "kernel"
    assert when > before


async def test_busy_kernel_counts_for_as_long_as_it_is_busy(status, start_kernel, execute):
    kid = await start_kernel()
    await execute(kid, "import time", wait=True)
    await execute(kid, "time.sleep(3)", wait=False)

    async def busy():
        s = await status()
        return s if s["kernels"][0]["execution_state"] == "busy" else None

    first = await wait_for(busy, timeout=10)
    await asyncio.sleep(1.5)  # no message from the kernel in between: it is silent
    second = await status()
    assert second["kernels"][0]["execution_state"] == "busy"
    for s in (first, second):
        assert s["server"]["last_activity_source"] == "busy_kernel"
        assert s["server"]["last_activity"] == s["now"]
        assert s["server"]["protected_by"] == "busy_kernel"
        assert s["kernels"][0]["protected_by"] == "busy"
        assert s["kernels"][0]["deadline"] is None
    assert parse_time(second["server"]["last_activity"]) >= parse_time(
        first["server"]["last_activity"]
    ) + timedelta(seconds=1.4)

    async def idle():
        s = await status()
        return s if s["kernels"][0]["execution_state"] == "idle" else None

    done = await wait_for(idle, timeout=10)
    assert done["server"]["last_activity_source"] == "kernel"
    assert done["kernels"][0]["deadline"] is not None


async def test_terminal_io_counts(status, jp_fetch, jp_ws_fetch):
    r = await jp_fetch("api", "terminals", method="POST", body="{}")
    name = json.loads(r.body)["name"]
    ws = await jp_ws_fetch("terminals", "websocket", name)
    try:
        # let the shell's start-up output settle, then type
        async def quiet():
            a = await last(status)
            await asyncio.sleep(0.5)
            return a == await last(status)

        await wait_for(quiet, timeout=15)
        before = await settle(status)
        await ws.write_message(json.dumps(["stdin", "echo hello\r"]))

        async def typed():
            when, source = await last(status)
            return source == "terminal" and when > before

        await wait_for(typed, timeout=10)
        term = (await status())["terminals"][0]
        assert term["name"] == name
        assert parse_time(term["last_activity"]) > before
    finally:
        ws.close()


def _new_file(path="a.txt", content="x"):
    return json.dumps({"type": "file", "format": "text", "content": content}), path


USER_ACTIONS = {
    "save": ("PUT", "api/contents/doc.txt", json.dumps(
        {"type": "file", "format": "text", "content": "edited"})),
    "rename": ("PATCH", "api/contents/doc.txt", json.dumps({"path": "renamed.txt"})),
    "delete": ("DELETE", "api/contents/doc.txt", None),
    "new-dir": ("POST", "api/contents", json.dumps({"type": "directory"})),
    "start-kernel": ("POST", "api/kernels", json.dumps({"name": "python3"})),
    "start-session": ("POST", "api/sessions", json.dumps(
        {"path": "nb.ipynb", "type": "notebook", "kernel": {"name": "python3"}})),
    "start-terminal": ("POST", "api/terminals", "{}"),
}


@pytest.mark.parametrize("action", list(USER_ACTIONS))
async def test_user_api_writes_count(action, status, jp_fetch, jp_root_dir, jp_serverapp):
    (jp_root_dir / "doc.txt").write_text("original")
    method, path, body = USER_ACTIONS[action]
    before = await settle(status)
    await jp_fetch(*path.split("/"), method=method, body=body,
                   allow_nonstandard_methods=True)
    when, _source = await last(status)
    assert when > before
    # the source itself (a new terminal's shell output may already have counted after it)
    tracker = jp_serverapp.web_app.settings["jupyter_cull_ext"].tracker
    assert tracker.times()["user_api"] > before


async def test_a_save_marked_as_autosave_does_not_count(status, jp_fetch, jp_root_dir,
                                                        jp_serverapp):
    """The widget's save just before a stop must not postpone that stop; the same save
    without the header (a person pressing Ctrl+S) does count."""
    tracker = jp_serverapp.web_app.settings["jupyter_cull_ext"].tracker
    body = json.dumps({"type": "file", "format": "text", "content": "saved by the widget"})
    before = await settle(status)
    response = await jp_fetch("api", "contents", "doc.txt", method="PUT", body=body,
                              headers={"X-Jupyter-Cull-Autosave": "1"})
    assert response.code in (200, 201)
    assert (jp_root_dir / "doc.txt").read_text() == "saved by the widget"  # saved...
    assert "user_api" not in tracker.times()  # ...but not counted
    assert (await last(status))[0] == before

    await jp_fetch("api", "contents", "doc.txt", method="PUT", body=body,
                   headers={"X-Jupyter-Cull-Autosave": "0"})
    assert tracker.times()["user_api"] > before


async def test_stopping_a_kernel_counts(status, jp_fetch, start_kernel):
    kid = await start_kernel()
    before = await settle(status)
    await jp_fetch("api", "kernels", kid, method="DELETE")
    when, source = await last(status)
    assert source == "user_api" and when > before


async def test_other_extensions_count(status, jp_serverapp):
    settings = jp_serverapp.web_app.settings
    before = await settle(status)
    settings["last_activity_times"]["proxy"] = datetime.now(timezone.utc)
    when, source = await last(status)
    assert source == "extension:proxy" and when > before

    before = await settle(status)
    settings["myext_last_activity"] = datetime.now(timezone.utc)
    when, source = await last(status)
    assert source == "extension:myext_last_activity" and when > before


# --- never counts ------------------------------------------------------------------------


BACKGROUND_POLLS = [
    ("api", "kernels"),
    ("api", "sessions"),
    ("api", "terminals"),
    ("api", "kernelspecs"),
    ("api", "me"),
    ("api", "contents"),
    ("api", "contents", "doc.txt"),
    ("api", "status"),
    ("api", "cull", "status"),
    ("lab", "api", "settings"),
    ("lab", "api", "workspaces"),
    ("lab",),
    ("static", "favicon.ico"),
]


@pytest.mark.cull_config(LAB)
async def test_background_polls_never_count(status, jp_fetch, jp_root_dir, start_kernel, execute):
    (jp_root_dir / "doc.txt").write_text("x")
    # A new kernel's first messages are its activity, and on a busy machine they may come a
    # second or more after it is ready: run a cell, so that they are behind us.
    await execute(await start_kernel(), "1")
    await jp_fetch("api", "terminals", method="POST", body="{}")

    async def settled():
        a = await last(status)
        await asyncio.sleep(1)
        return a == await last(status)

    await wait_for(settled, timeout=15)
    before = await last(status)
    for _ in range(2):
        for parts in BACKGROUND_POLLS:
            r = await jp_fetch(*parts, raise_error=False)
            assert r.code < 400, (parts, r.code)
    assert await last(status) == before


@pytest.mark.cull_config(LAB)
async def test_lab_workspace_and_settings_writes_never_count(status, jp_fetch):
    before = await settle(status)
    r = await jp_fetch("lab", "api", "workspaces", "default", method="PUT",
                       body=json.dumps({"data": {}, "metadata": {"id": "default"}}))
    assert r.code < 400
    assert await last(status) == (before, "server_start")


async def test_failed_requests_never_count(status, jp_fetch):
    before = await settle(status)
    r = await jp_fetch("api", "contents", "missing.txt", method="DELETE", raise_error=False)
    assert r.code == 404
    assert (await last(status))[0] == before


async def test_kernel_info_and_websocket_traffic_never_count(
    status, start_kernel, execute, jp_serverapp, jp_ws_fetch
):
    kid = await start_kernel()
    await execute(kid, "1")
    kernel = jp_serverapp.kernel_manager.get_kernel(kid)
    kc = kernel.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=30)
        before = await settle(status)
        # a browser tab (re)connecting: websocket open, kernel_info, comm_info, close
        ws = await jp_ws_fetch("api", "kernels", kid, "channels")
        ws.close()
        kc.kernel_info()
        await kc.get_shell_msg(timeout=10)
        kc.comm_info()
        await kc.get_shell_msg(timeout=10)
        await asyncio.sleep(0.3)
        assert (await last(status))[0] == before
    finally:
        kc.stop_channels()


# --- the classification itself ----------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, status_code, counts",
    [
        ("PUT", "/base/api/contents/nb.ipynb", 200, True),
        ("POST", "/base/api/contents/nb.ipynb/checkpoints", 201, True),
        ("PATCH", "/base/api/sessions/abc", 200, True),
        ("POST", "/base/api/kernels/abc/interrupt", 204, True),
        ("DELETE", "/base/api/terminals/1", 204, True),
        ("GET", "/base/api/contents/nb.ipynb", 200, False),
        ("GET", "/base/api/kernels", 200, False),
        ("PUT", "/base/lab/api/workspaces/default", 204, False),
        ("PUT", "/base/lab/api/settings/x", 204, False),
        ("POST", "/base/api/cull/status", 200, False),
        ("PUT", "/base/api/contents/nb.ipynb", 403, False),
        ("PUT", "/other/api/contents/nb.ipynb", 200, False),
        ("PUT", "/base/api/contentsX", 200, False),
    ],
)
def test_request_classification(method, path, status_code, counts):
    classifier = RequestClassifier("/base/", DEFAULT_COUNTED_REQUESTS)
    assert classifier.counts(method, path, status_code) is counts


def test_operator_patterns_replace_the_defaults():
    classifier = RequestClassifier("/", [r"POST api/myapp/.*"])
    assert classifier.counts("POST", "/api/myapp/run", 200)
    assert not classifier.counts("PUT", "/api/contents/a.txt", 200)
    assert not RequestClassifier("/", []).counts("PUT", "/api/contents/a.txt", 200)


def test_autosave_header_is_never_counted():
    classifier = RequestClassifier("/", DEFAULT_COUNTED_REQUESTS)
    assert not classifier.counts("PUT", "/api/contents/a.txt", 200,
                                 {"X-Jupyter-Cull-Autosave": "1"})
    assert classifier.counts("PUT", "/api/contents/a.txt", 200, {"Other": "1"})
