"""The companion's pure decisions: deadlines, reasons, groups, what is left alone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jupyter_cull_ext import knobs
from jupyter_cull_ext.hub.companion import default_cull_every
from jupyter_cull_ext.hub.rules import (
    GROUPS_SCOPE, IDLE, MAX_AGE, SCOPES, Policy, Server, decide, describe, parse_date,
    servers_of,
)

T0 = datetime(2025, 1, 1, 12, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def server(name: str = "", *, last_activity: datetime | None = None, ready: bool = True,
           pending: str | None = None, groups: tuple[str, ...] | None = ()) -> Server:
    return Server("ann", name, T0, last_activity, ready, pending, groups)


def test_max_age_counts_from_the_hubs_started():
    verdict = decide(server(), Policy(max_age=3600))
    assert (verdict.deadline, verdict.reason, verdict.max_age, verdict.group) == (
        at(3600), MAX_AGE, 3600, None)
    assert not verdict.due(at(3599.9))
    assert verdict.due(at(3600))


def test_the_first_configured_group_wins_whatever_the_users_order():
    policy = Policy.create(100, {"short": 10, "long": 1000, "vip": 0})
    assert policy.max_age_for(["long", "short"]) == (10, "short")
    assert policy.max_age_for(["long"]) == (1000, "long")
    assert policy.max_age_for(["vip"]) == (0, "vip")  # 0: no max age for them
    assert policy.max_age_for(["other"]) == (100, None)
    assert policy.max_age_for(None) == (100, None)  # membership not visible: the default
    verdict = decide(server(groups=("long", "short")), policy)
    assert (verdict.deadline, verdict.group) == (at(10), "short")
    assert decide(server(groups=("vip",)), policy).deadline is None


def test_idle_timeout_counts_from_last_activity_or_started():
    policy = Policy(timeout=600)
    verdict = decide(server(last_activity=at(100)), policy)
    assert (verdict.deadline, verdict.reason) == (at(700), IDLE)
    assert decide(server(), policy).deadline == at(600)


@pytest.mark.parametrize("last_activity, deadline, reason", [
    (0, 600, IDLE),  # idle first
    (500, 1000, MAX_AGE),  # max age first
    (400, 1000, MAX_AGE),  # a tie goes to max age
])
def test_the_earlier_deadline_wins(last_activity, deadline, reason):
    verdict = decide(server(last_activity=at(last_activity)),
                     Policy(max_age=1000, timeout=600))
    assert (verdict.deadline, verdict.reason) == (at(deadline), reason)


@pytest.mark.parametrize("kwargs, policy, skip", [
    ({"pending": "spawn", "ready": False}, Policy(max_age=1), "pending spawn"),
    ({"pending": "stop"}, Policy(max_age=1), "pending stop"),
    ({"ready": False}, Policy(max_age=1), "not ready"),
    ({"name": "nb"}, Policy(max_age=1, cull_named_servers=False), "named servers excluded"),
    ({}, Policy(max_age=1, cull_default_servers=False), "default servers excluded"),
])
def test_left_alone(kwargs, policy, skip):
    verdict = decide(server(**kwargs), policy)
    assert verdict.skip == skip
    assert not verdict.due(at(10**6))


def test_servers_are_told_the_max_age_the_companion_enforces():
    policy = Policy.create(100, {"g": 10}, cull_named_servers=False)
    assert policy.server_max_age("", ["g"]) == 10
    assert policy.server_max_age("", []) == 100
    assert policy.server_max_age("nb", ["g"]) == 0  # the companion leaves it be


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


def test_parse_date():
    assert parse_date("2025-01-01T12:00:00") == T0  # naive means UTC
    assert parse_date("2025-01-01T13:00:00+01:00") == T0
    assert parse_date(None) is None


def test_policy_validation_and_scopes():
    assert Policy.create(60).scopes == SCOPES
    assert Policy.create(60, {"g": 1}).scopes == (*SCOPES, GROUPS_SCOPE)
    assert Policy.create(0).is_empty() and not Policy.create(0, {"g": 5}).is_empty()
    assert Policy.create(max_age="3600").max_age == 3600
    for bad in ({"max_age": -1}, {"timeout": 1.5}, {"max_age": True},
                {"group_max_age": {"a=b": 5}}, {"group_max_age": {"": 5}},
                {"group_max_age": [("g", -5)]}):
        with pytest.raises(knobs.ConfigError):
            Policy.create(**bad)


def test_describe_says_reason_age_limit_deadline_and_lateness():
    policy = Policy.create(100, {"g": 60}, timeout=30)
    text = describe(decide(server(groups=("g",), last_activity=at(50)), policy), policy,
                    at(61.5))
    assert text == ("reason max_age: age 0:01:02 >= max age 0:01:00 (group 'g'); started "
                    "2025-01-01T12:00:00.000Z, deadline 2025-01-01T12:01:00.000Z, "
                    "1.50 s after it")
    text = describe(decide(server(last_activity=at(5)), policy), policy, at(35))
    assert text.startswith("reason idle: inactive 0:00:30 >= timeout 0:00:30, age 0:00:35;")


@pytest.mark.parametrize("policy, seconds", [
    (Policy(max_age=7 * 86400), 300),
    (Policy(max_age=3600, timeout=600), 150),
    (Policy(max_age=10), 2),
    (Policy(max_age=3), 1),
    (Policy(), 300),
])
def test_sweeps_find_new_servers_well_before_their_deadline(policy, seconds):
    assert default_cull_every(policy) == seconds
