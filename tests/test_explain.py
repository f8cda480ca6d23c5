"""`jupyter cull status`: the status document in words, from a real server."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta, timezone

import pytest

from jupyter_cull_ext import policy, status
from jupyter_cull_ext.explain import explain

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def doc(**facts_kw) -> dict:
    settings = policy.Settings(kernel_timeout=3600, terminal_timeout=600, server_timeout=3600,
                               warn_before=600, keepalive_max=86400, max_age=0,
                               started=NOW - timedelta(hours=2))
    facts = policy.Facts(now=NOW, activity={"server_start": NOW - timedelta(hours=2),
                                            "presence": NOW - timedelta(minutes=10)},
                         **facts_kw)
    return status.document(policy.decide(facts, settings))


def test_idle_server_says_when_and_why():
    text = explain(doc())
    assert "stops in 0:50:00 (at 12:50:00 UTC)" in text
    assert "after 1 h idle" in text
    assert "Last activity 11:50:00 UTC: someone using JupyterLab in a visible tab." in text
    assert "A warning is shown in 0:40:00" in text
    assert "keep it alive for up to 24 h" in text


def test_busy_kernel_says_why_not():
    k = policy.Kernel("0123456789", "python3", "busy", 0, NOW - timedelta(hours=1), 3600)
    text = explain(doc(kernels=(k,)))
    assert "will not be stopped for now: a kernel is busy" in text
    assert "Kernel python3 01234567 (busy): kept while it is busy." in text


def test_terminal_and_idle_kernel_lines():
    k = policy.Kernel("abcdef0123", "python3", "idle", 1, NOW - timedelta(minutes=30), 3600)
    t = policy.Terminal("1", NOW - timedelta(minutes=5))
    text = explain(doc(kernels=(k,), terminals=(t,)))
    assert "Kernel python3 abcdef01 (idle): shut down in 0:30:00" in text
    assert "Terminal 1: closed in 0:05:00" in text


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 600}})
async def test_cli_against_a_real_server(jp_serverapp, jp_base_url, http_server_port,
                                         start_kernel):
    await start_kernel()
    token = jp_serverapp.identity_provider.token
    url = f"http://127.0.0.1:{http_server_port[-1]}{jp_base_url}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jupyter_cull_ext.explain", "status", "--url", url,
        "--token", token, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "will not be stopped for now: idle stopping is turned off" in text
    assert "Kernel python3" in text and "idle timeout 10 min" in text

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jupyter_cull_ext.explain", "--url", url, "--token", "wrong",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 1 and b"HTTP 403" in err


def test_activity_of_another_extension_is_named():
    settings = policy.Settings(server_timeout=3600)
    facts = policy.Facts(now=NOW, activity={"server_start": NOW - timedelta(hours=2),
                                            "extension:jupyter-server-proxy": NOW})
    text = explain(status.document(policy.decide(facts, settings)))
    assert "Last activity 12:00:00 UTC: the jupyter-server-proxy extension." in text


def test_work_outside_kernels_and_unknown_kernels_are_explained():
    """Busy terminals, waiting prompts, processes and a gateway out of reach, in words."""
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    facts = policy.Facts(
        now=t0 + timedelta(seconds=60), activity={policy.SERVER_START: t0},
        kernels=(
            policy.Kernel("k1", "python3", "busy", 0, t0, 600,
                          waiting_since=t0 + timedelta(seconds=10)),
            policy.Kernel("k2", "python3", "idle", 0, t0, 600, known=False),
        ),
        terminals=(
            policy.Terminal("1", t0, command="python train.py"),
            policy.Terminal("2", t0, command="python3 -c input()", waiting_for_input=True),
        ),
        processes=(policy.Process(42, "python", "python job.py", 0.9, t0),),
    )
    text = explain(status.document(policy.decide(facts, policy.Settings(
        server_timeout=600, terminal_timeout=600, kernel_timeout=600)), gateway={
            "url": "http://gw:8888", "reachable": False, "last_ok": None,
            "error": "no answer within 5 s", "facts_age": None, "max_age": 12}))
    assert "a kernel is busy" in text or "a command runs in a terminal" in text, text
    assert "waiting for your input since 12:00:10 UTC" in text, text
    assert "cannot be read now" in text, text
    assert "Terminal 1 (running python train.py): kept while the command runs." in text, text
    assert "Terminal 2 (waiting for your input: python3 -c input())" in text, text
    assert "Process 42 (python job.py) used 0.9 cores" in text, text
    assert "gateway http://gw:8888 (unreachable: no answer within 5 s)" in text, text
