"""Unit tests of the pure deadline policy (jupyter_cull_ext.policy).

Every test builds its facts from a fixed ``T0`` and asserts exact datetimes; no clock, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jupyter_cull_ext import policy
from jupyter_cull_ext.policy import (
    Facts,
    Kernel,
    Settings,
    Terminal,
    decide,
    decide_kernel,
    decide_server,
    decide_terminal,
    last_activity,
    latest_activity,
)
from jupyter_cull_ext.status import HUB_OFF, document
from jupyter_cull_ext.timeutil import duration, isoformat

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def s(n: float) -> timedelta:
    return timedelta(seconds=n)


def at(n: float) -> datetime:
    """``T0`` plus ``n`` seconds."""
    return T0 + s(n)


def kernel(
    *,
    id: str = "k1",
    name: str = "python3",
    state: str = "idle",
    connections: int = 0,
    last: datetime = T0,
    timeout: float = 600,
) -> Kernel:
    return Kernel(
        id=id,
        name=name,
        execution_state=state,
        connections=connections,
        last_activity=last,
        timeout=timeout,
    )


def facts(
    now: datetime,
    *,
    activity: dict[str, datetime] | None = None,
    kernels: tuple[Kernel, ...] = (),
    terminals: tuple[Terminal, ...] = (),
    keepalive_until: datetime | None = None,
) -> Facts:
    if activity is None:
        activity = {policy.SERVER_START: T0}
    return Facts(
        now=now,
        activity=activity,
        kernels=kernels,
        terminals=terminals,
        keepalive_until=keepalive_until,
    )


# --- kernels ------------------------------------------------------------------------------


def test_kernel_deadline_is_last_activity_plus_timeout():
    k = kernel(last=at(100), timeout=600)
    d = decide_kernel(k, Settings(kernel_timeout=600), facts(at(200), kernels=(k,)))
    assert d.kernel is k
    assert d.deadline == at(700)
    assert d.reason == "idle"
    assert d.protected_by is None


def test_kernel_uses_its_own_timeout_not_the_global_one():
    # The kernelspec's cull_idle_timeout (already folded into Kernel.timeout) wins.
    k = kernel(last=at(100), timeout=60)
    d = decide_kernel(k, Settings(kernel_timeout=3600), facts(at(120), kernels=(k,)))
    assert d.deadline == at(160)
    assert d.reason == "idle"


def test_kernel_with_own_timeout_longer_than_global():
    k = kernel(last=at(0), timeout=7200)
    d = decide_kernel(k, Settings(kernel_timeout=60), facts(at(120), kernels=(k,)))
    assert d.deadline == at(7200)


def test_kernel_timeout_zero_means_never():
    k = kernel(last=at(0), timeout=0)
    d = decide_kernel(k, Settings(kernel_timeout=600), facts(at(10_000), kernels=(k,)))
    assert d.deadline is None
    assert d.reason is None
    assert d.protected_by is None


def test_busy_kernel_is_protected():
    k = kernel(state="busy", last=at(0), timeout=60)
    d = decide_kernel(k, Settings(cull_busy=False), facts(at(10_000), kernels=(k,)))
    assert d.deadline is None
    assert d.reason is None
    assert d.protected_by == "busy"


def test_busy_kernel_is_culled_with_cull_busy():
    k = kernel(state="busy", last=at(0), timeout=60)
    d = decide_kernel(k, Settings(cull_busy=True), facts(at(10_000), kernels=(k,)))
    assert d.deadline == at(60)
    assert d.reason == "idle"
    assert d.protected_by is None


def test_connected_kernel_is_protected_unless_cull_connected():
    k = kernel(connections=2, last=at(0), timeout=60)
    d = decide_kernel(k, Settings(cull_connected=False), facts(at(500), kernels=(k,)))
    assert d.deadline is None
    assert d.reason is None
    assert d.protected_by == "connected"


def test_connected_kernel_is_culled_with_cull_connected():
    k = kernel(connections=2, last=at(0), timeout=60)
    d = decide_kernel(k, Settings(cull_connected=True), facts(at(500), kernels=(k,)))
    assert d.deadline == at(60)
    assert d.reason == "idle"
    assert d.protected_by is None


def test_unconnected_kernel_is_culled_even_without_cull_connected():
    k = kernel(connections=0, last=at(0), timeout=60)
    d = decide_kernel(k, Settings(cull_connected=False), facts(at(500), kernels=(k,)))
    assert d.deadline == at(60)
    assert d.protected_by is None


def test_busy_and_connected_kernel_names_busy_first():
    k = kernel(state="busy", connections=1, last=at(0), timeout=60)
    d = decide_kernel(
        k, Settings(cull_busy=False, cull_connected=False), facts(at(500), kernels=(k,))
    )
    assert d.deadline is None
    assert d.protected_by == "busy"


def test_busy_connected_kernel_with_cull_busy_is_still_protected_by_connection():
    k = kernel(state="busy", connections=1, last=at(0), timeout=60)
    d = decide_kernel(
        k, Settings(cull_busy=True, cull_connected=False), facts(at(500), kernels=(k,))
    )
    assert d.deadline is None
    assert d.protected_by == "connected"


@pytest.mark.parametrize("timeout", [0, 600])
def test_dead_kernel_is_due_now(timeout):
    k = kernel(state="dead", last=at(0), timeout=timeout)
    now = at(30)
    d = decide_kernel(k, Settings(), facts(now, kernels=(k,)))
    assert d.deadline == now
    assert d.reason == "dead"
    assert d.protected_by is None
    assert decide(facts(now, kernels=(k,)), Settings()).due_kernels()[0].kernel is k


def test_dead_kernel_is_not_protected_by_keepalive():
    k = kernel(state="dead", last=at(0), timeout=60)
    now = at(30)
    d = decide_kernel(k, Settings(), facts(now, kernels=(k,), keepalive_until=at(5000)))
    assert d.deadline == now
    assert d.reason == "dead"


def test_keepalive_later_than_kernel_deadline_holds_the_kernel():
    k = kernel(last=at(0), timeout=60)
    d = decide_kernel(k, Settings(), facts(at(30), kernels=(k,), keepalive_until=at(3600)))
    assert d.deadline == at(3600)
    assert d.reason == "idle"
    assert d.protected_by == "keepalive"


def test_keepalive_earlier_than_kernel_deadline_changes_nothing():
    k = kernel(last=at(0), timeout=600)
    d = decide_kernel(k, Settings(), facts(at(30), kernels=(k,), keepalive_until=at(100)))
    assert d.deadline == at(600)
    assert d.protected_by is None


@pytest.mark.parametrize("keepalive_offset", [0, -1])
def test_expired_keepalive_has_no_effect_on_kernel(keepalive_offset):
    # keepalive_until <= now is no keep-alive at all, even though it is after the deadline.
    now = at(500)
    k = kernel(last=at(0), timeout=60)
    f = facts(now, kernels=(k,), keepalive_until=now + s(keepalive_offset))
    d = decide_kernel(k, Settings(), f)
    assert d.deadline == at(60)
    assert d.protected_by is None
    assert policy.active_keepalive(f) is None


def test_keepalive_does_not_give_a_kernel_with_timeout_zero_a_deadline():
    k = kernel(last=at(0), timeout=0)
    d = decide_kernel(k, Settings(), facts(at(30), kernels=(k,), keepalive_until=at(3600)))
    assert d.deadline is None
    assert d.protected_by is None


# --- terminals ----------------------------------------------------------------------------


def test_terminal_deadline_is_last_activity_plus_terminal_timeout():
    t = Terminal("1", at(100))
    d = decide_terminal(t, Settings(terminal_timeout=300), facts(at(150), terminals=(t,)))
    assert d.terminal is t
    assert d.deadline == at(400)
    assert d.timeout == 300
    assert d.protected_by is None


def test_terminal_timeout_zero_means_never():
    t = Terminal("1", at(0))
    d = decide_terminal(t, Settings(terminal_timeout=0), facts(at(99_999), terminals=(t,)))
    assert d.deadline is None
    assert d.timeout == 0
    assert d.protected_by is None


def test_terminal_does_not_use_kernel_timeout():
    t = Terminal("1", at(0))
    d = decide_terminal(
        t, Settings(kernel_timeout=60, terminal_timeout=0), facts(at(500), terminals=(t,))
    )
    assert d.deadline is None


def test_keepalive_holds_a_terminal():
    t = Terminal("1", at(0))
    f = facts(at(10), terminals=(t,), keepalive_until=at(1000))
    d = decide_terminal(t, Settings(terminal_timeout=300), f)
    assert d.deadline == at(1000)
    assert d.protected_by == "keepalive"


def test_keepalive_earlier_than_terminal_deadline_changes_nothing():
    t = Terminal("1", at(0))
    f = facts(at(10), terminals=(t,), keepalive_until=at(100))
    d = decide_terminal(t, Settings(terminal_timeout=300), f)
    assert d.deadline == at(300)
    assert d.protected_by is None


def test_expired_keepalive_has_no_effect_on_terminal():
    t = Terminal("1", at(0))
    f = facts(at(1000), terminals=(t,), keepalive_until=at(1000))
    d = decide_terminal(t, Settings(terminal_timeout=300), f)
    assert d.deadline == at(300)
    assert d.protected_by is None


# --- server idle --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "latest_source",
    [
        policy.PRESENCE,
        policy.USER_API,
        policy.SERVER_START,
        policy.KERNEL,
        policy.TERMINAL,
        "extension:foo",
    ],
)
def test_server_idle_deadline_follows_latest_activity_source(latest_source):
    activity = {
        policy.SERVER_START: at(0),
        policy.PRESENCE: at(10),
        policy.USER_API: at(20),
        "extension:foo": at(30),
    }
    activity[latest_source] = at(100)
    f = facts(at(200), activity=activity)
    d = decide_server(Settings(server_timeout=3600), f)
    assert d.idle_deadline == at(3700)
    assert d.deadline == at(3700)
    assert d.reason == "idle"
    assert d.last_activity == at(100)
    assert d.last_activity_source == latest_source
    assert d.protected_by is None
    assert d.max_age_deadline is None


def test_server_start_alone_is_the_last_activity():
    f = facts(at(10), activity={policy.SERVER_START: at(5)})
    d = decide_server(Settings(server_timeout=60), f)
    assert (d.last_activity, d.last_activity_source) == (at(5), "server_start")
    assert d.deadline == at(65)


def test_live_kernel_activity_is_folded_in():
    k_old = kernel(id="a", last=at(50), timeout=0)
    k_new = kernel(id="b", last=at(300), timeout=0)
    f = facts(
        at(400),
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(100)},
        kernels=(k_new, k_old),
    )
    d = decide_server(Settings(server_timeout=600), f)
    assert d.last_activity == at(300)
    assert d.last_activity_source == "kernel"
    assert d.idle_deadline == at(900)


def test_recorded_kernel_activity_later_than_live_kernels_wins():
    k = kernel(last=at(50), timeout=0)
    f = facts(
        at(400),
        activity={policy.SERVER_START: at(0), policy.KERNEL: at(200)},
        kernels=(k,),
    )
    assert latest_activity(f) == (at(200), "kernel")


def test_live_terminal_activity_is_folded_in():
    f = facts(
        at(400),
        activity={policy.SERVER_START: at(0), policy.USER_API: at(100)},
        terminals=(Terminal("1", at(250)), Terminal("2", at(150))),
    )
    d = decide_server(Settings(server_timeout=600), f)
    assert d.last_activity == at(250)
    assert d.last_activity_source == "terminal"
    assert d.idle_deadline == at(850)


def test_older_live_kernel_does_not_hide_newer_recorded_activity():
    k = kernel(last=at(10), timeout=0)
    f = facts(
        at(400),
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(300)},
        kernels=(k,),
    )
    d = decide_server(Settings(server_timeout=600), f)
    assert (d.last_activity, d.last_activity_source) == (at(300), "presence")
    assert d.idle_deadline == at(900)


def test_busy_kernel_holds_the_server_up():
    busy_k = kernel(id="busy", state="busy", last=at(10), timeout=60)
    idle_k = kernel(id="idle", state="idle", last=at(20), timeout=60)
    now = at(5000)
    f = facts(now, activity={policy.SERVER_START: at(0)}, kernels=(idle_k, busy_k))
    d = decide_server(Settings(server_timeout=600, warn_before=60), f)
    assert d.idle_deadline is None
    assert d.deadline is None
    assert d.reason is None
    assert d.warn_at is None
    assert d.protected_by == "busy_kernel"
    assert d.last_activity == now
    assert d.last_activity_source == "busy_kernel"


def test_busy_kernel_holds_the_server_even_with_cull_busy():
    # cull_busy is about the kernel itself; a busy kernel still is activity for the server.
    k = kernel(state="busy", last=at(10), timeout=60)
    d = decide_server(Settings(server_timeout=600, cull_busy=True), facts(at(5000), kernels=(k,)))
    assert d.idle_deadline is None
    assert d.protected_by == "busy_kernel"


def test_idle_kernel_does_not_hold_the_server_up():
    k = kernel(state="idle", connections=1, last=at(100), timeout=0)
    now = at(10_000)
    f = facts(now, activity={policy.SERVER_START: at(0)}, kernels=(k,))
    dec = decide(f, Settings(server_timeout=600))
    assert dec.server.idle_deadline == at(700)
    assert dec.server.deadline == at(700)
    assert dec.server.reason == "idle"
    assert dec.server.protected_by is None
    assert dec.server.last_activity_source == "kernel"
    assert dec.server_due() is True
    # and the kernel itself has no deadline of its own (timeout 0) yet the server goes
    assert dec.kernels[0].deadline is None


@pytest.mark.parametrize("state", ["idle", "starting", "dead"])
def test_only_busy_state_counts_as_busy(state):
    k = kernel(state=state, last=at(100), timeout=0)
    f = facts(at(10_000), kernels=(k,))
    assert policy.busy(f) is None
    assert decide_server(Settings(server_timeout=600), f).idle_deadline == at(700)


def test_keepalive_extends_idle_deadline():
    f = facts(
        at(200),
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(100)},
        keepalive_until=at(7200),
    )
    d = decide_server(Settings(server_timeout=600, warn_before=300), f)
    assert d.idle_deadline == at(7200)
    assert d.deadline == at(7200)
    assert d.reason == "idle"
    assert d.protected_by == "keepalive"
    assert d.warn_at == at(6900)
    # the reported past activity is unchanged by the keep-alive in the decision
    assert (d.last_activity, d.last_activity_source) == (at(100), "presence")


def test_keepalive_earlier_than_idle_deadline_changes_nothing():
    f = facts(
        at(200),
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(100)},
        keepalive_until=at(300),
    )
    d = decide_server(Settings(server_timeout=600), f)
    assert d.idle_deadline == at(700)
    assert d.protected_by is None


def test_expired_keepalive_does_not_extend_idle_deadline():
    f = facts(
        at(5000),
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(100)},
        keepalive_until=at(4000),
    )
    d = decide_server(Settings(server_timeout=600), f)
    assert d.idle_deadline == at(700)
    assert d.deadline == at(700)
    assert d.protected_by is None


def test_keepalive_never_moves_max_age():
    f = facts(
        at(200),
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(100)},
        keepalive_until=at(10_000),
    )
    settings = Settings(server_timeout=600, max_age=3600, started=at(0), warn_before=60)
    d = decide_server(settings, f)
    assert d.idle_deadline == at(10_000)
    assert d.max_age_deadline == at(3600)
    assert d.deadline == at(3600)
    assert d.reason == "max_age"
    assert d.warn_at == at(3540)


def test_server_timeout_zero_means_no_idle_deadline():
    f = facts(at(99_999), activity={policy.SERVER_START: at(0)}, keepalive_until=at(100_000))
    d = decide_server(Settings(server_timeout=0), f)
    assert d.idle_deadline is None
    assert d.deadline is None
    assert d.reason is None
    assert d.warn_at is None
    assert d.protected_by is None
    assert (d.last_activity, d.last_activity_source) == (at(0), "server_start")


# --- max age ------------------------------------------------------------------------------


def test_max_age_earlier_than_idle_wins():
    f = facts(at(100), activity={policy.SERVER_START: at(50)})
    d = decide_server(Settings(server_timeout=3600, max_age=1800, started=at(-60)), f)
    assert d.idle_deadline == at(3650)
    assert d.max_age_deadline == at(1740)
    assert d.deadline == at(1740)
    assert d.reason == "max_age"


def test_idle_earlier_than_max_age_wins():
    f = facts(at(100), activity={policy.SERVER_START: at(50)})
    d = decide_server(Settings(server_timeout=600, max_age=86400, started=at(0)), f)
    assert d.idle_deadline == at(650)
    assert d.max_age_deadline == at(86400)
    assert d.deadline == at(650)
    assert d.reason == "idle"


def test_max_age_applies_while_a_kernel_is_busy():
    k = kernel(state="busy", last=at(10), timeout=60)
    f = facts(at(100), kernels=(k,))
    d = decide_server(Settings(server_timeout=600, max_age=7200, started=at(0)), f)
    assert d.idle_deadline is None
    assert d.protected_by == "busy_kernel"
    assert d.deadline == at(7200)
    assert d.reason == "max_age"


def test_max_age_alone_without_server_timeout():
    d = decide_server(Settings(server_timeout=0, max_age=600, started=at(0)), facts(at(10)))
    assert d.idle_deadline is None
    assert d.deadline == at(600)
    assert d.reason == "max_age"


@pytest.mark.parametrize(
    "max_age, started",
    [(0, T0), (3600, None), (0, None)],
)
def test_no_max_age_deadline(max_age, started):
    f = facts(at(100), activity={policy.SERVER_START: at(0)})
    d = decide_server(Settings(server_timeout=600, max_age=max_age, started=started), f)
    assert d.max_age_deadline is None
    assert d.deadline == at(600)
    assert d.reason == "idle"


def test_no_deadline_at_all():
    d = decide_server(
        Settings(server_timeout=0, max_age=0, started=at(0), warn_before=300), facts(at(100))
    )
    assert d.deadline is None
    assert d.reason is None
    assert d.warn_at is None
    assert d.idle_deadline is None
    assert d.max_age_deadline is None


# --- warnings -----------------------------------------------------------------------------


@pytest.mark.parametrize("warn_before, expected", [(0, at(600)), (60, at(540)), (900, at(-300))])
def test_warn_at_is_deadline_minus_warn_before(warn_before, expected):
    d = decide_server(Settings(server_timeout=600, warn_before=warn_before), facts(at(10)))
    assert d.deadline == at(600)
    assert d.warn_at == expected


def test_warn_at_follows_max_age_deadline():
    d = decide_server(
        Settings(server_timeout=600, max_age=300, started=at(0), warn_before=120),
        facts(at(10)),
    )
    assert d.deadline == at(300)
    assert d.warn_at == at(180)


# --- decision helpers ---------------------------------------------------------------------


def test_due_kernels_and_terminals_at_the_boundary():
    now = at(1000)
    k_due = kernel(id="due", last=at(400), timeout=600)  # deadline == now
    k_past = kernel(id="past", last=at(0), timeout=600)  # deadline before now
    k_ms = kernel(id="ms", last=at(400) + timedelta(milliseconds=1), timeout=600)
    k_never = kernel(id="never", last=at(0), timeout=0)
    k_busy = kernel(id="busy", state="busy", last=at(0), timeout=60)
    t_due = Terminal("due", at(700))  # deadline == now
    t_ms = Terminal("ms", at(700) + timedelta(milliseconds=1))
    f = facts(
        now,
        activity={policy.SERVER_START: at(0)},
        kernels=(k_due, k_past, k_ms, k_never, k_busy),
        terminals=(t_due, t_ms),
    )
    dec = decide(f, Settings(terminal_timeout=300))
    assert [k.kernel.id for k in dec.due_kernels()] == ["due", "past"]
    assert [t.terminal.name for t in dec.due_terminals()] == ["due"]
    by_id = {k.kernel.id: k for k in dec.kernels}
    assert by_id["ms"].deadline == now + timedelta(milliseconds=1)


@pytest.mark.parametrize(
    "last_offset, due",
    [
        (timedelta(0), True),  # deadline == now
        (-s(1), True),  # deadline one second past
        (timedelta(milliseconds=1), False),  # deadline 1 ms in the future
    ],
)
def test_server_due_at_the_boundary(last_offset, due):
    now = at(1000)
    f = facts(now, activity={policy.SERVER_START: at(400) + last_offset})
    dec = decide(f, Settings(server_timeout=600))
    assert dec.server.deadline == now + last_offset
    assert dec.server_due() is due


def test_server_not_due_without_deadline():
    dec = decide(facts(at(10**6)), Settings())
    assert dec.server.deadline is None
    assert dec.server_due() is False
    assert dec.due_kernels() == []
    assert dec.due_terminals() == []


def test_next_deadline_is_earliest_future_one():
    now = at(1000)
    f = facts(
        now,
        activity={policy.SERVER_START: at(900)},
        kernels=(
            kernel(id="past", last=at(0), timeout=600),  # 600: past, ignored
            kernel(id="k", last=at(900), timeout=400),  # 1300
        ),
        terminals=(Terminal("t", at(950)),),  # 950 + 300 = 1250
    )
    dec = decide(f, Settings(terminal_timeout=300, server_timeout=600, warn_before=60))
    # server: the live terminal (950) is the latest activity -> 1550, warning at 1490
    assert dec.server.deadline == at(1550)
    assert dec.server.warn_at == at(1490)
    assert dec.next_deadline() == at(1250)


def test_next_deadline_can_be_the_warning():
    now = at(1000)
    f = facts(now, activity={policy.SERVER_START: at(900)})
    dec = decide(f, Settings(server_timeout=600, warn_before=300))
    assert dec.server.deadline == at(1500)
    assert dec.next_deadline() == at(1200)


def test_next_deadline_skips_past_warning():
    now = at(1000)
    f = facts(now, activity={policy.SERVER_START: at(900)})
    dec = decide(f, Settings(server_timeout=600, warn_before=550))
    assert dec.server.warn_at == at(950)
    assert dec.next_deadline() == at(1500)


def test_next_deadline_ignores_deadline_equal_to_now():
    now = at(1000)
    f = facts(
        now,
        activity={policy.SERVER_START: at(0)},
        kernels=(
            kernel(id="now", last=at(400), timeout=600),  # deadline == now
            kernel(id="later", last=at(900), timeout=200),  # 1100
        ),
    )
    dec = decide(f, Settings(server_timeout=600))  # latest activity 900 -> 1500
    assert dec.kernels[0].deadline == now
    assert dec.server.deadline == at(1500)
    assert dec.next_deadline() == at(1100)


def test_next_deadline_none_when_nothing():
    f = facts(at(1000), kernels=(kernel(timeout=0),), terminals=(Terminal("t", at(0)),))
    assert decide(f, Settings()).next_deadline() is None


def test_next_deadline_none_when_all_in_the_past():
    f = facts(
        at(10_000),
        activity={policy.SERVER_START: at(0)},
        kernels=(kernel(last=at(0), timeout=60),),
        terminals=(Terminal("t", at(0)),),
    )
    dec = decide(f, Settings(server_timeout=600, terminal_timeout=60, warn_before=30))
    assert dec.next_deadline() is None


def test_decide_reports_only_an_active_keepalive():
    active = decide(facts(at(10), keepalive_until=at(100)), Settings())
    assert active.keepalive_until == at(100)
    expired = decide(facts(at(100), keepalive_until=at(100)), Settings())
    assert expired.keepalive_until is None
    none = decide(facts(at(100)), Settings())
    assert none.keepalive_until is None


def test_decide_keeps_order_of_kernels_and_terminals():
    ks = (kernel(id="b"), kernel(id="a"), kernel(id="c"))
    ts = (Terminal("2", at(0)), Terminal("1", at(0)))
    dec = decide(facts(at(1), kernels=ks, terminals=ts), Settings())
    assert [k.kernel.id for k in dec.kernels] == ["b", "a", "c"]
    assert [t.terminal.name for t in dec.terminals] == ["2", "1"]
    assert dec.now == at(1)


# --- the moments the widget acts on -------------------------------------------------------


@pytest.mark.parametrize("warn_before, lead", [(600, 15), (30, 15), (10, 5), (1, 2), (0, 2)])
def test_autosave_is_half_the_warning_before_the_stop_between_2_and_15_s(warn_before, lead):
    d = decide_server(Settings(server_timeout=3600, warn_before=warn_before),
                      facts(at(0), activity={policy.SERVER_START: at(0)}))
    assert d.deadline == at(3600)
    assert d.autosave_at == at(3600 - lead)


def test_no_autosave_without_a_deadline():
    d = decide_server(Settings(warn_before=60), facts(at(0)))
    assert d.deadline is None and d.autosave_at is None


@pytest.mark.parametrize("timeout, interval", [(0, 60), (3600, 60), (180, 60), (90, 30),
                                               (6, 2), (1, 1)])
def test_presence_interval_is_a_minute_or_a_third_of_the_idle_timeout(timeout, interval):
    assert decide_server(Settings(server_timeout=timeout), facts(at(0))).presence_interval \
        == interval


def _kernel_moments(server_timeout: float = 3600, warn_before: float = 60,
                    keepalive_max: float = 86400, **kw):
    """The decision of one idle kernel (timeout 300 s, idle since T0), at T0."""
    settings = Settings(kernel_timeout=300, server_timeout=server_timeout,
                        warn_before=warn_before, keepalive_max=keepalive_max)
    f = facts(at(0), activity={policy.SERVER_START: at(0)}, kernels=(kernel(**kw),))
    return decide(f, settings).kernels[0]


def test_kernel_heads_up_the_warning_time_before_its_deadline():
    k = _kernel_moments(timeout=300)
    assert k.deadline == at(300) and not k.goes_with_server
    assert k.heads_up_at == at(240)


def test_kernel_heads_up_at_most_half_its_timeout_ahead():
    assert _kernel_moments(timeout=300, warn_before=600).heads_up_at == at(150)


def test_kernel_that_goes_with_the_server_gets_no_heads_up_of_its_own():
    k = _kernel_moments(timeout=300, server_timeout=300)  # same deadline as the server
    assert k.goes_with_server and k.heads_up_at is None
    k = _kernel_moments(timeout=299.5, server_timeout=300)  # within a second: still with it
    assert k.goes_with_server and k.heads_up_at is None
    k = _kernel_moments(timeout=298, server_timeout=300)
    assert not k.goes_with_server and k.heads_up_at == at(238)


def test_kernels_without_own_deadline_go_with_the_server_or_nowhere():
    assert _kernel_moments(timeout=0).goes_with_server  # server idle deadline at 3600
    k = _kernel_moments(timeout=0, server_timeout=0)
    assert not k.goes_with_server and k.heads_up_at is None
    busy = _kernel_moments(state="busy")
    assert busy.protected_by == "busy" and busy.heads_up_at is None


@pytest.mark.parametrize("timeout, cap, offer", [(300, 86400, 1800), (7200, 86400, 7200),
                                                 (7200, 3600, 3600), (300, 0, 0)])
def test_kernel_heads_up_offers_one_more_idle_period_at_least_half_an_hour(timeout, cap,
                                                                           offer):
    assert _kernel_moments(timeout=timeout, keepalive_max=cap).keepalive_offer == offer


# --- last_activity() ----------------------------------------------------------------------


def test_last_activity_busy_kernel_is_now():
    now = at(5000)
    f = facts(
        now,
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(4000)},
        kernels=(kernel(state="busy", last=at(10)),),
        keepalive_until=at(9000),
    )
    assert last_activity(f) == (now, "busy_kernel")


def test_last_activity_active_keepalive_is_now():
    now = at(5000)
    f = facts(
        now,
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(4000)},
        keepalive_until=at(9000),
    )
    assert last_activity(f) == (now, "keepalive")


def test_last_activity_expired_keepalive_is_latest():
    f = facts(
        at(5000),
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(4000)},
        keepalive_until=at(5000),
    )
    assert last_activity(f) == (at(4000), "presence")


def test_last_activity_otherwise_latest():
    f = facts(
        at(5000),
        activity={policy.SERVER_START: at(0), "extension:proxy": at(4500)},
        kernels=(kernel(last=at(4200)),),
        terminals=(Terminal("t", at(4400)),),
    )
    assert last_activity(f) == (at(4500), "extension:proxy")


# --- document() ---------------------------------------------------------------------------


def _full_decision():
    now = at(1000)
    f = facts(
        now,
        activity={policy.SERVER_START: at(0), policy.PRESENCE: at(900)},
        kernels=(
            kernel(id="k1", name="python3", state="idle", connections=1, last=at(800), timeout=600),
            kernel(id="k2", name="ir", state="busy", connections=0, last=at(100), timeout=600),
        ),
        terminals=(Terminal("1", at(950)),),
        keepalive_until=None,
    )
    settings = Settings(
        kernel_timeout=600,
        cull_busy=False,
        cull_connected=True,
        terminal_timeout=300,
        server_timeout=3600,
        warn_before=300,
        keepalive_max=7200,
        max_age=86400,
        started=at(-100),
    )
    return decide(f, settings)


def test_document_has_contract_keys():
    doc = document(_full_decision())
    assert doc["now"] == "2026-01-01T00:16:40.000Z"
    server_keys = {
        "deadline",
        "reason",
        "warn_at",
        "idle_timeout",
        "last_activity",
        "last_activity_source",
        "keepalive_until",
        "keepalive_max",
    }
    assert server_keys <= set(doc["server"])
    kernel_keys = {
        "id",
        "name",
        "execution_state",
        "connections",
        "last_activity",
        "deadline",
        "protected_by",
    }
    assert len(doc["kernels"]) == 2
    for item in doc["kernels"]:
        assert kernel_keys <= set(item)
    assert len(doc["terminals"]) == 1
    for item in doc["terminals"]:
        assert {"name", "last_activity", "deadline"} <= set(item)
    assert doc["hub"] == HUB_OFF


def test_document_values():
    doc = document(_full_decision())
    server = doc["server"]
    # a busy kernel: no idle deadline; max age (started -100 s + 1 day) is the deadline
    assert server["deadline"] == "2026-01-01T23:58:20.000Z"
    assert server["reason"] == "max_age"
    assert server["warn_at"] == "2026-01-01T23:53:20.000Z"
    assert server["idle_timeout"] == 3600
    assert server["idle_deadline"] is None
    assert server["max_age"] == 86400
    assert server["max_age_deadline"] == "2026-01-01T23:58:20.000Z"
    assert server["started"] == "2025-12-31T23:58:20.000Z"
    assert server["last_activity"] == "2026-01-01T00:16:40.000Z"
    assert server["last_activity_source"] == "busy_kernel"
    assert server["protected_by"] == "busy_kernel"
    assert server["keepalive_until"] is None
    assert server["keepalive_max"] == 7200
    assert server["warn_before"] == 300
    assert server["autosave_at"] == "2026-01-01T23:58:05.000Z"  # 15 s before
    assert server["presence_interval"] == 60
    assert server["last_activity_label"] == "a kernel running code right now"

    k1, k2 = doc["kernels"]
    assert k1 == {
        "id": "k1",
        "name": "python3",
        "execution_state": "idle",
        "connections": 1,
        "last_activity": "2026-01-01T00:13:20.000Z",
        "timeout": 600,
        "deadline": "2026-01-01T00:23:20.000Z",
        "reason": "idle",
        "protected_by": None,
        "goes_with_server": False,
        "heads_up_at": "2026-01-01T00:18:20.000Z",  # 300 s (warn_before) ahead
        "keepalive_offer": 1800,
        "waiting_for_input_since": None,
    }
    assert k2 == {
        "id": "k2",
        "name": "ir",
        "execution_state": "busy",
        "connections": 0,
        "last_activity": "2026-01-01T00:01:40.000Z",
        "timeout": 600,
        "deadline": None,
        "reason": None,
        "protected_by": "busy",
        "goes_with_server": True,
        "heads_up_at": None,
        "keepalive_offer": 1800,
        "waiting_for_input_since": None,
    }
    assert doc["terminals"] == [
        {
            "name": "1",
            "last_activity": "2026-01-01T00:15:50.000Z",
            "timeout": 300,
            "deadline": "2026-01-01T00:20:50.000Z",
            "protected_by": None,
            "command": None,
            "waiting_for_input": False,
        }
    ]
    assert doc["processes"] == []
    assert doc["settings"] == {
        "kernel_timeout": 600,
        "cull_busy": False,
        "cull_connected": True,
        "terminal_timeout": 300,
        "cull_busy_terminals": False,
    }


def test_document_with_keepalive_and_hub():
    f = facts(at(10), activity={policy.SERVER_START: at(0)}, keepalive_until=at(3600))
    dec = decide(f, Settings(server_timeout=600, keepalive_max=7200))
    hub = {"reporting": True, "interval": 300, "last_report": None, "reports": 3}
    doc = document(dec, hub=hub)
    assert doc["server"]["keepalive_until"] == "2026-01-01T01:00:00.000Z"
    assert doc["server"]["deadline"] == "2026-01-01T01:00:00.000Z"
    assert doc["server"]["protected_by"] == "keepalive"
    assert doc["server"]["reason"] == "idle"
    assert doc["hub"] == {**HUB_OFF, **hub}  # every key, whatever the reporter knows
    assert set(doc["hub"]) == set(HUB_OFF)


def test_document_null_deadlines():
    dec = decide(facts(at(10), kernels=(kernel(timeout=0),)), Settings())
    doc = document(dec)
    assert doc["server"]["deadline"] is None
    assert doc["server"]["reason"] is None
    assert doc["server"]["warn_at"] is None
    assert doc["server"]["idle_deadline"] is None
    assert doc["server"]["max_age_deadline"] is None
    assert doc["server"]["started"] is None
    assert doc["server"]["keepalive_until"] is None
    assert doc["kernels"][0]["deadline"] is None
    assert doc["terminals"] == []


def test_document_converts_other_timezones_to_utc():
    plus2 = timezone(timedelta(hours=2))
    now = datetime(2026, 1, 1, 2, 0, 0, tzinfo=plus2)  # == T0
    f = Facts(
        now=now,
        activity={policy.SERVER_START: datetime(2026, 1, 1, 1, 0, tzinfo=plus2)},
        kernels=(kernel(last=datetime(2026, 1, 1, 1, 30, tzinfo=plus2), timeout=60),),
    )
    doc = document(decide(f, Settings(server_timeout=600)))
    assert doc["now"] == "2026-01-01T00:00:00.000Z"
    assert doc["server"]["last_activity"] == "2025-12-31T23:30:00.000Z"
    assert doc["server"]["deadline"] == "2025-12-31T23:40:00.000Z"
    assert doc["kernels"][0]["last_activity"] == "2025-12-31T23:30:00.000Z"
    assert doc["kernels"][0]["deadline"] == "2025-12-31T23:31:00.000Z"


@pytest.mark.parametrize(
    "when, expected",
    [
        (T0, "2026-01-01T00:00:00.000Z"),
        (T0 + timedelta(milliseconds=1234), "2026-01-01T00:00:01.234Z"),
        (T0 + timedelta(microseconds=999), "2026-01-01T00:00:00.000Z"),  # truncated
        (datetime(2026, 1, 1, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
         "2026-01-01T00:00:00.000Z"),
        (datetime(2025, 12, 31, 19, 0, tzinfo=timezone(timedelta(hours=-5))),
         "2026-01-01T00:00:00.000Z"),
        (None, None),
    ],
)
def test_isoformat(when, expected):
    assert isoformat(when) == expected


# --- duration() ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (3603, "1:00:03"),
        (0, "0:00:00"),
        (59, "0:00:59"),
        (60, "0:01:00"),
        (59.6, "0:01:00"),
        (-1, "0:00:00"),
        (-3600, "0:00:00"),
        (86400 + 61, "1 day, 0:01:01"),
    ],
)
def test_duration(seconds, expected):
    assert duration(seconds) == expected
