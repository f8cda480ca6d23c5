"""The companion on a real JupyterHub 6 with configurable-http-proxy and real
``jupyterhub-singleuser`` servers running our extension, set up only through
``configure(c, max_age=MAX_AGE, ...)`` (the issue's acceptance check).

One hub for the module. Its managed companion enforces MAX_AGE on every server; tests that
need another policy run the command themselves with the same token (``api_token=``).
"""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hubharness import Hub, free_port, http, process_gone, wait_until
from hubtools import (
    assert_on_time,
    busy_kernel,
    hub_config,
    parse,
    request_spawn,
    run_once,
    servers,
    service_token,
    wait_ready,
    watch_stops,
)

MAX_AGE = 60  # servers take up to ~25 s to start, and a kernel more, on a busy 2-core machine
#: The companion's grace past a max-age deadline (20 s by default; shorter for the test).
GRACE = 6
SLOW_START = 6
TOKEN = service_token()
SERVICE = "jupyter-cull-hub"
#: The scopes the service's token shows: the three, and read:users:name, which both
#: list:users and read:servers imply.
SCOPES = {"list:users", "read:servers", "delete:servers", "read:users:name"}

CONFIG = hub_config(f"configure(c, max_age={MAX_AGE}, server_grace={GRACE}, api_token=TOKEN)",
                    TOKEN, f"""
import asyncio
from jupyterhub.spawner import SimpleLocalProcessSpawner

class SlowToStart(SimpleLocalProcessSpawner):
    async def start(self):
        if self.user.name.startswith("pending-"):
            await asyncio.sleep({SLOW_START})
        return await super().start()

c.JupyterHub.spawner_class = SlowToStart
# Spawn requests return at once (202); stops longer than 1 s are answered 202 too (a hung
# server takes 2 s: SIGINT, SIGTERM, SIGKILL).
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0, "slow_stop_timeout": 1}}
c.Spawner.interrupt_timeout = 1
c.Spawner.term_timeout = 1
""")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("hub"), config=CONFIG)
    h.start()
    yield h
    h.close()


def lateness(log: str, name: str) -> float:
    """How late (s) the companion said it was when it stopped ``name``'s server."""
    found = re.findall(rf"Stopping server {name}: reason max_age.* ([\d.]+) s after it", log)
    assert found, f"the companion did not log stopping {name}"
    return float(found[-1])


def test_service_token_can_do_nothing_beyond_its_scopes(hub: Hub):
    code, me = hub.api("GET", "user", token=TOKEN)
    assert code == 200, me
    assert (me["kind"], me["name"]) == ("service", SERVICE)
    assert set(me["scopes"]) == SCOPES

    hub.api("POST", "users/victim", {})
    code, model = hub.api("GET", "users/victim", token=TOKEN)
    assert code == 200 and "servers" in model, model
    assert not {"groups", "roles", "last_activity", "created", "auth_state"} & set(model)
    forbidden = [
        ("POST", "users/victim/server", {}),  # start:servers
        ("PATCH", "users/victim", {"admin": True}),  # admin:users
        ("DELETE", "users/victim", None),  # delete:users
        ("POST", "users", {"usernames": ["intruder"]}),  # admin:users
        ("GET", "users/victim/tokens", None),  # read:tokens
        ("POST", "users/victim/tokens", {}),  # tokens
        ("POST", "users/victim/activity", {"last_activity": "2020-01-01T00:00:00Z"}),
        ("GET", "groups", None),  # list:groups
        ("POST", "groups/staff", {}),  # admin:groups
        ("GET", "services", None),  # list:services
        ("GET", "proxy", None),  # proxy
        ("POST", "shutdown", None),  # shutdown
    ]
    for method, path, body in forbidden:
        code, _ = hub.api(method, path, body, token=TOKEN)
        assert code == 403, (method, path, code)


