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
from traitlets import Bool, Dict, Int, TraitType, Unicode, default
from traitlets.config import Application

from .. import __version__, knobs
from .companion import run_companion
from .options import Options, defaults, help_of, minimum

DEFAULTS = defaults()


def option(name: str) -> TraitType:
    """The trait of one companion option: its default, help and bounds from ``Options``."""
    value, help = DEFAULTS[name], help_of(name)
    if isinstance(value, bool):
        trait: TraitType = Bool(value, help=help)
    elif isinstance(value, int):
        trait = Int(value, min=minimum(name), help=help)
    elif isinstance(value, dict):
        trait = Dict(value_trait=Int(min=0), help=help)
    else:
        trait = Unicode(value, help=help)
    return trait.tag(config=True)


class CullHub(Application):
    """Stop JupyterHub servers at their max age (and, optionally, when idle)."""

    name = "jupyter-cull-hub"
    version = __version__
    description = __doc__

    url = Unicode(help="""
        The JupyterHub API URL. Defaults to $JUPYTERHUB_API_URL (set for managed services),
        else http://127.0.0.1:8081/hub/api.""").tag(config=True)
    max_age = option("max_age")
    group_max_age = option("group_max_age")
    timeout = option("timeout")
    server_grace = option("server_grace")
    cull_every = option("cull_every")
    concurrency = option("concurrency")
    api_page_size = option("api_page_size")
    dry_run = option("dry_run")
    once = option("once")
    remove_named_servers = option("remove_named_servers")
    cull_default_servers = option("cull_default_servers")
    cull_named_servers = option("cull_named_servers")
    ssl_enabled = option("ssl_enabled")
    internal_certs_location = option("internal_certs_location")
    config_file = Unicode("jupyter_cull_hub_config.py", help="""
        Config file to load (if it exists).""").tag(config=True)

    aliases = {
        **{name.replace("_", "-"): f"CullHub.{name}" for name in DEFAULTS},
        "config": "CullHub.config_file",
        "log-level": "CullHub.log_level",
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
        options = Options(**{name: getattr(self, name) for name in DEFAULTS})
        try:
            limits = options.limits()
        except knobs.ConfigError as e:
            self.log.critical("Invalid configuration: %s", e)
            sys.exit(1)
        if limits.is_empty():
            self.log.critical("Nothing to enforce: set --max-age, --group-max-age or "
                              "--timeout.")
            sys.exit(1)
        self.log.info(
            "Max age %s s%s%s%s; hub %s; scopes needed: %s.", limits.max_age,
            "".join(f", group {g!r}: {s} s" for g, s in limits.group_max_age),
            f" (acting {limits.server_grace} s after it)" if limits.server_grace else "",
            f", idle timeout {limits.timeout} s" if limits.timeout else "", self.url,
            ", ".join(limits.scopes))
        try:
            ok = asyncio.run(run_companion(self.url, token, options, logger=self.log))
        except KeyboardInterrupt:
            ok = True
        sys.exit(0 if ok else 1)


main = CullHub.launch_instance
