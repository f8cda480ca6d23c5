"""Work is work wherever it runs; waiting for a person is not (issue: busy terminals, detached
jobs, unanswered ``input()``). Real ``jupyter server`` processes, real terminals over their
websocket, real detached processes; deadlines judged as in test_server_process.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import jsonschema
import pytest
import websocket
from hubharness import execute_request
from procs import kill_leftovers, running_with
from test_server_process import (  # noqa: F401 (launch is a fixture)
    EARLY,
    LATE,
    TOKEN,
    Server,
    kernel_entry,
    launch,
    wall,
)

from jupyter_cull_ext import status as status_doc


def terminal(server: Server) -> str:
    r = server.post("api/terminals")
    assert r.status_code == 200, r.text
    return r.json()["name"]


def type_in(server: Server, name: str, *lines: str) -> None:
    """Type ``lines`` into a terminal over its websocket, then close the tab."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/terminals/websocket/{name}?token={TOKEN}", timeout=10)
    try:
        for line in lines:
            ws.send(json.dumps(["stdin", line + "\r"]))
        time.sleep(0.3)  # let the shell read it before the tab closes
    finally:
        ws.close()


def term_entry(status: dict, name: str) -> dict | None:
    return next((t for t in status["terminals"] if t["name"] == name), None)


def poll(server: Server, what: str, check: Callable[[dict], bool], timeout: float = 10
         ) -> dict:
    limit = time.monotonic() + timeout
    while True:
        status = server.status()
        jsonschema.validate(status, status_doc.schema())  # busy terminals, processes too
        if check(status):
            return status
        assert time.monotonic() < limit, f"{what} not seen within {timeout} s: {status}"
        time.sleep(0.1)


def exits_at_shown_deadline(server: Server, limit: float) -> None:
    """The server exits within LATE of the last deadline its status showed."""
    deadline, seen = None, time.time()
    while server.running():
        try:
            s = server.status()["server"]
            if s["deadline"] is not None:
                deadline, seen = wall(s["deadline"]), time.time()
        except Exception:
            pass
        assert time.time() < limit, f"server still running:\n{server.log()}"
        time.sleep(0.1)
    gone = time.time()
    assert deadline is not None, server.log()
    assert seen - EARLY <= deadline or gone >= deadline - EARLY, (deadline, gone)
    assert gone - deadline <= LATE, (gone - deadline, server.log())


@pytest.mark.oldest
def test_a_silent_job_in_a_closed_terminal_keeps_it_and_the_server(launch: Callable) -> None:
    server = launch("--CullExt.terminal_idle_timeout=3", "--CullExt.server_idle_timeout=3",
                    "--CullExt.warn_before=1")
    name = terminal(server)
    started = time.time()
    type_in(server, name, "sleep 8; echo done")
    status = poll(server, "the running command", lambda s: (term_entry(s, name) or {}).get(
        "command") == "sleep 8")
    t = term_entry(status, name)
    assert t["protected_by"] == "busy" and t["deadline"] is None, t
    assert status["server"]["protected_by"] == "busy_terminal", status
    assert status["server"]["deadline"] is None, status

    # Past both timeouts with nothing but the silent job: terminal and server stay.
    assert server.wait_exit(timeout=started + 6 - time.time()) is None, server.log()
    t = term_entry(server.status(), name)
    assert t is not None and t["command"] == "sleep 8", f"terminal culled:\n{server.log()}"

    # The job ends: the terminal is idle again, and the server stops on time after it.
    poll(server, "the job's end", lambda s: (term_entry(s, name) or {"command": None})[
        "command"] is None, timeout=8)
    exits_at_shown_deadline(server, limit=time.time() + 3 + LATE + 5)
    log = server.log()
    assert "Stopping server: idle for" in log, log


def test_a_program_waiting_for_the_keyboard_is_not_work(launch: Callable) -> None:
    server = launch("--CullExt.terminal_idle_timeout=3", "--CullExt.server_idle_timeout=0")
    name = terminal(server)
    type_in(server, name, "python3 -c 'input()'")
    status = poll(server, "the prompt", lambda s: (term_entry(s, name) or {}).get(
        "waiting_for_input") is True)
    t = term_entry(status, name)
    assert t["command"].startswith("python3 -c"), t
    assert t["protected_by"] is None and t["deadline"] is not None, t
    deadline = wall(t["deadline"])
    poll(server, "the terminal culled", lambda s: term_entry(s, name) is None,
         timeout=deadline - time.time() + LATE + 3)
    assert time.time() - deadline <= LATE + 0.5, server.log()


def detached(server: Server, name: str, command: str) -> None:
    """Start ``command`` detached from a terminal (setsid + nohup), then leave it."""
    type_in(server, name, f"setsid nohup {command} > /dev/null 2>&1 < /dev/null &", "exit")


