"""``configure(c, ...)``: the whole hub side in one call from ``jupyterhub_config.py``.

It registers the companion as a managed service (``python -m jupyter_cull_ext.hub ...``), a
role granting that service exactly the scopes it needs, and two callable
``Spawner.environment`` entries so that every server knows its own max age and when it was
requested (JupyterHub sets ``orm_spawner.started`` before it calls ``Spawner.start``, which
builds the environment). The server extension then shows the max-age deadline in
``api/cull/status`` from the start, warns before it, and stops itself at it; the companion
stops it from the hub side too, in case it cannot. It also lets each server's token stop
that server only (``delete:servers!server`` in ``Spawner.server_token_scopes``): a server
that stops itself, idle or at max age, asks the hub to stop it (``hubstop``), so the hub
shows it stopped at once instead of at its next poll.

Runs inside the hub process: it imports nothing from jupyter_server, and from jupyterhub
only when the hub asks a spawner for its token's scopes.
"""

from __future__ import annotations

import sys
import inspect
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ..hubenv import ENV_MAX_AGE, ENV_STARTED
from .options import Options
from .rules import Limits

SERVICE_NAME = "jupyter-cull-hub"
#: What lets a server ask the hub to stop it, and nothing else.
SELF_STOP_SCOPE = "delete:servers!server"
#: The hub's ``server`` role, whose scopes a server token gets when
#: ``Spawner.server_token_scopes`` is empty (JupyterHub 4 to 6).
DEFAULT_SERVER_SCOPES = ("users:activity!user", "access:servers!server")


def configure(
    c: Any,
    max_age: int = Options.max_age,
    *,
    groups: Mapping[str, int] | Iterable[tuple[str, int]] | None = None,
    name: str = SERVICE_NAME,
    api_token: str | None = None,
    managed: bool = True,
    register: bool = True,
    tell_servers: bool = True,
    **options: Any,
) -> dict:
    """Register the companion service, its role and the servers' environment on ``c``.

    ``max_age`` (seconds, 0 = none) applies to users in none of ``groups``, an ordered
    mapping (or pairs) of JupyterHub group name to max age: a user's first group in that order
    decides. ``options`` are the command's other options (``options.Options``: ``timeout``,
    ``server_grace``, ``cull_every``, ``dry_run``, ...; see ``docs/hub.md``).

    ``api_token`` also registers a token for the service (to run it yourself with
    ``managed=False``). ``register=False`` adds neither service nor role (declared elsewhere,
    e.g. z2jh's ``hub.services`` and ``hub.loadRoles``). ``tell_servers=False`` (implied by
    ``dry_run``, since servers enforce their max age themselves) passes nothing to the
    servers, and then the companion gives them no grace unless ``server_grace`` is given. Call
    it after your own ``Spawner.environment`` settings: entries are added to those already
    configured. Returns the service's specification (the dict added to
    ``c.JupyterHub.services``, or that would have been).
    """
    if "once" in options:
        raise TypeError("configure() does not take 'once': a service runs until stopped")
    tell_servers = tell_servers and not options.get("dry_run", False)
    if not tell_servers:
        options.setdefault("server_grace", 0)
    settings = Options(max_age=max_age, group_max_age={} if groups is None else groups,
                       **options)
    limits = settings.limits()
    if limits.is_empty():
        raise ValueError("configure(): nothing to enforce; give max_age, groups or timeout")
    if register and not managed and not api_token:
        raise ValueError("configure(managed=False) needs an api_token for the service")

    service: dict[str, Any] = {"name": name}
    if managed:
        service["command"] = [sys.executable, "-m", "jupyter_cull_ext.hub",
                              *settings.command_args()]
    if api_token:
        service["api_token"] = api_token
    if register:
        c.JupyterHub.services.append(service)
        c.JupyterHub.load_roles.append({
            "name": name,
            "description": "jupyter-cull-ext companion: list users, read and stop servers",
            "scopes": list(limits.scopes),
            "services": [name],
        })
    if tell_servers:
        add_environment(c, server_environment(limits))
        add_self_stop_scope(c)
    return service


def server_environment(limits: Limits) -> dict[str, Any]:
    """Callable ``Spawner.environment`` entries: the server's max age (by its user's groups
    at spawn time) and its hub ``started`` time, exactly as the REST API shows it."""

    def max_age(spawner: Any) -> str:
        groups = [group.name for group in spawner.user.groups]
        return str(limits.server_max_age(spawner.name, groups))

    def started(spawner: Any) -> str:
        return hub_isoformat(spawner.orm_spawner.started)

    return {ENV_MAX_AGE: max_age, ENV_STARTED: started}


def hub_isoformat(when: datetime | None) -> str:
    """A hub timestamp (naive UTC) the way the hub's REST API writes it; now if None."""
    if when is None:
        when = datetime.now(timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.isoformat() + "Z"


def add_self_stop_scope(c: Any) -> None:
    """Add ``SELF_STOP_SCOPE`` to the scopes each server's token gets, keeping the rest: the
    ``server_token_scopes`` configured before (a list or a callable, on ``Spawner`` or a
    spawner class's section), else the hub's ``server`` role as it stands when the server
    starts, as JupyterHub itself would. (The hub grants only what the user holds; users may
    stop their own servers by default.)"""
    for section in spawner_sections(c, "server_token_scopes"):
        configured = c[section].get("server_token_scopes")
        c[section].server_token_scopes = with_self_stop(configured)


def with_self_stop(configured: Any) -> Any:
    """``Spawner.server_token_scopes`` as a callable: ``configured``'s scopes (or the
    ``server`` role's when none are) plus ``SELF_STOP_SCOPE``."""

    async def scopes(spawner: Any) -> list[str]:
        base = configured(spawner) if callable(configured) else configured
        if inspect.isawaitable(base):
            base = await base
        if not base:
            base = server_role_scopes(spawner)
        return sorted({*base, SELF_STOP_SCOPE})

    return scopes


def server_role_scopes(spawner: Any) -> list[str]:
    """The hub's ``server`` role's scopes (an operator may have changed them with
    ``load_roles``), or its default outside a hub's database."""
    db = getattr(spawner, "db", None)
    if db is not None:
        from jupyterhub import orm

        role = orm.Role.find(db, "server")
        if role is not None:
            return list(role.scopes)
    return list(DEFAULT_SERVER_SCOPES)


def spawner_sections(c: Any, trait: str) -> list[str]:
    """``Spawner`` and every spawner class's config section that sets ``trait`` already (a
    subclass section, e.g. z2jh's ``c.KubeSpawner.environment``, would otherwise replace
    what is set on ``Spawner``)."""
    return ["Spawner"] + [
        section for section in list(c.keys())
        if section != "Spawner" and section.endswith("Spawner") and trait in c[section]
    ]


def add_environment(c: Any, entries: Mapping[str, Any]) -> None:
    """Add ``entries`` to ``Spawner.environment`` and to every spawner class's
    ``environment`` already configured."""
    for section in spawner_sections(c, "environment"):
        c[section].environment.update(entries)
