"""Deadlines and their reasons, decided in one place.

Everything that stops something (the enforcer), shows something (the status API and the
widget) or reports something (the hub reporter, the hub companion) asks this module, so what a
user is shown is what happens. It is pure: no I/O and no clock. The caller gathers the facts
(including ``now``) from the live server and passes them in; tests pass in whatever they like.

Rules (docs/design.md has the whole flow and the invariants):

- kernel: ``last_activity + timeout``; no deadline while busy (unless ``cull_busy``) or
  connected (unless ``cull_connected``), the protection named in ``protected_by``; a dead
  kernel is due at once; an active keep-alive holds it until the keep-alive ends. A kernel
  waiting for an answer to ``input()`` is idle since it asked: waiting for a person is not
  work.
- terminal: ``last_activity + terminal timeout``, held by keep-alive the same way; no deadline
  while a command runs in it (unless ``cull_busy_terminals``), unless that command only waits
  for the keyboard.
- server idle: latest counted activity + server timeout. A busy kernel or terminal is
  activity *now*, so there is no idle deadline while one is. An idle kernel does not hold the
  server up. Other processes count at the samples in which they used CPU (``process:<name>``).
- max age: ``started + max_age``; keep-alive cannot move it.
- a kernel whose facts are unknown (``Kernel.known``, e.g. a gateway out of reach) has no
  deadline and holds the server up like a busy one: don't know, don't cull.
- the server deadline is the earlier of idle and max age; a warning is due ``warn_before``
  earlier, and open documents are saved ``autosave_lead`` before it.
- a kernel of an open notebook gets a heads-up ``heads_up_lead`` before its own culling,
  unless it goes with the server (the server's warning covers it).

The widget acts only on the times decided here (it compares them with ``now``), so it
cannot disagree with what the server does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .model import (  # noqa: F401 (the policy's vocabulary, re-exported)
    BUSY_KERNEL,
    BUSY_TERMINAL,
    INPUT,
    KEEPALIVE,
    KERNEL,
    PRESENCE,
    PRESENCE_INTERVAL_MAX,
    PRESENCE_INTERVAL_MIN,
    PROCESS,
    SERVER_START,
    TERMINAL,
    UNKNOWN_KERNEL,
    USER_API,
    Decision,
    Facts,
    Kernel,
    KernelDecision,
    Process,
    ServerDecision,
    Settings,
    Terminal,
    TerminalDecision,
    _due,
)

#: Seconds before the stop that open documents are saved: half the warning time, at least
#: long enough for a save to finish, at most short enough to catch late edits.
AUTOSAVE_LEAD_MIN = 2
AUTOSAVE_LEAD_MAX = 15
#: Seconds of keep-alive a kernel heads-up offers at least: one more idle period of a kernel
#: with a short timeout would bring the heads-up straight back; half an hour is a real break.
KEEPALIVE_OFFER_MIN = 1800
#: A kernel whose deadline is at most this close before the server's goes with the server:
#: culling it a moment earlier is not worth a heads-up of its own.
WITH_SERVER_SLACK = 1


def _seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def _hold(deadline: datetime, keepalive_until: datetime | None) -> tuple[datetime, str | None]:
    """Apply a keep-alive to an idle deadline: nothing is stopped before it ends."""
    if keepalive_until is not None and keepalive_until > deadline:
        return keepalive_until, KEEPALIVE
    return deadline, None


def active_keepalive(facts: Facts) -> datetime | None:
    """The keep-alive end if it is still in the future, else None."""
    if facts.keepalive_until is not None and facts.keepalive_until > facts.now:
        return facts.keepalive_until
    return None


def decide_kernel(kernel: Kernel, settings: Settings, facts: Facts) -> KernelDecision:
    """Deadline of one kernel."""
    if not kernel.known:
        return KernelDecision(kernel, None, None, "unknown")
    if kernel.execution_state == "dead":
        return KernelDecision(kernel, facts.now, "dead", None)
    if kernel.timeout <= 0:
        return KernelDecision(kernel, None, None, None)
    if kernel.working and not settings.cull_busy:
        return KernelDecision(kernel, None, None, "busy")
    if kernel.connections > 0 and not settings.cull_connected:
        return KernelDecision(kernel, None, None, "connected")
    deadline = kernel.active_at + _seconds(kernel.timeout)
    deadline, held = _hold(deadline, active_keepalive(facts))
    return KernelDecision(kernel, deadline, "idle", held)


def decide_terminal(terminal: Terminal, settings: Settings, facts: Facts) -> TerminalDecision:
    """Deadline of one terminal."""
    timeout = settings.terminal_timeout
    if timeout <= 0:
        return TerminalDecision(terminal, None, timeout, None)
    if terminal.working and not settings.cull_busy_terminals:
        return TerminalDecision(terminal, None, timeout, "busy")
    deadline = terminal.last_activity + _seconds(timeout)
    deadline, held = _hold(deadline, active_keepalive(facts))
    return TerminalDecision(terminal, deadline, timeout, held)


def latest_activity(facts: Facts) -> tuple[datetime, str]:
    """The latest past activity that counted, and its source.

    Live kernels and terminals are folded in, so a caller that has not recorded them yet
    still gets the right answer.
    """
    candidates = dict(facts.activity)
    for k in facts.kernels:
        candidates[KERNEL] = max(candidates.get(KERNEL, k.active_at), k.active_at)
    for t in facts.terminals:
        candidates[TERMINAL] = max(candidates.get(TERMINAL, t.last_activity), t.last_activity)
    source, when = max(candidates.items(), key=lambda item: (item[1], item[0]))
    return when, source


def busy(facts: Facts) -> str | None:
    """What is working right now (activity for as long as it lasts): ``BUSY_KERNEL``,
    ``BUSY_TERMINAL`` or None."""
    if any(k.working for k in facts.kernels):
        return BUSY_KERNEL
    if any(t.working for t in facts.terminals):
        return BUSY_TERMINAL
    return None


def unknown(facts: Facts) -> bool:
    """Whether a kernel's facts are unknown: don't know, don't cull. It may be working, so
    it holds the server up like a busy kernel (max age still applies)."""
    return any(not k.known for k in facts.kernels)


def last_activity(facts: Facts) -> tuple[datetime, str]:
    """What the server reports as its last activity: a busy kernel or terminal, a kernel
    whose facts are unknown or an active keep-alive is activity *now*; otherwise the latest
    past one."""
    working = busy(facts)
    if working:
        return facts.now, working
    if unknown(facts):
        return facts.now, UNKNOWN_KERNEL
    if active_keepalive(facts) is not None:
        return facts.now, KEEPALIVE
    return latest_activity(facts)


def decide_server(settings: Settings, facts: Facts) -> ServerDecision:
    """The server's deadline: the earlier of idle and max age."""
    when, source = latest_activity(facts)
    idle_deadline, protected_by = None, None
    working = busy(facts)
    if working:
        when, source, protected_by = facts.now, working, working
    elif unknown(facts):
        when, source, protected_by = facts.now, UNKNOWN_KERNEL, UNKNOWN_KERNEL
    elif settings.server_timeout > 0:
        idle_deadline, protected_by = _hold(
            when + _seconds(settings.server_timeout), active_keepalive(facts)
        )

    max_age_deadline = None
    if settings.max_age > 0 and settings.started is not None:
        max_age_deadline = settings.started + _seconds(settings.max_age)

    deadline, reason = None, None
    if idle_deadline is not None:
        deadline, reason = idle_deadline, "idle"
    if max_age_deadline is not None and (deadline is None or max_age_deadline <= deadline):
        deadline, reason = max_age_deadline, "max_age"
    warn_at = autosave_at = None
    if deadline is not None:
        warn_at = deadline - _seconds(settings.warn_before)
        autosave_at = deadline - _seconds(autosave_lead(settings.warn_before))
    return ServerDecision(
        deadline, reason, warn_at, idle_deadline, max_age_deadline, when, source, protected_by,
        autosave_at, presence_interval(settings.server_timeout),
        facts.details.get(source) if source == BUSY_TERMINAL or source.startswith(PROCESS)
        else None,
    )


