"""``jupyter-cull-hub`` / ``python -m jupyter_cull_ext.hub``: the companion as a command.

Flag names are jupyterhub-idle-culler's wherever the meaning is the same, so a hub can switch
by changing the command. The token comes from ``$JUPYTERHUB_API_TOKEN`` (set by JupyterHub
for a managed service), never from the command line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from tornado.log import LogFormatter
from traitlets import Bool, Dict, Int, Unicode, default
from traitlets.config import Application

from .. import __version__, knobs
from .companion import cull_max_age
from .hubapi import PAGE_SIZE
from .rules import Policy


def _seconds(default_value: int, help: str) -> Int:
    return Int(default_value, min=0, help=help).tag(config=True)


class CullHub(Application):
    """Stop JupyterHub servers at their max age (and, optionally, when idle)."""

    name = "jupyter-cull-hub"
    version = __version__
    description = __doc__

    url = Unicode(help="""
        The JupyterHub API URL. Defaults to $JUPYTERHUB_API_URL (set for managed services),
        else http://127.0.0.1:8081/hub/api.""").tag(config=True)
    max_age = _seconds(0, """
        The maximum age (in seconds) of servers, counted from when the hub was asked to start
        them (`started`); they are stopped at that moment even if they are active. 0: no max
        age (unless a group has one).""")
    group_max_age = Dict(value_trait=Int(min=0), help="""
        Max age (seconds) by JupyterHub group, e.g. --group-max-age students=28800
        --group-max-age staff=604800. The first group in this order that a user belongs to
        decides; users in none of them get --max-age. Needs scope read:users:groups.
        """).tag(config=True)
    timeout = _seconds(0, """
        The idle timeout (in seconds): also stop servers whose hub `last_activity` is older
        than this (jupyterhub-idle-culler's --timeout, for servers without our extension).
        0 (the default, unlike idle-culler's 600): off.""")
    cull_every = _seconds(0, """
        The interval (in seconds) between sweeps that discover new servers and policy changes.
        Servers are stopped at their deadlines whatever this is. 0: a quarter of the shortest
        max age or timeout, between 1 and 300.""")
    concurrency = Int(10, min=1, help="""
        Limit the number of concurrent requests made to the Hub.""").tag(config=True)
    api_page_size = Int(PAGE_SIZE, min=0, help="""
        Number of users to request per page of the user list (the hub caps it at its
        api_page_max_limit, 200 by default). 0: the hub's default page size (50).""").tag(
        config=True)
    dry_run = Bool(False, help="""
        Log what would be stopped, and stop nothing.""").tag(config=True)
    once = Bool(False, help="""
        Make one pass, stopping what is due now, and exit: status 0 if every request
        succeeded, 1 otherwise.""").tag(config=True)
    remove_named_servers = Bool(False, help="""
        Remove named servers in addition to stopping them.""").tag(config=True)
    cull_default_servers = Bool(True, help="""
        Whether default servers should be culled.""").tag(config=True)
    cull_named_servers = Bool(True, help="""
        Whether named servers should be culled.""").tag(config=True)
    ssl_enabled = Bool(False, help="""
        Whether the Jupyter API endpoint has TLS enabled (JupyterHub internal_ssl).""").tag(
        config=True)
    internal_certs_location = Unicode("internal-ssl", help="""
        The location of generated internal-ssl certificates (only needed with
        --ssl-enabled=true).""").tag(config=True)
    config_file = Unicode("jupyter_cull_hub_config.py", help="""
        Config file to load (if it exists).""").tag(config=True)

    aliases = {
        "api-page-size": "CullHub.api_page_size",
        "concurrency": "CullHub.concurrency",
        "config": "CullHub.config_file",
        "cull-default-servers": "CullHub.cull_default_servers",
        "cull-every": "CullHub.cull_every",
        "cull-named-servers": "CullHub.cull_named_servers",
        "dry-run": "CullHub.dry_run",
        "group-max-age": "CullHub.group_max_age",
        "internal-certs-location": "CullHub.internal_certs_location",
        "log-level": "CullHub.log_level",
        "max-age": "CullHub.max_age",
        "once": "CullHub.once",
        "remove-named-servers": "CullHub.remove_named_servers",
        "ssl-enabled": "CullHub.ssl_enabled",
        "timeout": "CullHub.timeout",
        "url": "CullHub.url",
    }
    flags = {
        "dry-run": ({"CullHub": {"dry_run": True}}, "Log what would be stopped; stop nothing."),
        "once": ({"CullHub": {"once": True}}, "One pass, then exit (status 0: success)."),
    }

    _log_formatter_cls = LogFormatter

    @default("url")
    def _url_from_env(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL") or "http://127.0.0.1:8081/hub/api"

    @default("log_level")
    def _log_level_default(self) -> int:
        return logging.INFO

    @default("log_datefmt")
    def _log_datefmt_default(self) -> str:
        return "%Y-%m-%d %H:%M:%S"

    @default("log_format")
    def _log_format_default(self) -> str:
        return ("%(color)s[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s]%(end_color)s "
                "%(message)s")

    def initialize(self, argv=None) -> None:
        super().initialize(argv)
        if self.config_file and os.path.exists(self.config_file):
            self.load_config_file(self.config_file)

    def start(self) -> None:
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        if not token:
            self.log.critical("$JUPYTERHUB_API_TOKEN is not set.")
            sys.exit(1)
        try:
            policy = Policy.create(self.max_age, self.group_max_age, self.timeout,
                                   self.cull_default_servers, self.cull_named_servers)
        except knobs.ConfigError as e:
            self.log.critical("Invalid configuration: %s", e)
            sys.exit(1)
        if policy.is_empty():
            self.log.critical("Nothing to enforce: set --max-age, --group-max-age or "
                              "--timeout.")
            sys.exit(1)
        self.log.info(
            "Max age %s s%s%s; hub %s; scopes needed: %s.", policy.max_age,
            "".join(f", group {g!r}: {s} s" for g, s in policy.group_max_age),
            f", idle timeout {policy.timeout} s" if policy.timeout else "", self.url,
            ", ".join(policy.scopes))
        try:
            ok = asyncio.run(self._run(token, policy))
        except KeyboardInterrupt:
            ok = True
        sys.exit(0 if ok else 1)

    async def _run(self, token: str, policy: Policy) -> bool:
        return await cull_max_age(
            self.url, token, self.max_age, group_max_age=self.group_max_age,
            timeout=self.timeout, cull_every=self.cull_every,
            concurrency=self.concurrency, api_page_size=self.api_page_size,
            dry_run=self.dry_run, once=self.once,
            remove_named_servers=self.remove_named_servers,
            cull_default_servers=self.cull_default_servers,
            cull_named_servers=self.cull_named_servers, ssl_enabled=self.ssl_enabled,
            internal_certs_location=self.internal_certs_location, logger=self.log)


main = CullHub.launch_instance
