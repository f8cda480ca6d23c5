"""The facts the policy decides on, and the decisions it makes: plain frozen data.

``live.py`` builds the facts from the running server (tests build them by hand);
``policy.py`` turns them into decisions; ``status.py``, ``enforce.py``, ``announce.py``
and ``hubreport.py`` read the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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

#: Seconds between presence reports while someone is active: once a minute, but at least
#: three per idle timeout, so a person who is there is reported well before the deadline.
PRESENCE_INTERVAL_MAX = 60
PRESENCE_INTERVAL_MIN = 1

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