def test_servers_stop_at_max_age_busy_or_hung(hub: Hub):
    """alice keeps a kernel busy the whole time: her server, told its max age, stops itself at
    started + MAX_AGE through the hub (its token may stop that server only), so the hub shows
    it stopped within 2 s, not at its next poll, and the companion has nothing left to do.
    carol's server is frozen (SIGSTOP) so only the companion can stop it: not before the
    deadline plus GRACE (a server whose clock is behind the hub's is not stopped before it
    saves), and within 2 s after."""
    for name in ("alice", "carol"):
        request_spawn(hub, name)
    started = {name: wait_ready(hub, name)["started"] for name in ("alice", "carol")}
    deadline = {name: parse(started[name]) + timedelta(seconds=MAX_AGE) for name in started}

    # From the start, alice's status document shows the max-age deadline.
    code, doc = hub.server_api("GET", "alice", "api/cull/status")
    assert code == 200, doc
    assert doc["server"]["reason"] == "max_age"
    assert doc["server"]["max_age"] == MAX_AGE
    assert abs(parse(doc["server"]["deadline"]) - deadline["alice"]) < timedelta(
        milliseconds=2)
    # ...which the companion's token cannot read.
    code, _ = http("GET", f"{hub.url}/user/alice/api/cull/status", token=TOKEN)
    assert code == 403

    # The server process got both, next to the Spawner.environment set before configure().
    pids = {name: hub.user(name)["servers"][""]["state"]["pid"] for name in ("alice", "carol")}
    env = dict(entry.split(b"=", 1) for entry in
               Path(f"/proc/{pids['alice']}/environ").read_bytes().split(b"\0") if entry)
    assert env[b"JUPYTER_CULL_MAX_AGE"] == str(MAX_AGE).encode()
    assert parse(env[b"JUPYTER_CULL_SERVER_STARTED"].decode()) == parse(started["alice"])
    assert env[b"CULL_EXT_TEST_MARKER"] == hub.marker.encode()

    ws = busy_kernel(hub, "alice")
    os.kill(pids["carol"], signal.SIGSTOP)
    try:
        code, doc = hub.server_api("GET", "alice", "api/cull/status")
        assert [k["execution_state"] for k in doc["kernels"]] == ["busy"]
        assert doc["server"]["reason"] == "max_age"
        assert parse(doc["server"]["deadline"]) == parse(
            hub.server_api("GET", "alice", "api/cull/status")[1]["server"]["deadline"])

        wait_until(lambda: time.time() > deadline["alice"].timestamp() - 3, MAX_AGE + 30,
                   interval=0.2, what="alice's deadline near")
        [hub_saw] = watch_stops(hub, ["alice"], 30).values()
        assert_on_time(hub_saw, deadline["alice"], "the hub showing alice's server stopped")
        exited = wait_until(lambda: process_gone(pids["alice"]) and time.time(), 10,
                            interval=0.1, what="alice's server exited")
        assert_on_time((exited - 0.2, exited), deadline["alice"], "alice's own stop")
        [carol_stopped] = watch_stops(hub, ["carol"], GRACE + 30).values()
        assert_on_time(carol_stopped, deadline["carol"] + timedelta(seconds=GRACE), "carol")
        assert lateness(hub.log(), "carol") <= 2.0
    finally:
        ws.close()
    # alice's server asked the hub itself (with its own token): the companion stopped it not.
    assert re.search(r"DELETE /hub/api/users/alice/server \(alice@", hub.log()), hub.log()[-3000:]
    assert "Stopping server alice" not in hub.log()

    # The frozen server took more than slow_stop_timeout: 202, checked again until gone.
    wait_until(lambda: "Server carol has stopped" in hub.log(), 30, what="carol gone")
    assert "Server carol is slow to stop" in hub.log()
    assert servers(hub, "carol") == {}


def test_a_spawning_server_is_never_touched(hub: Hub):
    request_spawn(hub, "pending-pat")
    requested = time.monotonic()
    wait_until(lambda: servers(hub, "pending-pat")[""]["pending"] == "spawn", 10)
    # Past a 1 s max age while still spawning: a pass must leave it alone. (Here the
    # state=ready listing already leaves it out; a pending server next to a ready one is in
    # test_companion.py.)
    time.sleep(max(0.0, 1.5 - (time.monotonic() - requested)))
    code, log = run_once(hub, TOKEN, "--max-age=1", "--log-level=DEBUG")
    assert code == 0, log
    assert "pending-pat" not in log
    assert servers(hub, "pending-pat")[""]["pending"] == "spawn"
    # The spawn completes undisturbed.
    wait_ready(hub, "pending-pat")
    assert "Stopping server pending-pat" not in hub.log()
    hub.api("DELETE", "users/pending-pat/server")


def test_dry_run_stops_nothing_and_once_says_if_it_succeeded(hub: Hub):
    request_spawn(hub, "bob")
    wait_ready(hub, "bob")
    time.sleep(1)  # older than the 1 s max age below

    code, log = run_once(hub, TOKEN, "--max-age=1", "--server-grace=0", "--dry-run")
    assert code == 0, log
    assert "Would stop server bob (dry run): reason max_age" in log
    model = servers(hub, "bob")[""]
    assert model["ready"] and not model["pending"]
    assert "DELETE /hub/api/users/bob/server" not in hub.log()

    code, log = run_once(hub, TOKEN, "--max-age=1", "--server-grace=0")
    assert code == 0, log
    assert "Stopping server bob: reason max_age" in log
    watch_stops(hub, ["bob"], timeout=10)

    code, log = run_once(hub, "not-the-token", "--max-age=1")
    assert code == 1 and "403" in log, log
    code, log = run_once(hub, TOKEN, "--max-age=1",
                         url=f"http://127.0.0.1:{free_port()}/hub/api")
    assert code == 1 and "Pass FAILED" in log, log
