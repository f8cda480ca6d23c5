"""Deadlines and their reasons, decided in one place.

Everything that stops something (the enforcer), shows something (the status API and the
widget) or reports something (the hub reporter, the hub companion) asks this module, so what a
user is shown is what happens. It is pure: no I/O and no clock. The caller gathers the facts
(including ``now``) from the live server and passes them in; tests pass in whatever they like.

Rules (see DESIGN.md, "Deadlines"):

- kernel: ``last_activity + timeout``; no deadline while busy (unless ``cull_busy``) or
  connected (unless ``cull_connected``), the protection named in ``protected_by``; a dead
  kernel is due at once; an active keep-alive holds it until the keep-alive ends.
- terminal: ``last_activity + terminal timeout``, held by keep-alive the same way.
- server idle: latest counted activity + server timeout. A busy kernel is activity *now*, so
  there is no idle deadline while one is busy. An idle kernel does not hold the server up.
- max age: ``started + max_age``; keep-alive cannot move it.
- a kernel whose facts are unknown (``Kernel.known``, e.g. a gateway out of reach) has no
  deadline and holds the server up like a busy one: don't know, don't cull.
- the server deadline is the earlier of idle and max age; a warning is due ``warn_before``
  earlier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .timeutil import isoformat

#: Names of activity sources. Other sources (``extension:<key>``) may appear too.
SERVER_START = "server_start"
KERNEL = "kernel"
BUSY_KERNEL = "busy_kernel"
TERMINAL = "terminal"
USER_API = "user_api"
PRESENCE = "presence"
KEEPALIVE = "keepalive"
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


@dataclass(frozen=True)
class Terminal:
    """What is known about one running terminal."""

    name: str
    last_activity: datetime


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


@dataclass(frozen=True)
class KernelDecision:
    kernel: Kernel
    deadline: datetime | None
    reason: str | None  # "idle" | "dead" | None
    protected_by: str | None  # "busy" | "connected" | "keepalive" | None


@dataclass(frozen=True)
class TerminalDecision:
    terminal: Terminal
    deadline: datetime | None
    timeout: float
    protected_by: str | None  # "keepalive" | None


@dataclass(frozen=True)
class ServerDecision:
    deadline: datetime | None
    reason: str | None  # "idle" | "max_age" | None
    warn_at: datetime | None
    idle_deadline: datetime | None
    max_age_deadline: datetime | None
    last_activity: datetime
    last_activity_source: str
    protected_by: str | None  # "busy_kernel" | "keepalive" | None


@dataclass(frozen=True)
class Decision:
    """Every deadline at ``now``, with its reason."""

    now: datetime
    settings: Settings
    server: ServerDecision
    kernels: tuple[KernelDecision, ...] = field(default=())
    terminals: tuple[TerminalDecision, ...] = field(default=())
    keepalive_until: datetime | None = None

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
    if kernel.execution_state == "busy" and not settings.cull_busy:
        return KernelDecision(kernel, None, None, "busy")
    if kernel.connections > 0 and not settings.cull_connected:
        return KernelDecision(kernel, None, None, "connected")
    deadline = kernel.last_activity + _seconds(kernel.timeout)
    deadline, held = _hold(deadline, active_keepalive(facts))
    return KernelDecision(kernel, deadline, "idle", held)


def decide_terminal(terminal: Terminal, settings: Settings, facts: Facts) -> TerminalDecision:
    """Deadline of one terminal."""
    timeout = settings.terminal_timeout
    if timeout <= 0:
        return TerminalDecision(terminal, None, timeout, None)
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
        candidates[KERNEL] = max(candidates.get(KERNEL, k.last_activity), k.last_activity)
    for t in facts.terminals:
        candidates[TERMINAL] = max(candidates.get(TERMINAL, t.last_activity), t.last_activity)
    source, when = max(candidates.items(), key=lambda item: (item[1], item[0]))
    return when, source


def busy(facts: Facts) -> bool:
    """Whether a kernel is working right now (activity for as long as it lasts)."""
    return any(k.execution_state == "busy" for k in facts.kernels)


def unknown(facts: Facts) -> bool:
    """Whether a kernel's facts are unknown: don't know, don't cull. It may be working, so
    it holds the server up like a busy kernel (max age still applies)."""
    return any(not k.known for k in facts.kernels)


def last_activity(facts: Facts) -> tuple[datetime, str]:
    """What the server reports as its last activity: a busy kernel, a kernel whose facts
    are unknown or an active keep-alive is activity *now*; otherwise the latest past one."""
    if busy(facts):
        return facts.now, BUSY_KERNEL
    if unknown(facts):
        return facts.now, UNKNOWN_KERNEL
    if active_keepalive(facts) is not None:
        return facts.now, KEEPALIVE
    return latest_activity(facts)


def decide_server(settings: Settings, facts: Facts) -> ServerDecision:
    """The server's deadline: the earlier of idle and max age."""
    when, source = latest_activity(facts)
    idle_deadline, protected_by = None, None
    if busy(facts):
        when, source, protected_by = facts.now, BUSY_KERNEL, BUSY_KERNEL
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
    warn_at = deadline - _seconds(settings.warn_before) if deadline is not None else None
    return ServerDecision(
        deadline, reason, warn_at, idle_deadline, max_age_deadline, when, source, protected_by
    )


