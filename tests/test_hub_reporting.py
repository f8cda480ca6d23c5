"""Activity reports to a real JupyterHub (configurable-http-proxy run separately) from real
``jupyterhub-singleuser`` servers with only this package installed.

The activity interval is shortened to 4 s through ``JUPYTERHUB_ACTIVITY_INTERVAL``, the same
variable operators use. The hub's own merging of proxy traffic is pushed out of the way
(``last_activity_interval``) so what moves ``last_activity`` here is our reporter.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest
from hubharness import Hub, execute_request, process_gone, wait_until

INTERVAL = 4


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


#: erin's server is told a max age (the others none), as ``hub.configure`` would, but this hub
#: has no companion: her server's token may not stop her server.
ERIN_MAX_AGE = 15
CONFIG = f"""
c.Spawner.environment["JUPYTER_CULL_MAX_AGE"] = (
    lambda spawner: "{ERIN_MAX_AGE}" if spawner.user.name == "erin" else "0")
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("hub"), config=CONFIG,
            spawner_env={"JUPYTERHUB_ACTIVITY_INTERVAL": str(INTERVAL)})
    h.start()
    yield h
    h.close()


def activity_posts(hub: Hub, name: str) -> int:
    return len(re.findall(rf"POST /hub/api/users/{name}/activity", hub.log()))


def hub_last_activity(hub: Hub, name: str) -> datetime:
    return parse(hub.user(name)["servers"][""]["last_activity"])


@pytest.mark.oldest
def test_idle_server_sends_nothing_and_activity_arrives_within_5_s(hub):
    hub.start_server("alice")
    code, status = hub.server_api("GET", "alice", "api/cull/status")
    assert code == 200
    assert status["hub"]["reporting"] is True and status["hub"]["interval"] == INTERVAL
    # the stock jupyterhub-singleuser reporter was told to stand down
    assert "reporting activity to JupyterHub instead of jupyterhub-singleuser" in hub.log()

    # idle for more than a whole interval: not a single activity POST (the stock reporter
    # sends one per interval, and one at start-up)
    before = activity_posts(hub, "alice")
    time.sleep(INTERVAL * 1.5)
    assert activity_posts(hub, "alice") == before == 0

    # a person acts (starts a kernel): the hub knows within 5 s
    t0 = datetime.now(timezone.utc)
    code, kernel = hub.server_api("POST", "alice", "api/kernels", {"name": "python3"})
    assert code == 201
    wait_until(lambda: hub_last_activity(hub, "alice") >= t0.replace(microsecond=0),
               timeout=5, what="hub last_activity moved")
    code, status = hub.server_api("GET", "alice", "api/cull/status")
    assert status["hub"]["last_report_ok"] is True
    hub.server_api("DELETE", "alice", f"api/kernels/{kernel['id']}")


def test_silent_busy_kernel_keeps_hub_activity_advancing(hub):
    hub.start_server("bob")
    code, kernel = hub.server_api("POST", "bob", "api/kernels", {"name": "python3"})
    assert code == 201
    hub.execute_and_leave("bob", kernel["id"], "import time; time.sleep(15)")
    start = hub_last_activity(hub, "bob")
    # Only the hub's API is read from now on: no client traffic reaches the server.
    seen = {start}
    end = time.monotonic() + 3 * INTERVAL + 1
    while time.monotonic() < end:
        seen.add(hub_last_activity(hub, "bob"))
        time.sleep(0.5)
    latest = max(seen)
    assert len(seen) >= 3, sorted(seen)  # advanced at least twice while the kernel slept
    assert (latest - start).total_seconds() >= 2 * INTERVAL * 0.9 - 1
    assert latest <= datetime.now(timezone.utc)  # never a future timestamp


def test_hub_outage_is_survived_and_reporting_resumes(hub):
    hub.start_server("carol")
    code, _ = hub.server_api("GET", "carol", "api/cull/status")
    assert code == 200
    hub.stop()
    try:
        # the proxy still routes to carol's server: she keeps working while the hub is down
        code, _ = hub.server_api("POST", "carol", "api/cull/activity", {})
        assert code == 200

        def failing():
            status = hub.server_api("GET", "carol", "api/cull/status")[1]["hub"]
            return status if status["last_report_ok"] is False else None

        status = wait_until(failing, timeout=10, what="a failed report")
        assert status["last_error"]
        time.sleep(3)  # a burst of retries with backoff
        code, status = hub.server_api("GET", "carol", "api/cull/status")
        assert code == 200 and status["server"]["deadline"] is not None  # still up
    finally:
        hub.start()
    t0 = datetime.now(timezone.utc)
    hub.server_api("POST", "carol", "api/cull/activity", {})
    wait_until(lambda: hub_last_activity(hub, "carol") >= t0.replace(microsecond=0),
               timeout=20, what="reports resumed")
    # carol's own log (other users' servers report into the same hub log)
    log = (hub.root / "home" / "carol" / ".jupyter-server-log.txt").read_text()
    assert log.count("Could not report activity to the hub") == 1
    assert "Hub activity reports succeed again" in log
    assert hub.user("carol")["servers"][""]["ready"]


def test_an_unanswered_input_prompt_is_reported_as_the_prompts_time(hub):
    """A kernel blocked in input() is busy, but waiting for a person is not work: the hub
    is told the time of the prompt, not "now" at every interval."""
    import json

    import websocket

    hub.start_server("dave")
    code, kernel = hub.server_api("POST", "dave", "api/kernels", {"name": "python3"})
    assert code == 201
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{hub.proxy_port}/user/dave/api/kernels/{kernel['id']}/channels",
        header=[f"Authorization: token {hub.admin_token}"], timeout=30)
    ws.send(execute_request("input('name? ')", allow_stdin=True))
    wait_until(lambda: json.loads(ws.recv())["header"]["msg_type"] == "input_request",
               timeout=30, interval=0)
    asked = datetime.now(timezone.utc)
    ws.close()

    def waiting():
        code, status = hub.server_api("GET", "dave", "api/cull/status")
        k = next(k for k in status["kernels"] if k["id"] == kernel["id"])
        return status if k["waiting_for_input_since"] else None

    status = wait_until(waiting, timeout=10, what="the prompt in the status")
    assert status["server"]["protected_by"] is None, status["server"]
    time.sleep(INTERVAL * 2.5)  # a busy kernel would be reported as "now" at every interval
    reported = hub_last_activity(hub, "dave")
    assert abs((reported - asked).total_seconds()) <= 2, (reported, asked)


@pytest.mark.oldest
def test_without_the_scope_a_server_exits_by_itself_and_says_why_once(hub):
    """No ``hub.configure``: the hub refuses the server's request to stop itself (403). It
    stops on time all the same, and its log says why the hub was not the one to stop it."""
    hub.start_server("erin")
    pid = hub.user("erin")["servers"][""]["state"]["pid"]
    code, status = hub.server_api("GET", "erin", "api/cull/status")
    assert code == 200 and status["server"]["reason"] == "max_age", status
    deadline = parse(status["server"]["deadline"]).timestamp()

    exited = wait_until(lambda: process_gone(pid) and time.time(), ERIN_MAX_AGE + 30, interval=0.1, what="erin's server exited")
    assert -0.5 <= exited - deadline <= 2, (exited, deadline)
    log = (hub.root / "home" / "erin" / ".jupyter-server-log.txt").read_text()
    assert log.count("The hub could not stop this server (its token lacks the scope "
                     "delete:servers!server") == 1, log
    assert "403 DELETE /hub/api/users/erin/server" in hub.log()
