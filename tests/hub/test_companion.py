"""The companion's behaviour on a real JupyterHub whose servers are ``FakeSpawner``s (no
process: the cases below need many servers, pending and failing ones, and a hub restart).

The hub is set up by ``configure(c, ..., groups=..., api_token=TOKEN, managed=False)``; each
test runs the command itself with that token, as an operator running it outside the hub would.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from hubharness import Hub, free_port, wait_until
from hubtools import (
    Companion,
    assert_on_time,
    env_of,
    fake_spawner_config,
    hub_config,
    parse,
    request_spawn,
    run_once,
    servers,
    service_token,
    stop_all,
    wait_ready,
    watch_stops,
)

from jupyter_cull_ext.timeutil import isoformat

TOKEN = service_token()
GROUPS = {"short": 4, "medium": 7}
DEFAULT = 3600
#: These servers run no extension, so nothing stops them but the companion: no grace.
NO_GRACE = "--server-grace=0"
GROUP_ARGS = [f"--max-age={DEFAULT}", "--group-max-age=short=4", "--group-max-age=medium=7",
              "--remove-named-servers=True", NO_GRACE]
CONFIGURE = (f"configure(c, max_age={DEFAULT}, groups={GROUPS!r}, remove_named_servers=True, "
             "api_token=TOKEN, managed=False)")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("fakehub")
    env_dir = root / "env"
    env_dir.mkdir()
    config = fake_spawner_config(free_port(), env_dir, pages_dir=root) + """