def autosave_lead(warn_before: float) -> float:
    """Seconds before the stop that open documents are saved."""
    return min(AUTOSAVE_LEAD_MAX, max(AUTOSAVE_LEAD_MIN, warn_before / 2))


def presence_interval(server_timeout: float) -> float:
    """Seconds between two presence reports while someone is active."""
    if server_timeout <= 0:
        return PRESENCE_INTERVAL_MAX
    return min(PRESENCE_INTERVAL_MAX, max(PRESENCE_INTERVAL_MIN, server_timeout / 3))


def heads_up_lead(warn_before: float, timeout: float) -> float:
    """Seconds before its culling that a kernel's heads-up comes: the server's warning time,
    at most half the kernel's timeout (so it does not come as soon as the kernel idles)."""
    return min(warn_before, timeout / 2) if timeout > 0 else warn_before


def keepalive_offer(timeout: float, keepalive_max: float) -> float:
    """Seconds of keep-alive a kernel heads-up offers: one more idle period of the kernel,
    at least ``KEEPALIVE_OFFER_MIN``, at most what the operator allows (0: none)."""
    return min(keepalive_max, max(timeout, KEEPALIVE_OFFER_MIN)) if keepalive_max > 0 else 0


def _with_server(k: KernelDecision, cutoff: datetime | None, settings: Settings
                 ) -> KernelDecision:
    """``k`` with what depends on the server's stop (``cutoff``: ``WITH_SERVER_SLACK`` before
    it): whether the kernel goes with it, and when its own heads-up is due if not."""
    goes = cutoff is not None and (k.deadline is None or k.deadline >= cutoff)
    heads_up_at = None
    if k.reason == "idle" and k.deadline is not None and not goes:
        heads_up_at = k.deadline - _seconds(heads_up_lead(settings.warn_before, k.kernel.timeout))
    offer = keepalive_offer(k.kernel.timeout, settings.keepalive_max)
    return KernelDecision(k.kernel, k.deadline, k.reason, k.protected_by, goes, heads_up_at, offer)


def decide(facts: Facts, settings: Settings) -> Decision:
    """Every deadline of the server, its kernels and terminals at ``facts.now``."""
    server = decide_server(settings, facts)
    cutoff = None if server.deadline is None else server.deadline - _seconds(WITH_SERVER_SLACK)
    return Decision(
        now=facts.now,
        settings=settings,
        server=server,
        kernels=tuple(
            _with_server(decide_kernel(k, settings, facts), cutoff, settings)
            for k in facts.kernels
        ),
        terminals=tuple(decide_terminal(t, settings, facts) for t in facts.terminals),
        keepalive_until=active_keepalive(facts),
        processes=facts.processes,
    )
