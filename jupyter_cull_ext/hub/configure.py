"""``configure(c, ...)``: the whole hub side in one call from ``jupyterhub_config.py``.

It registers the companion as a managed service (``python -m jupyter_cull_ext.hub ...``), a
role granting that service exactly the scopes it needs, and two callable
``Spawner.environment`` entries so that every server knows its own max age and when it was
requested (JupyterHub sets ``orm_spawner.started`` before it calls ``Spawner.start``, which
builds the environment). The server extension then shows the max-age deadline in
``api/cull/status`` from the start, warns before it, and stops itself at it; the companion
stops it from the hub side too, in case it cannot.

Runs inside the hub process: it imports nothing from jupyterhub or jupyter_server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ..hubenv import ENV_MAX_AGE, ENV_STARTED
from .hubapi import PAGE_SIZE
from .rules import Policy

SERVICE_NAME = "jupyter-cull-hub"


def configure(
    c: Any,
    max_age: int = 0,
    *,
    groups: Mapping[str, int] | Iterable[tuple[str, int]] | None = None,
    timeout: int = 0,
    cull_every: int = 0,
    concurrency: int = 10,
    api_page_size: int = PAGE_SIZE,
    remove_named_servers: bool = False,
    cull_default_servers: bool = True,
    cull_named_servers: bool = True,
    dry_run: bool = False,
    name: str = SERVICE_NAME,
    api_token: str | None = None,
    managed: bool = True,
    register: bool = True,
    tell_servers: bool = True,
) -> dict:
    """Register the companion service, its role and the servers' environment on ``c``.

    ``max_age`` (seconds, 0 = none) applies to users in none of ``groups``, an ordered
    mapping (or pairs) of JupyterHub group name to max age: a user's first group in that order
    decides. ``timeout`` adds jupyterhub-idle-culler's idle failsafe (0 = off). The other
    arguments are the command-line flags of the same names (see ``docs/hub.md``).

    ``api_token`` also registers a token for the service (to run it yourself with
    ``managed=False``). ``register=False`` adds neither service nor role (declared elsewhere,
    e.g. z2jh's ``hub.services`` and ``hub.loadRoles``). ``tell_servers=False`` (implied by
    ``dry_run``, since servers enforce their max age themselves) passes nothing to the
    servers. Call it after your own ``Spawner.environment`` settings: entries are added to
    those already configured. Returns the service's specification (the dict added to
    ``c.JupyterHub.services``, or that would have been).
    """
    policy = Policy.create(max_age, groups, timeout, cull_default_servers, cull_named_servers)
    if policy.is_empty():
        raise ValueError("configure(): nothing to enforce; give max_age, groups or timeout")
    if register and not managed and not api_token:
        raise ValueError("configure(managed=False) needs an api_token for the service")

    service: dict[str, Any] = {"name": name}
    if managed:
        service["command"] = [sys.executable, "-m", "jupyter_cull_ext.hub",
                              *command_args(policy, cull_every=cull_every,
                                            concurrency=concurrency,
                                            api_page_size=api_page_size,
                                            remove_named_servers=remove_named_servers,
                                            dry_run=dry_run)]
    if api_token:
        service["api_token"] = api_token
    if register:
        c.JupyterHub.services.append(service)
        c.JupyterHub.load_roles.append({
            "name": name,
            "description": "jupyter-cull-ext companion: list users, read and stop servers",
            "scopes": list(policy.scopes),
            "services": [name],
        })
    if tell_servers and not dry_run:
        add_environment(c, server_environment(policy))
    return service


def command_args(policy: Policy, **options: Any) -> list[str]:
    """The companion's command-line flags for ``policy`` and non-default ``options``."""
    args = [f"--max-age={policy.max_age}"]
    args += [f"--group-max-age={group}={seconds}" for group, seconds in policy.group_max_age]
    if policy.timeout:
        args.append(f"--timeout={policy.timeout}")
    if not policy.cull_default_servers:
        args.append("--cull-default-servers=False")
    if not policy.cull_named_servers:
        args.append("--cull-named-servers=False")
    defaults = {"cull_every": 0, "concurrency": 10, "api_page_size": PAGE_SIZE,
                "remove_named_servers": False, "dry_run": False}
    for option, value in options.items():
        if value != defaults[option]:
            args.append(f"--{option.replace('_', '-')}={value}")
    return args


def server_environment(policy: Policy) -> dict[str, Any]:
    """Callable ``Spawner.environment`` entries: the server's max age (by its user's groups
    at spawn time) and its hub ``started`` time, exactly as the REST API shows it."""

    def max_age(spawner: Any) -> str:
        groups = [group.name for group in spawner.user.groups]
        return str(policy.server_max_age(spawner.name, groups))

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


def add_environment(c: Any, entries: Mapping[str, Any]) -> None:
    """Add ``entries`` to ``Spawner.environment`` and to every spawner class's
    ``environment`` already configured (a subclass section, e.g. z2jh's
    ``c.KubeSpawner.environment``, would otherwise replace the ``Spawner`` one)."""
    sections = ["Spawner"] + [
        section for section in list(c.keys())
        if section != "Spawner" and section.endswith("Spawner") and "environment" in c[section]
    ]
    for section in sections:
        c[section].environment.update(entries)
