"""Which hub server is due when, and why: decided in one place, with no I/O and no clock.

A server's *max-age deadline* is its hub ``started`` time (when the spawn was requested) plus
the max age of the first configured group its user belongs to, else the default max age. With
the optional idle failsafe (``timeout``, the meaning of jupyterhub-idle-culler's ``--timeout``),
a server whose hub ``last_activity`` (or, lacking one, ``started``) is ``timeout`` old is due
too. The earlier deadline wins; on a tie the reason is max age.

A server told its max age (by ``configure``) stops itself at that deadline on its own clock,
saving open documents first; the companion acts ``server_grace`` seconds later, so that a
server whose clock is a little behind the hub's is not stopped before it has saved.

The hub helper (``configure``) uses the same ``Limits`` to tell each server its max age at
spawn time, so the deadline a user sees is the one the companion enforces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import knobs
from ..timeutil import duration, isoformat, parse

MAX_AGE = "max_age"
IDLE = "idle"

#: The only scopes the companion needs; ``read:users:groups`` too with a per-group policy.
SCOPES = ("list:users", "read:servers", "delete:servers")
GROUPS_SCOPE = "read:users:groups"


@dataclass(frozen=True)
class Limits:
    """What to stop. Seconds; 0 means "never" for each of them (``server_grace``: no grace).

    ``group_max_age`` is ordered: the first group (in this order) that a user belongs to gives
    the max age of that user's servers, else ``max_age`` applies.
    """

    max_age: int = 0
    group_max_age: tuple[tuple[str, int], ...] = ()
    timeout: int = 0
    cull_default_servers: bool = True
    cull_named_servers: bool = True
    server_grace: int = 0

    @classmethod
    def create(
        cls,
        max_age: object = 0,
        group_max_age: Mapping[str, object] | Iterable[tuple[str, object]] | None = None,
        timeout: object = 0,
        cull_default_servers: bool = True,
        cull_named_servers: bool = True,
        server_grace: object = 0,
    ) -> Limits:
        """Validated limits; ``ValueError`` (``knobs.ConfigError``) names a bad value."""
        pairs = group_max_age.items() if isinstance(group_max_age, Mapping) else group_max_age
        groups = []
        for group, seconds in pairs or ():
            if not isinstance(group, str) or not group or "=" in group:
                raise knobs.ConfigError(f"group_max_age: {group!r} is not a group name")
            groups.append((group, knobs.seconds(f"group_max_age[{group!r}]", seconds)))
        return cls(
            max_age=knobs.seconds("max_age", max_age),
            group_max_age=tuple(groups),
            timeout=knobs.seconds("timeout", timeout),
            cull_default_servers=bool(cull_default_servers),
            cull_named_servers=bool(cull_named_servers),
            server_grace=knobs.seconds("server_grace", server_grace),
        )

    @property
    def needs_groups(self) -> bool:
        """Whether decisions depend on group membership (scope ``read:users:groups``)."""
        return bool(self.group_max_age)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes a token needs to enforce these limits."""
        return SCOPES + ((GROUPS_SCOPE,) if self.needs_groups else ())

    def is_empty(self) -> bool:
        return not (self.max_age or self.timeout or any(s for _, s in self.group_max_age))

    def covers(self, server_name: str) -> bool:
        return self.cull_named_servers if server_name else self.cull_default_servers

    def max_age_for(self, groups: Iterable[str] | None) -> tuple[int, str | None]:
        """The max age for a member of ``groups`` and the group that decided it (None:
        the default). ``groups=None`` (membership unknown) gets the default."""
        names = set(groups or ())
        for group, seconds in self.group_max_age:
            if group in names:
                return seconds, group
        return self.max_age, None

    def server_max_age(self, server_name: str, groups: Iterable[str] | None) -> int:
        """The max age a server is told at spawn time (0 if the companion leaves it be)."""
        return self.max_age_for(groups)[0] if self.covers(server_name) else 0

    def shortest(self) -> int:
        """The shortest positive limit (0 if none)."""
        values = [self.max_age, self.timeout, *(s for _, s in self.group_max_age)]
        return min((v for v in values if v > 0), default=0)