c.FakeSpawner.start_delay = 4
c.FakeSpawner.environment = {"PRESERVED_ENV": "kept"}
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0, "slow_stop_timeout": 1}
""" + hub_config(CONFIGURE, TOKEN)
    h = Hub(root, config=config)
    h.env_dir = env_dir
    h.start()
    yield h
    h.close()


def spawn_ready(hub: Hub, *labels: str) -> dict[str, dict]:
    for label in labels:
        request_spawn(hub, *label.split("/"))
    return {label: wait_ready(hub, *label.split("/")) for label in labels}


@contextmanager
def slow_later_pages(hub: Hub, seconds: float):
    """The hub waits ``seconds`` before each later page of the user list; yields a function
    that waits for the next such page to begin."""
    marks = hub.root / "pages-delayed"
    (hub.root / "slow-pages").write_text(str(seconds))
    seen = [len(marks.read_text().splitlines()) if marks.exists() else 0]

    def next_page(timeout: float = 30) -> None:
        seen[0] += 1
        wait_until(lambda: marks.exists() and len(marks.read_text().splitlines()) >= seen[0],
                   timeout, interval=0.05, what="a later page requested")

    try:
        yield next_page
    finally:
        (hub.root / "slow-pages").unlink()


def test_token_has_the_group_scope_too(hub: Hub):
    code, me = hub.api("GET", "user", token=TOKEN)
    assert code == 200, me
    assert set(me["scopes"]) == {"list:users", "read:servers", "delete:servers",
                                 "read:users:name", "read:users:groups"}


def test_it_says_when_a_token_has_too_much_or_too_little(hub: Hub):
    with Companion(hub, TOKEN, *GROUP_ARGS) as companion:
        wait_until(lambda: companion.lines("Sweep 1:"), 10, what="a sweep")
        assert not companion.lines("This token")
    with Companion(hub, hub.admin_token, "--max-age=3600") as companion:
        wait_until(lambda: companion.lines("Sweep 1:"), 10, what="a sweep")
        [line] = companion.lines("This token has scopes it does not need")
        assert "admin:users" in line


def test_groups_decide_the_max_age_first_match_wins(hub: Hub):
    for name in ("ann", "bea", "cid", "dan"):
        hub.api("POST", f"users/{name}", {})
    hub.api("POST", "groups/short", {"users": ["ann", "bea"]})
    hub.api("POST", "groups/medium", {"users": ["bea", "cid"]})
    hub.api("POST", "groups/other", {"users": ["dan"]})
    expected = {"ann": 4, "bea": 4, "cid": 7, "cid/nb": 7, "dan": DEFAULT}

    with Companion(hub, TOKEN, *GROUP_ARGS) as companion:
        models = spawn_ready(hub, *expected)
        # Each server was told its max age and its hub `started`, next to the environment
        # configured before configure() in the spawner class's own section (which, in
        # traitlets, replaces the Spawner section's).
        for label, max_age in expected.items():
            env = env_of(hub.env_dir, label.replace("/", "-"))
            assert env["JUPYTER_CULL_MAX_AGE"] == str(max_age), label
            assert env["JUPYTER_CULL_SERVER_STARTED"] == models[label]["started"], label
            assert env["PRESERVED_ENV"] == "kept"

        due = [label for label in expected if label != "dan"]
        for label, times in watch_stops(hub, due, timeout=20).items():
            deadline = parse(models[label]["started"]) + timedelta(seconds=expected[label])
            assert_on_time(times, deadline, label)
        assert servers(hub, "dan")[""]["ready"]

        for name, group in (("ann", "short"), ("bea", "short"), ("cid", "medium")):
            [line] = companion.lines(f"Stopping server {name}: reason max_age")
            assert f"(group {group!r})" in line
        assert companion.lines("Stopping and removing server cid/nb: reason max_age")
        wait_until(lambda: "nb" not in hub.api(
            "GET", "users/cid?include_stopped_servers=1")[1]["servers"], 10, what="nb removed")

        # A policy change: dan joins 'short' and, being older than 4 s, is stopped at once.
        hub.api("POST", "groups/short/users", {"users": ["dan"]})
        watch_stops(hub, ["dan"], timeout=5)
        [line] = companion.lines("Stopping server dan: reason max_age")
        assert "(group 'short')" in line


def test_idle_timeout_means_what_it_means_for_idle_culler(hub: Hub):
    models = spawn_ready(hub, "idle-ivy", "idle-abe")
    with Companion(hub, TOKEN, "--timeout=4") as companion:
        time.sleep(2)
        now = datetime.now(timezone.utc)
        code, _ = hub.api("POST", "users/idle-abe/activity",
                          {"last_activity": isoformat(now),
                           "servers": {"": {"last_activity": isoformat(now)}}})
        assert code == 200
        times = watch_stops(hub, ["idle-ivy", "idle-abe"], timeout=20)
        assert_on_time(times["idle-ivy"], parse(models["idle-ivy"]["last_activity"])
                       + timedelta(seconds=4), "idle-ivy")
        assert_on_time(times["idle-abe"], now + timedelta(seconds=4), "idle-abe")
        assert companion.lines("Stopping server idle-abe: reason idle: inactive 0:00:04")


def test_one_pass_pages_skips_pending_and_isolates_errors(hub: Hub):
    users = [f"page-{i:02}" for i in range(12)]
    spawn_ready(hub, *users, "slowstop-sue", "broken-bo", "pat")
    request_spawn(hub, "pat", "pending-nb")
    wait_until(lambda: servers(hub, "pat")["pending-nb"]["pending"] == "spawn", 10)
    time.sleep(1)  # all older than the 1 s max age below

    code, log = run_once(hub, TOKEN, "--max-age=1", NO_GRACE, "--api-page-size=5",
                         "--log-level=DEBUG")
    assert code == 1, log  # one stop failed
    # 15 users in 3 pages; 16 servers, of which 1 pending; 15 stops, each after reading the
    # server again: 33 requests.
    assert "15 users with ready servers, 16 servers (1 left alone), 15 due now" in log
    assert "Pass FAILED in" in log and "with 33 hub API requests" in log
    assert "Leaving server pat/pending-nb alone: pending spawn" in log
    assert "Server broken-bo: stopping it failed: DELETE users/broken-bo/server: 500" in log
    assert "Server slowstop-sue is slow to stop; the hub is finishing it." in log
    for name in [*users, "pat"]:
        assert f"Stopped server {name}." in log
        assert "" not in servers(hub, name)
    assert servers(hub, "broken-bo")[""]["ready"]

    # The next pass stops what the last one could not, and the pending server once ready.
    wait_ready(hub, "pat", "pending-nb")
    wait_until(lambda: servers(hub, "slowstop-sue") == {}, 10, what="sue stopped")
    code, log = run_once(hub, TOKEN, "--max-age=1", NO_GRACE)
    assert code == 0, log
    assert "Stopped server broken-bo." in log and "Stopped server pat/pending-nb." in log


def test_survives_a_hub_restart(hub: Hub):
    with Companion(hub, TOKEN, "--max-age=6", NO_GRACE) as companion:
        [model] = spawn_ready(hub, "restart-rae").values()
        deadline = parse(model["started"]) + timedelta(seconds=6)
        hub.stop()
        # The hub is down when the deadline passes.
        time.sleep(max(0.0, deadline.timestamp() + 1 - time.time()))
        hub.start()
        back = datetime.now(timezone.utc)
        [(_, stopped)] = watch_stops(hub, ["restart-rae"], timeout=20).values()
        assert stopped <= back.timestamp() + 2.5
        assert companion.process.poll() is None
        assert companion.lines("Connection refused")
        assert companion.lines("Stopping server restart-rae: reason max_age")


def test_a_server_a_sweep_missed_still_stops_at_its_deadline(hub: Hub):
    """The listing is offset-paginated: a server stopping while a sweep pages shifts the later
    pages, and a server is not seen. Its timer must still stop it on time, not a sweep later."""
    stop_all(hub)
    names = ["shift-a", "shift-b", "shift-x", "shift-y"]  # listed in this order (user id)
    for name in names:
        hub.api("POST", f"users/{name}", {})
    hub.api("POST", "groups/shift", {"users": ["shift-x"]})
    models = spawn_ready(hub, *names)
    # shift-x's deadline: after sweep 2 (sweeps every 10 s; pages of 2 users, the second
    # answered 2 s late), well before sweep 3.
    max_age = math.ceil(time.time() + 19 - parse(models["shift-x"]["started"]).timestamp())
    deadline = parse(models["shift-x"]["started"]) + timedelta(seconds=max_age)
    with slow_later_pages(hub, 2) as next_page, Companion(
            hub, TOKEN, "--max-age=3600", f"--group-max-age=shift={max_age}", NO_GRACE,
            "--cull-every=10", "--api-page-size=2") as companion:
        next_page()  # sweep 1
        next_page()  # sweep 2 has listed shift-a and shift-b, and waits for page 2
        hub.api("DELETE", "users/shift-a/server")
        assert time.time() < deadline.timestamp() - 2, "too slow to test this"
        times = watch_stops(hub, ["shift-x"], timeout=30)["shift-x"]
        # Sweep 2 did miss shift-x: page 2 began at shift-y.
        assert companion.lines("Sweep 2: 3 users with ready servers, 3 servers")
        assert_on_time(times, deadline, "shift-x")


def test_a_server_restarted_while_a_sweep_pages_is_not_stopped(hub: Hub):
    """A sweep finds a server due, then lists the rest; meanwhile its user stops it and starts
    a new one. The new server must not be stopped for the old one's age."""
    stop_all(hub)
    for name in ("again-a", "again-b"):
        hub.api("POST", f"users/{name}", {})
    models = spawn_ready(hub, "again-a", "again-b")
    time.sleep(max(0.0, parse(models["again-b"]["started"]).timestamp() + 5.5 - time.time()))
    with slow_later_pages(hub, 3) as next_page, Companion(
            hub, TOKEN, "--once", "--max-age=5", NO_GRACE, "--api-page-size=1") as companion:
        next_page()  # again-a (due) is listed; page 2 waits
        hub.api("DELETE", "users/again-a/server")
        wait_until(lambda: "" not in servers(hub, "again-a"), 5, what="again-a stopped")
        request_spawn(hub, "again-a")
        restarted = wait_ready(hub, "again-a", timeout=5)
        assert companion.process.wait(timeout=30) == 0, companion.log()
    now = servers(hub, "again-a")[""]
    assert now["ready"] and now["started"] == restarted["started"]
    assert companion.lines("Server again-a was restarted since it was listed")
    assert companion.lines("Stopping server again-b: reason max_age")
    hub.api("DELETE", "users/again-a/server")
