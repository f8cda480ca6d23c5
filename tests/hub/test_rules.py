"""The companion's pure decisions: deadlines, reasons, groups, what is left alone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jupyter_cull_ext import knobs
from jupyter_cull_ext.hub.companion import default_cull_every
from jupyter_cull_ext.hub.rules import (
    GROUPS_SCOPE,
    IDLE,
    MAX_AGE,
    SCOPES,
    Limits,
    Server,
    decide,
    describe,
    servers_of,
)

T0 = datetime(2025, 1, 1, 12, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def server(name: str = "", *, last_activity: datetime | None = None, ready: bool = True,
           pending: str | None = None, groups: tuple[str, ...] | None = ()) -> Server:
    return Server("ann", name, T0, last_activity, ready, pending, groups)


def test_max_age_counts_from_the_hubs_started():
    verdict = decide(server(), Limits(max_age=3600))
    assert (verdict.deadline, verdict.reason, verdict.max_age, verdict.group) == (
        at(3600), MAX_AGE, 3600, None)
    assert not verdict.due(at(3599.9))
    assert verdict.due(at(3600))


def test_the_first_configured_group_wins_whatever_the_users_order():
    limits = Limits.create(100, {"short": 10, "long": 1000, "vip": 0})
    assert limits.max_age_for(["long", "short"]) == (10, "short")
    assert limits.max_age_for(["long"]) == (1000, "long")
    assert limits.max_age_for(["vip"]) == (0, "vip")  # 0: no max age for them
    assert limits.max_age_for(["other"]) == (100, None)
    assert limits.max_age_for(None) == (100, None)  # membership not visible: the default
    verdict = decide(server(groups=("long", "short")), limits)
    assert (verdict.deadline, verdict.group) == (at(10), "short")
    assert decide(server(groups=("vip",)), limits).deadline is None


def test_the_server_grace_delays_the_companion_past_a_max_age_deadline_only():
    limits = Limits.create(max_age=100, timeout=150, server_grace=20)
    verdict = decide(server(last_activity=at(0)), limits)
    # The deadline (shown by the server) stays; the companion acts 20 s after it.
    assert (verdict.deadline, verdict.reason, verdict.acts_at) == (at(100), MAX_AGE, at(120))
    assert not verdict.due(at(119.9)) and verdict.due(at(120))
    assert describe(verdict, limits, at(120.5)).endswith(
        "deadline 2025-01-01T12:01:40.000Z + 20 s grace, 0.50 s after it")
    # The idle timeout (which the server does not know) gets none, and wins when it comes
    # before the max age plus the grace.
    verdict = decide(server(last_activity=at(-35)), limits)
    assert (verdict.reason, verdict.acts_at) == (IDLE, at(115))


def test_idle_timeout_counts_from_last_activity_or_started():
    limits = Limits(timeout=600)
    verdict = decide(server(last_activity=at(100)), limits)
    assert (verdict.deadline, verdict.reason) == (at(700), IDLE)
    assert decide(server(), limits).deadline == at(600)


@pytest.mark.parametrize("last_activity, deadline, reason", [
    (0, 600, IDLE),  # idle first
    (500, 1000, MAX_AGE),  # max age first
    (400, 1000, MAX_AGE),  # a tie goes to max age
])
def test_the_earlier_deadline_wins(last_activity, deadline, reason):
    verdict = decide(server(last_activity=at(last_activity)),
                     Limits(max_age=1000, timeout=600))
    assert (verdict.deadline, verdict.reason) == (at(deadline), reason)


@pytest.mark.parametrize("kwargs, limits, skip", [
    ({"pending": "spawn", "ready": False}, Limits(max_age=1), "pending spawn"),
    ({"pending": "stop"}, Limits(max_age=1), "pending stop"),
    ({"ready": False}, Limits(max_age=1), "not ready"),
    ({"name": "nb"}, Limits(max_age=1, cull_named_servers=False), "named servers excluded"),
    ({}, Limits(max_age=1, cull_default_servers=False), "default servers excluded"),
])
def test_left_alone(kwargs, limits, skip):
    verdict = decide(server(**kwargs), limits)
    assert verdict.skip == skip
    assert not verdict.due(at(10**6))


def test_servers_are_told_the_max_age_the_companion_enforces():
    limits = Limits.create(100, {"g": 10}, cull_named_servers=False)
    assert limits.server_max_age("", ["g"]) == 10
    assert limits.server_max_age("", []) == 100
    assert limits.server_max_age("nb", ["g"]) == 0  # the companion leaves it be


def test_servers_of_a_user_model():
    model = {"name": "ann", "groups": ["g"], "servers": {
        "": {"started": "2025-01-01T12:00:00.123456Z", "last_activity": None,
             "ready": True, "pending": None},
        "nb": {"started": "2025-01-01T12:00:01Z", "last_activity": "2025-01-01T12:00:02Z",
               "ready": False, "pending": "spawn"},
    }}
    default, named = servers_of(model)
    assert default == Server("ann", "", at(0.123456), None, True, None, ("g",))
    assert named == Server("ann", "nb", at(1), at(2), False, "spawn", ("g",))
    assert named.label == "ann/nb" and default.label == "ann"
    [server_] = servers_of({"name": "bo", "servers": {"": model["servers"][""]}})
    assert server_.groups is None  # this token cannot see groups
    assert servers_of({"name": "cy"}) == []


def test_limits_validation_and_scopes():
    assert Limits.create(60).scopes == SCOPES
    assert Limits.create(60, {"g": 1}).scopes == (*SCOPES, GROUPS_SCOPE)
    assert Limits.create(0).is_empty() and not Limits.create(0, {"g": 5}).is_empty()
    assert Limits.create(max_age="3600").max_age == 3600
    for bad in ({"max_age": -1}, {"timeout": 1.5}, {"max_age": True},
                {"group_max_age": {"a=b": 5}}, {"group_max_age": {"": 5}},
                {"group_max_age": [("g", -5)]}, {"server_grace": -1}):
        with pytest.raises(knobs.ConfigError):
            Limits.create(**bad)


def test_describe_says_reason_age_limit_deadline_and_lateness():
    limits = Limits.create(100, {"g": 60}, timeout=30)
    text = describe(decide(server(groups=("g",), last_activity=at(50)), limits), limits,
                    at(61.5))
    assert text == ("reason max_age: age 0:01:02 >= max age 0:01:00 (group 'g'); started "
                    "2025-01-01T12:00:00.000Z, deadline 2025-01-01T12:01:00.000Z, "
                    "1.50 s after it")
    text = describe(decide(server(last_activity=at(5)), limits), limits, at(35))
    assert text.startswith("reason idle: inactive 0:00:30 >= timeout 0:00:30, age 0:00:35;")


@pytest.mark.parametrize("limits, seconds", [
    (Limits(max_age=7 * 86400), 300),
    (Limits(max_age=3600, timeout=600), 150),
    (Limits(max_age=10), 2),
    (Limits(max_age=3), 1),
    (Limits(), 300),
])
def test_sweeps_find_new_servers_well_before_their_deadline(limits, seconds):
    assert default_cull_every(limits) == seconds
