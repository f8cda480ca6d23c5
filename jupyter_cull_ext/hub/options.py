"""The companion's options, each defined once with its default and help text.

The command line (``cli.CullHub`` traits), ``configure()`` (the command it registers) and the
pass (``companion.run_companion``) all read this one dataclass, so a default cannot differ
between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from .hubapi import PAGE_SIZE
from .rules import Limits

#: The server's longest autosave lead before its own deadline (15 s) plus a 5 s margin.
SERVER_GRACE = 20


def _option(default: Any, help: str, **extra: Any) -> Any:
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"help": help, **extra})
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class Options:
    """Everything the companion does; seconds throughout."""

    max_age: int = _option(0, """
        The maximum age (in seconds) of servers, counted from when the hub was asked to start
        them (`started`); they are stopped at that moment even if they are active. 0: no max
        age (unless a group has one).""")
    group_max_age: Mapping[str, int] = _option({}, """
        Max age (seconds) by JupyterHub group, e.g. --group-max-age students=28800
        --group-max-age staff=604800. The first group in this order that a user belongs to
        decides; users in none of them get --max-age. Needs scope read:users:groups.""")
    timeout: int = _option(0, """
        The idle timeout (in seconds): also stop servers whose hub `last_activity` is older
        than this (jupyterhub-idle-culler's --timeout, for servers without our extension).
        0 (the default, unlike idle-culler's 600): off.""")
    server_grace: int = _option(SERVER_GRACE, """
        Seconds the companion waits past a max-age deadline before it stops the server.
        Servers told their max age (by configure()) stop themselves at it on their own clock,
        saving open documents up to 15 s before; the grace keeps a server whose clock is a
        little behind the hub's from being stopped before it has saved. 0: stop at the
        deadline (for servers not told their max age; configure() sets it when it tells
        them nothing). Not applied to --timeout.""")
    cull_every: int = _option(0, """
        The interval (in seconds) between sweeps that discover new servers and policy changes.
        Servers are stopped at their deadlines whatever this is. 0: a quarter of the shortest
        max age or timeout, between 1 and 300.""")
    concurrency: int = _option(10, """
        Limit the number of concurrent requests made to the Hub.""", min=1)
    api_page_size: int = _option(PAGE_SIZE, """
        Number of users to request per page of the user list (the hub caps it at its
        api_page_max_limit, 200 by default). 0: the hub's default page size (50).""")
    dry_run: bool = _option(False, """
        Log what would be stopped, and stop nothing.""")
    once: bool = _option(False, """
        Make one pass, stopping what is due now, and exit: status 0 if every request
        succeeded, 1 otherwise.""")
    remove_named_servers: bool = _option(False, """
        Remove named servers in addition to stopping them.""")
    cull_default_servers: bool = _option(True, """
        Whether default servers should be culled.""")
    cull_named_servers: bool = _option(True, """
        Whether named servers should be culled.""")
    ssl_enabled: bool = _option(False, """
        Whether the Jupyter API endpoint has TLS enabled (JupyterHub internal_ssl).""")
    internal_certs_location: str = _option("internal-ssl", """
        The location of generated internal-ssl certificates (only needed with
        --ssl-enabled=true).""")

    def limits(self) -> Limits:
        """The validated limits; ``knobs.ConfigError`` names a bad value."""
        return Limits.create(self.max_age, self.group_max_age, self.timeout,
                             self.cull_default_servers, self.cull_named_servers,
                             self.server_grace)

    def command_args(self) -> list[str]:
        """Command-line flags for these options: the limits, and every other option that
        differs from its default."""
        limits = self.limits()
        args = [f"--max-age={limits.max_age}"]
        args += [f"--group-max-age={group}={seconds}" for group, seconds in
                 limits.group_max_age]
        for name, value in self.changed().items():
            if name not in ("max_age", "group_max_age"):
                args.append(f"--{name.replace('_', '-')}={value}")
        return args

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults."""
        return {name: getattr(self, name) for name, default in defaults().items()
                if getattr(self, name) != default}


def defaults() -> dict[str, Any]:
    return {f.name: f.default_factory() if f.default is MISSING else f.default
            for f in fields(Options)}


def help_of(name: str) -> str:
    return " ".join(Options.__dataclass_fields__[name].metadata["help"].split())


def minimum(name: str) -> int:
    return Options.__dataclass_fields__[name].metadata.get("min", 0)