@dataclass(frozen=True)
class Server:
    """One server as the hub's REST API shows it."""

    user: str
    name: str
    started: datetime | None
    last_activity: datetime | None
    ready: bool
    pending: str | None
    groups: tuple[str, ...] | None  # None: this token cannot see group membership

    @property
    def key(self) -> tuple[str, str]:
        return self.user, self.name

    @property
    def label(self) -> str:
        return f"{self.user}/{self.name}" if self.name else self.user


@dataclass(frozen=True)
class Verdict:
    """The deadline of one server (None: nothing will stop it), or why it is left alone."""

    server: Server
    deadline: datetime | None = None
    reason: str | None = None  # MAX_AGE | IDLE | None
    max_age: int = 0  # effective max age of this server; 0 = none
    group: str | None = None  # the group that gave the max age; None = the default
    skip: str | None = None  # "pending spawn", "not ready", "named servers excluded", ...
    grace: int = 0  # seconds the companion waits past the deadline (the server acts first)

    @property
    def acts_at(self) -> datetime | None:
        """When the companion stops the server: the deadline plus the grace."""
        return self.deadline + timedelta(seconds=self.grace) if self.deadline else None

    def due(self, now: datetime) -> bool:
        return self.skip is None and self.acts_at is not None and self.acts_at <= now


def servers_of(user: Mapping) -> list[Server]:
    """The servers in one user model from ``GET /hub/api/users``."""
    groups = tuple(user["groups"]) if "groups" in user else None
    return [
        Server(
            user=user["name"],
            name=name,
            started=parse(model.get("started")),
            last_activity=parse(model.get("last_activity")),
            ready=bool(model.get("ready")),
            pending=model.get("pending"),
            groups=groups,
        )
        for name, model in (user.get("servers") or {}).items()
    ]


def decide(server: Server, limits: Limits) -> Verdict:
    """The deadline of ``server`` under ``limits`` (does not depend on the time now). The
    max-age deadline comes with the server grace; the idle one (which the server does not
    know) with none. The one the companion acts on first wins."""
    if server.pending:
        return Verdict(server, skip=f"pending {server.pending}")
    if not server.ready:
        return Verdict(server, skip="not ready")
    if not limits.covers(server.name):
        return Verdict(server, skip=f"{'named' if server.name else 'default'} servers excluded")
    max_age, group = limits.max_age_for(server.groups)
    candidates = []
    if max_age and server.started is not None:
        candidates.append(Verdict(server, server.started + timedelta(seconds=max_age),
                                  MAX_AGE, max_age, group, grace=limits.server_grace))
    if limits.timeout:
        active = server.last_activity or server.started
        if active is not None:
            candidates.append(Verdict(server, active + timedelta(seconds=limits.timeout),
                                      IDLE, max_age, group))
    if not candidates:
        return Verdict(server, max_age=max_age, group=group)
    return min(candidates, key=lambda v: (v.acts_at, v.reason != MAX_AGE))


def describe(verdict: Verdict, limits: Limits, now: datetime) -> str:
    """Why a server is stopped, for the log: reason, age, limit, deadline and lateness."""
    s = verdict.server
    age = duration((now - s.started).total_seconds()) if s.started else "unknown"
    late = (now - verdict.acts_at).total_seconds() if verdict.acts_at else 0.0
    if verdict.reason == MAX_AGE:
        source = f"group {verdict.group!r}" if verdict.group else "default"
        why = f"age {age} >= max age {duration(verdict.max_age)} ({source})"
    else:
        active = s.last_activity or s.started
        inactive = duration((now - active).total_seconds()) if active else "unknown"
        why = f"inactive {inactive} >= timeout {duration(limits.timeout)}, age {age}"
    grace = f" + {verdict.grace} s grace" if verdict.grace else ""
    return (f"reason {verdict.reason}: {why}; started {isoformat(s.started)}, "
            f"deadline {isoformat(verdict.deadline)}{grace}, {late:.2f} s after it")