#: In the command line of every CPU job these tests start, so that teardown finds the
#: detached ones (setsid: no longer the server's children) and stops them.
JOB_TAG = "cull-ext-test-job"


def cpu_job(seconds: float) -> str:
    """A command line that keeps about 40 % of a core busy for ``seconds``: well over the
    server's 0.1-core threshold, and light on the tests that run beside this one."""
    loop = (f"import time\\nt = time.time()\\nwhile time.time() - t < {seconds}:\\n"
            " s = time.time()\\n while time.time() - s < 0.03: pass\\n time.sleep(0.05)")
    return f"python3 -c 'exec(\"{loop}\")' {JOB_TAG}"


@pytest.fixture(autouse=True)
def stop_cpu_jobs() -> Iterator[None]:
    """A job outlives its test (and its server) by design: stop it after the test."""
    yield
    kill_leftovers(running_with(JOB_TAG.encode()))


def test_a_detached_cpu_job_holds_the_server_and_a_sleeping_one_does_not(
    launch: Callable,
) -> None:
    server = launch("--CullExt.server_idle_timeout=4", "--CullExt.warn_before=1",
                    "--CullExt.process_sample_interval=1", "--CullExt.terminal_idle_timeout=0")
    detached(server, terminal(server), "sleep 60")
    # The sleeping job alone: the server stops at its idle deadline as if it were not there.
    s = poll(server, "a deadline", lambda s: s["server"]["deadline"] is not None)
    assert s["processes"] == [], s
    detached(server, terminal(server), cpu_job(9))
    status = poll(server, "the busy job", lambda s: any(
        p["name"].startswith("python") for p in s["processes"]))
    job = next(p for p in status["processes"] if p["name"].startswith("python"))
    assert job["source"] == f"process:{job['name']}" and job["cpu"] > 0.1, job
    assert [p for p in status["processes"] if p["name"] == "sleep"] == [], status
    ran_until = time.time() + 7
    while time.time() < ran_until:  # well past the 4 s idle timeout while it runs
        assert server.running(), f"server stopped under a running job:\n{server.log()}"
        s = server.status()["server"]
        assert s["last_activity_source"].startswith("process:") or s[
            "last_activity_source"] == "user_api", s
        time.sleep(0.5)
    # It ends: the server's idle time starts within a sample, and it stops on time.
    exits_at_shown_deadline(server, limit=time.time() + 4 + 4 + LATE + 2)


def test_another_servers_busy_job_never_counts(launch: Callable) -> None:
    other = launch("--CullExt.server_idle_timeout=0", "--CullExt.process_sample_interval=1")
    detached(other, terminal(other), cpu_job(60))
    poll(other, "its busy job", lambda s: bool(s["processes"]))
    ours = launch("--CullExt.server_idle_timeout=6", "--CullExt.warn_before=1",
                  "--CullExt.process_sample_interval=1")
    for _ in range(3):  # several samples while the other server's job runs
        status = ours.status()
        assert status["processes"] == [], status
        assert not status["server"]["last_activity_source"].startswith("process:"), status
        time.sleep(1)
    exits_at_shown_deadline(ours, limit=time.time() + 6 + LATE + 5)
    assert other.running() and other.status()["processes"], other.log()


def ask_for_input(server: Server, kid: str) -> float:
    """Run ``input()`` in the kernel, wait for its prompt, then close the tab unanswered."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/api/kernels/{kid}/channels?token={TOKEN}", timeout=10)
    try:
        ws.send(execute_request("name = input('name? ')", allow_stdin=True))
        limit = time.monotonic() + 10
        while time.monotonic() < limit:
            msg = json.loads(ws.recv())
            if msg["header"]["msg_type"] == "input_request":
                return time.time()
        pytest.fail("no input_request from the kernel")
    finally:
        ws.close()


@pytest.mark.oldest
def test_an_unanswered_input_prompt_lets_the_server_stop(launch: Callable) -> None:
    server = launch("--CullExt.kernel_idle_timeout=0", "--CullExt.server_idle_timeout=4",
                    "--CullExt.warn_before=1")
    kid = server.start_kernel()
    asked = ask_for_input(server, kid)
    status = poll(server, "the prompt", lambda s: (kernel_entry(s, kid) or {}).get(
        "waiting_for_input_since") is not None)
    k = kernel_entry(status, kid)
    assert k["execution_state"] == "busy" and k["protected_by"] is None, k
    assert abs(wall(k["waiting_for_input_since"]) - asked) < 1.0, k
    s = status["server"]
    assert s["protected_by"] is None and s["deadline"] is not None, s
    assert abs(wall(s["last_activity"]) - asked) < 1.0, s
    exits_at_shown_deadline(server, limit=asked + 4 + LATE + 5)
