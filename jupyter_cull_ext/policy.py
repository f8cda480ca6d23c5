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

from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: Names of activity sources. Other sources (``extension:<key>``) may appear too.
SERVER_START = "server_start"
KERNEL = "kernel"
BUSY_KERNEL = "busy_kernel"
TERMINAL = "terminal"
USER_API = "user_api"
PRESENCE = "presence"
KEEPALIVE = "keepalive"
BUSY_TERMINAL = "busy_terminal"
INPUT = "input"  # someone answered an input() prompt
PROCESS = "process:"  # prefix: a process of this server that used CPU, by name

#: Seconds before the stop that open documents are saved: half the warning time, at least
#: long enough for a save to finish, at most short enough to catch late edits.
AUTOSAVE_LEAD_MIN = 2
AUTOSAVE_LEAD_MAX = 15
#: Seconds between presence reports while someone is active: once a minute, but at least
#: three per idle timeout, so a person who is there is reported well before the deadline.
PRESENCE_INTERVAL_MAX = 60
PRESENCE_INTERVAL_MIN = 1
#: Seconds of keep-alive a kernel heads-up offers at least: one more idle period of a kernel
#: with a short timeout would bring the heads-up straight back; half an hour is a real break.
KEEPALIVE_OFFER_MIN = 1800
#: A kernel whose deadline is at most this close before the server's goes with the server:
#: culling it a moment earlier is not worth a heads-up of its own.
WITH_SERVER_SLACK = 1

#: A kernel whose facts cannot be read now (a gateway out of reach): see ``unknown``.
UNKNOWN_KERNEL = "unknown_kernel"


@dataclass(frozen=True)
class Settings:
    """Effective culling settings in seconds, as read back from the live server.

    A timeout of 0 means "never". ``started`` is when the server was requested (the hub's
    ``started``) or, outside a hub, when it started; ``max_age`` counts from it.
    """

    kernel_timeout: float = 0
    cull_busy: bool = False
    cull_connected: bool = True
    terminal_timeout: float = 0
    cull_busy_terminals: bool = False
    server_timeout: float = 0
    warn_before: float = 0
    keepalive_max: float = 0
    max_age: float = 0
    started: datetime | None = None


@dataclass(frozen=True)
class Kernel:
    """What is known about one running kernel."""

    id: str
    name: str
    execution_state: str
    connections: int
    last_activity: datetime
    timeout: float  # effective: the kernelspec's metadata.cull_idle_timeout or the global one
    known: bool = True  # False: its facts are stale or unreadable (e.g. a gateway down)
    waiting_since: datetime | None = None  # asked for input() then, not answered yet

    @property
    def working(self) -> bool:
        """Running code, not merely waiting for someone to answer a prompt."""
        return self.execution_state == "busy" and self.waiting_since is None

    @property
    def active_at(self) -> datetime:
        """Its last activity; a prompt left unanswered is idle since it was asked."""
        return self.waiting_since or self.last_activity


@dataclass(frozen=True)
class Terminal:
    """What is known about one running terminal."""

    name: str
    last_activity: datetime
    command: str | None = None  # what runs in its foreground; None at the shell's prompt
    waiting_for_input: bool = False  # that command only waits for the keyboard

    @property
    def working(self) -> bool:
        return self.command is not None and not self.waiting_for_input


@dataclass(frozen=True)
class Process:
    """A process of this server, neither kernel nor terminal, that used CPU lately."""

    pid: int
    name: str
    command: str
    cpu: float  # cores, averaged over the sample
    sampled: datetime


@dataclass(frozen=True)
class Facts:
    """A snapshot of the server at ``now``.

    ``activity`` maps each source to the last time it counted (past activity only; a busy
    kernel is seen through ``kernels``). It always holds at least ``server_start``.
    """

    now: datetime
    activity: dict[str, datetime]
    kernels: tuple[Kernel, ...] = ()
    terminals: tuple[Terminal, ...] = ()
    keepalive_until: datetime | None = None
    processes: tuple[Process, ...] = ()
    details: dict[str, str] = field(default_factory=dict)  # source -> what it was


@dataclass(frozen=True)
class KernelDecision:
    kernel: Kernel
    deadline: datetime | None
    reason: str | None  # "idle" | "dead" | None
    protected_by: str | None  # "busy" | "connected" | "keepalive" | None
    goes_with_server: bool = False  # the server stops first (or with it): no own heads-up
    heads_up_at: datetime | None = None  # when an open notebook's user is told
    keepalive_offer: float = 0  # seconds of keep-alive the heads-up offers (0: none)


@dataclass(frozen=True)
class TerminalDecision:
    terminal: Terminal
    deadline: datetime | None
    timeout: float
    protected_by: str | None  # "busy" | "keepalive" | None


@dataclass(frozen=True)
class ServerDecision:
    deadline: datetime | None
    reason: str | None  # "idle" | "max_age" | None
    warn_at: datetime | None
    idle_deadline: datetime | None
    max_age_deadline: datetime | None
    last_activity: datetime
    last_activity_source: str
    protected_by: str | None  # "busy_kernel" | "busy_terminal" | "keepalive" | None
    autosave_at: datetime | None = None  # when open documents are saved before the stop
    presence_interval: float = PRESENCE_INTERVAL_MAX  # seconds between presence reports
    last_activity_detail: str | None = None  # e.g. "terminal 1: python train.py"


@dataclass(frozen=True)
class Decision:
    """Every deadline at ``now``, with its reason."""

    now: datetime
    settings: Settings
    server: ServerDecision
    kernels: tuple[KernelDecision, ...] = field(default=())
    terminals: tuple[TerminalDecision, ...] = field(default=())
    keepalive_until: datetime | None = None
    processes: tuple[Process, ...] = field(default=())

    def due_kernels(self) -> list[KernelDecision]:
        return [k for k in self.kernels if _due(k.deadline, self.now)]

    def due_terminals(self) -> list[TerminalDecision]:
        return [t for t in self.terminals if _due(t.deadline, self.now)]

    def server_due(self) -> bool:
        return _due(self.server.deadline, self.now)

    def next_deadline(self) -> datetime | None:
        """The earliest deadline (or warning) still in the future: when to look again."""
        times = [k.deadline for k in self.kernels] + [t.deadline for t in self.terminals]
        times += [self.server.deadline, self.server.warn_at]
        future = [t for t in times if t is not None and t > self.now]
        return min(future, default=None)


def _due(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and deadline <= now


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