def decide(facts: Facts, settings: Settings) -> Decision:
    """Every deadline of the server, its kernels and terminals at ``facts.now``."""
    return Decision(
        now=facts.now,
        settings=settings,
        server=decide_server(settings, facts),
        kernels=tuple(decide_kernel(k, settings, facts) for k in facts.kernels),
        terminals=tuple(decide_terminal(t, settings, facts) for t in facts.terminals),
        keepalive_until=active_keepalive(facts),
    )


# --- presentation helpers (pure) ---------------------------------------------------------


def document(decision: Decision, hub: dict | None = None, gateway: dict | None = None) -> dict:
    """The status document of ``GET api/cull/status`` (see DESIGN.md, "Status contract")."""
    s, cfg = decision.server, decision.settings
    return {
        "now": isoformat(decision.now),
        "server": {
            "deadline": isoformat(s.deadline),
            "reason": s.reason,
            "warn_at": isoformat(s.warn_at),
            "idle_timeout": cfg.server_timeout,
            "idle_deadline": isoformat(s.idle_deadline),
            "max_age": cfg.max_age,
            "max_age_deadline": isoformat(s.max_age_deadline),
            "started": isoformat(cfg.started),
            "last_activity": isoformat(s.last_activity),
            "last_activity_source": s.last_activity_source,
            "protected_by": s.protected_by,
            "keepalive_until": isoformat(decision.keepalive_until),
            "keepalive_max": cfg.keepalive_max,
            "warn_before": cfg.warn_before,
        },
        "kernels": [
            {
                "id": k.kernel.id,
                "name": k.kernel.name,
                "execution_state": k.kernel.execution_state,
                "connections": k.kernel.connections,
                "last_activity": isoformat(k.kernel.last_activity),
                "timeout": k.kernel.timeout,
                "deadline": isoformat(k.deadline),
                "reason": k.reason,
                "protected_by": k.protected_by,
            }
            for k in decision.kernels
        ],
        "terminals": [
            {
                "name": t.terminal.name,
                "last_activity": isoformat(t.terminal.last_activity),
                "timeout": t.timeout,
                "deadline": isoformat(t.deadline),
                "protected_by": t.protected_by,
            }
            for t in decision.terminals
        ],
        "settings": {
            "kernel_timeout": cfg.kernel_timeout,
            "cull_busy": cfg.cull_busy,
            "cull_connected": cfg.cull_connected,
            "terminal_timeout": cfg.terminal_timeout,
        },
        "hub": hub if hub is not None else {"reporting": False},
        "gateway": gateway,  # None when kernels are local (gateway.GatewayWatcher.status)
    }
