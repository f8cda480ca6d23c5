"""The jupyter_server extension: configuration and wiring.

At *link* time (before jupyter_server creates its kernel and terminal managers) our traits
are resolved against the standard knobs and pushed into the server's config, so the live
managers carry the effective values. At *load* time the activity model is attached to the
web application: finished requests are classified, and ``web_app.last_activity()`` is
replaced by the refined value, so ``/api/status``, jupyter_server's own idle check and hub
reports all agree with our deadlines. At *start* the enforcer's timer begins.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, List, TraitError, Unicode, default, validate

from . import gateway, knobs, metrics, patches, policy, serverlog, timeutil
from .activity import DEFAULT_COUNTED_REQUESTS, ActivityTracker, RequestClassifier
from .announce import Announcer
from .enforce import Enforcer
from .handlers import default_handlers
from .hubenv import ENV_MAX_AGE, ENV_STARTED
from .hubreport import HubReporter, env_interval, reporter_from_env
from .knobs import LIMITS
from .live import Limits, LiveServer
#: Most older server log files that may be kept.
MAX_LOG_BACKUPS = 100


def fatal(stage: str) -> Callable:
    """Stop the server, saying why, when this stage of our startup fails.

    jupyter_server logs an extension that fails to link, load or start and runs on without
    it: a server that nobody culls, whose hub hears no activity (and whose users a hub-side
    culler then stops mid-work). An invalid setting or a fault at any stage ends the process
    with status 1 and one line naming the stage and the cause instead."""

    def die(app: Any, e: Exception) -> None:
        if isinstance(e, (TraitError, knobs.ConfigError)):
            message = f"invalid configuration: {e}"
        else:
            message = f"could not start culling ({stage}): {type(e).__name__}: {e}"
        log = app.serverapp.log if getattr(app, "serverapp", None) else app.log
        log.critical("jupyter_cull_ext: %s", message, exc_info=not message.startswith("inv"))
        print(f"jupyter_cull_ext: {message}", file=sys.stderr, flush=True)
        sys.exit(1)

    def wrap(method: Callable) -> Callable:
        if asyncio.iscoroutinefunction(method):
            @functools.wraps(method)
            async def run_async(self: Any, *args: Any) -> Any:
                try:
                    return await method(self, *args)
                except Exception as e:
                    die(self, e)
            return run_async

        @functools.wraps(method)
        def run(self: Any, *args: Any) -> Any:
            try:
                return method(self, *args)
            except Exception as e:
                die(self, e)
        return run

    return wrap


def _seconds_trait(default_value: int, help: str) -> Int:
    return Int(default_value, help=help).tag(config=True)


class CullExt(ExtensionApp):
    """Culling that counts only a person or real work, enforced at its deadlines."""

    name = "jupyter_cull_ext"

    kernel_idle_timeout = _seconds_trait(3600, """
        Seconds a kernel may stay idle (no execution, completion, inspection or comm traffic)
        before it is shut down; 0 disables kernel culling. Default for
        MappingKernelManager.cull_idle_timeout, which wins when set explicitly. A kernelspec's
        metadata.cull_idle_timeout overrides it for that kernel. If longer than the server
        idle timeout (and not set explicitly), it is lowered to it.""")
    kernel_cull_interval = _seconds_trait(60, """
        Seconds between jupyter_server's own kernel-culling sweeps, which we keep only as a
        backstop: kernels are culled at their deadline, not on this sweep. Default for
        MappingKernelManager.cull_interval. Lowered to the kernel idle timeout if longer.""")
    cull_busy = Bool(False, help="""
        Cull kernels that are busy (running code). Off by default: a busy kernel is doing real
        work, and counts as activity for the kernel and the server for as long as it is busy.
        Default for MappingKernelManager.cull_busy.""").tag(config=True)
    cull_connected = Bool(True, help="""
        Cull idle kernels even while a client is connected. On by default because JupyterLab
        keeps a kernel's websocket open for as long as its notebook is open, so with False no
        notebook kernel of an open (even unattended) tab would ever be culled. Default for
        MappingKernelManager.cull_connected.""").tag(config=True)
    terminal_idle_timeout = _seconds_trait(3600, """
        Seconds a terminal may go without input or output before it is closed; 0 disables
        terminal culling. Default for TerminalManager.cull_inactive_timeout. If longer than
        the server idle timeout (and not set explicitly), it is lowered to it.""")
    terminal_cull_interval = _seconds_trait(60, """
        Seconds between jupyter_server_terminals' own culling sweeps (a backstop; terminals
        are closed at their deadline). Default for TerminalManager.cull_interval.""")
    server_idle_timeout = _seconds_trait(3600, """
        Seconds the server may go without any activity that counts (a person or real work;
        a busy kernel is activity) before it shuts itself down, kernels and terminals with
        it; 0 never stops it for idleness. Unlike jupyter_server's own rule, an idle kernel
        does not keep the server up. Default for ServerApp.shutdown_no_activity_timeout,
        which wins when set explicitly.""")
    warn_before = _seconds_trait(600, """
        Seconds before a server stop (idle or max age) that users are warned (status
        `warn_at`). Lowered to half the server idle timeout or max age if not shorter.""")
    keepalive_max = _seconds_trait(86400, """
        Longest keep-alive (seconds) a user may request through POST api/cull/keepalive; a
        keep-alive keeps the server, its kernels and terminals up until it ends but never
        moves the max-age deadline. 0 disables keep-alive.""")
    max_age = Int(help=f"""
        Seconds after `server_started` at which the server stops however active it is; 0
        means no max age. Defaults to ${ENV_MAX_AGE} (set by the hub companion).""").tag(
        config=True)
    server_started = Unicode(help=f"""
        When this server was requested (ISO 8601 with a timezone), the start of its max age.
        Defaults to ${ENV_STARTED} (the hub's `started`, passed by the hub companion), else
        the moment this server started.""").tag(config=True)
    hub_activity_interval = Int(None, allow_none=True, help="""
        Seconds between activity reports to JupyterHub while the server is active (±10 %
        jitter); nothing is reported while idle, and the first activity after a quiet
        period is reported within seconds. Defaults to $JUPYTERHUB_ACTIVITY_INTERVAL, else
        300; 0 turns reporting off, as in jupyterhub-singleuser (the hub then sees no activity
        from this server). Reporting is on only under JupyterHub ($JUPYTERHUB_ACTIVITY_URL
        set).""").tag(
        config=True)
    counted_requests = List(Unicode(), default_value=list(DEFAULT_COUNTED_REQUESTS), help="""
        Requests that count as a person doing something: regular expressions matched against
        "METHOD path", path relative to base_url (e.g. "POST api/contents(/.*)?"). Background
        polls (GETs) should not be listed: an unattended tab would keep the server alive.
        """).tag(config=True)
    server_log_path = Unicode("~/.jupyter-server-log.txt", help="""
        File that gets everything the server and its extensions log, timestamped, with
        tokens and other secrets masked, including one line per culling decision with its
        reason: where hub users and admins look. `~` is the server's $HOME. Created with
        mode 0600; empty disables it. When the server's own output already goes to this file
        (repo2docker's start script), nothing is added.""").tag(config=True)
    server_log_max_bytes = Int(2 * 1024 * 1024, help="""
        Size in bytes the server log file never exceeds (at least 1024): before a line would
        take it past this, it becomes <file>.1 and a new file is started. There is no
        unlimited setting, so a chatty server cannot fill a home quota.""").tag(config=True)
    server_log_backups = Int(1, help="""
        Older server log files kept (<file>.1 is the newest); 0 keeps none (the file is
        emptied when full). Together they take at most (1 + this) x server_log_max_bytes.
        """).tag(config=True)

    @default("max_age")
    def _max_age_from_env(self) -> int:
        raw = os.environ.get(ENV_MAX_AGE, "").strip()
        if not raw:
            return 0
        try:
            return knobs.seconds(f"{ENV_MAX_AGE} (CullExt.max_age)", raw)
        except knobs.ConfigError as e:
            raise TraitError(str(e)) from None

    @default("server_started")
    def _started_from_env(self) -> str:
        raw = os.environ.get(ENV_STARTED, "").strip()
        if raw:  # checked here too, so that an error names the variable the hub set
            parse_started(raw, f"{ENV_STARTED} (CullExt.server_started)")
        return raw

    @validate(
        "kernel_idle_timeout", "kernel_cull_interval", "terminal_idle_timeout",
        "terminal_cull_interval", "server_idle_timeout", "warn_before", "keepalive_max",
        "max_age", "hub_activity_interval",
    )
    def _non_negative(self, proposal: Any) -> int:
        name, value = proposal["trait"].name, proposal["value"]
        if value is not None:
            try:
                knobs.seconds(f"CullExt.{name}", value)
            except knobs.ConfigError as e:
                raise TraitError(str(e)) from None
        return value

    @validate("server_log_max_bytes", "server_log_backups")
    def _log_sizes(self, proposal: Any) -> int:
        name, value = proposal["trait"].name, proposal["value"]
        low = 1024 if name == "server_log_max_bytes" else 0
        if value < low:
            raise TraitError(f"CullExt.{name} must be at least {low}, not {value}")
        if name == "server_log_backups" and value > MAX_LOG_BACKUPS:
            # Rotation renames every backup in turn, on the event loop: millions of them
            # (a typo) would stall the server, culling included, at the first rotation.
            raise TraitError(f"CullExt.{name} must be at most {MAX_LOG_BACKUPS}, not {value}")
        return value

    @validate("server_started")
    def _iso_time(self, proposal: Any) -> str:
        value = proposal["value"]
        if value:
            parse_started(value)
        return value

    @validate("counted_requests")
    def _regexes(self, proposal: Any) -> list[str]:
        value = proposal["value"]
        if len(value) == 1 and value[0].strip().startswith("[") and value[0].strip().endswith("]"):
            # `--CullExt.counted_requests='["a", "b"]'` arrives as one string on the command
            # line; taken as one pattern it would silently match nothing.
            raise TraitError(
                f"CullExt.counted_requests={value[0]!r} looks like a list in one string; "
                "give each pattern as its own --CullExt.counted_requests=... or use a config "
                "file")
        for pattern in value:
            try:
                re.compile(pattern)
            except Exception as e:  # re.error, and RecursionError or OverflowError too
                raise TraitError(
                    f"CullExt.counted_requests: {pattern!r} is not a regular expression: {e}"
                ) from None
        return proposal["value"]

    # --- link: resolve and push config ---------------------------------------------------

    @fatal("link")
    def _link_jupyter_server_extension(self, serverapp: Any) -> None:
        super()._link_jupyter_server_extension(serverapp)
        self.server_log = serverlog.start(self.server_log_path, self.server_log_max_bytes,
                                          self.server_log_backups, serverapp, self.log)
        resolution = self._resolve(serverapp)
        if self.hub_activity_interval is None:  # from the hub's environment: check now
            env_interval(dict(os.environ))
        serverapp.update_config(resolution.push)
        for message in resolution.messages:
            serverapp.log.warning("jupyter_cull_ext: %s", message)
        self.limits = Limits(**{name: resolution.values[name] for name in LIMITS},
                             started=self.started)
        patches.install_at_link(self)

    def _resolve(self, serverapp: Any) -> knobs.Resolution:
        kernel_sections = kernel_config_sections(serverapp.config)
        ours = {k: getattr(self, k) for k in self.class_own_traits(config=True)}
        ours_explicit = set(serverapp.config.get("CullExt", {})) | set(
            self.config.get("CullExt", {})
        )
        self.started = parse_started(self.server_started) if self.server_started else None
        resolution = knobs.resolve(serverapp.config, ours, ours_explicit,
                                   knobs.standard_knobs(kernel_sections))
        now = timeutil.utcnow()
        if self.started is not None and self.started > now:
            # A hub whose clock runs ahead: counted from then, max age would run longer
            # than configured. Like every adjustment, never keep anything up longer.
            resolution.messages.append(
                f"CullExt.server_started ({self.server_started}) is in the future (clock "
                f"skew?); counting max age from now ({timeutil.isoformat(now)}).")
            self.started = now
        return resolution

    # --- load: attach to the web application ---------------------------------------------

    @fatal("load")
    def initialize_settings(self) -> None:
        web_app = self.serverapp.web_app
        if self.limits.started is None:  # outside a hub: max age counts from now
            self.limits = dataclasses.replace(self.limits, started=web_app.settings["started"])
        self.tracker = ActivityTracker(web_app.settings["started"])
        self.server_log.cover_server(self.serverapp)
        self.events = serverlog.CullEvents(self.serverapp.event_logger, self.log)
        self.live = LiveServer(self.serverapp, self.tracker, self.limits, self.log)
        self.enforcer = Enforcer(self.live, self.tracker, Announcer(self.log, self.events.emit))
        self.live.gateway = gateway.watcher(self.serverapp, self.log, self.enforcer.decide)
        self.classifier = RequestClassifier(self.serverapp.base_url, self.counted_requests)
        patches.install_at_load(self)
        self.settings["jupyter_cull_ext"] = self

    @fatal("load")
    def initialize_handlers(self) -> None:
        self.handlers.extend(default_handlers)

    def hub_status(self) -> dict:
        """The ``hub`` part of the status document."""
        if self.reporter is None:
            return {"reporting": False, "interval": None, "last_report": None,
                    "last_report_ok": None, "last_error": None}
        return self.reporter.status()

    def gateway_status(self, now: datetime) -> dict | None:
        """The ``gateway`` part of the status document (None when kernels are local)."""
        return self.live.gateway.status(now) if self.live.gateway is not None else None

    # --- start / stop --------------------------------------------------------------------

    reporter: HubReporter | None = None

    @fatal("start")
    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        self.server_log.cover_server(serverapp)  # again: loggers reconfigured since load
        self.enforcer.start()
        if self.live.gateway is not None:
            self.live.gateway.timer.start()
        metrics.watch(self.enforcer.decide)
        self.reporter = reporter_from_env(
            dict(os.environ), self.hub_activity_interval, self.live.last_activity,
            self.log, on_event=self.events.emit,
            already_known=self.tracker.times()[policy.SERVER_START])
        if self.reporter is None and os.environ.get("JUPYTERHUB_ACTIVITY_URL"):
            self.log.info("jupyter_cull_ext: reporting activity to JupyterHub is off "
                          "(interval 0); the hub sees no activity from this server.")
        elif self.reporter is None:
            self.log.info("jupyter_cull_ext: not running under JupyterHub "
                          "($JUPYTERHUB_ACTIVITY_URL unset); not reporting activity.")
        else:
            self.tracker.listeners.append(self.reporter.poke)
            self.tracker.clock.listeners.append(self.reporter.clock_jumped)
            self.reporter.start()
            self.log.info("jupyter_cull_ext: reporting activity to JupyterHub at most every "
                          "%s s while active, never while idle.", self.reporter.interval)
        patches.install_at_start(self)
        s = self.live.settings()
        self.log.info(
            "jupyter_cull_ext: kernels idle %s s%s%s, terminals %s s, server idle %s s, "
            "warn %s s before, keep-alive up to %s s%s.",
            s.kernel_timeout, " (busy ones too)" if s.cull_busy else "",
            "" if s.cull_connected else " (not while connected)", s.terminal_timeout,
            s.server_timeout, s.warn_before, s.keepalive_max,
            f", max age {s.max_age} s from {s.started.isoformat()}" if s.max_age else "",
        )

    async def stop_extension(self) -> None:
        # getattr: a failed load must not also block the server's shutdown.
        live = getattr(self, "live", None)
        for part in (getattr(self, "enforcer", None), self.reporter, live and live.gateway
                     and live.gateway.timer):
            if part is not None:
                part.stop()


def kernel_config_sections(config: Any) -> tuple[str, ...]:
    """Config sections an operator may set the kernel culling knobs in, most general first.

    The live kernel manager class is not known yet at link time (it depends on gateway
    config), so take the standard ones plus an explicitly configured class.
    """
    sections = ["MappingKernelManager", "AsyncMappingKernelManager"]
    configured = config.get("ServerApp", {}).get("kernel_manager_class")
    if configured:
        name = configured if isinstance(configured, str) else configured.__name__
        name = name.rsplit(".", 1)[-1]
        if name not in sections:
            sections.append(name)
    return tuple(sections)


def parse_started(value: str, label: str = "CullExt.server_started") -> datetime:
    """An ISO 8601 time with a timezone (``Z`` allowed); errors name ``label``."""
    try:
        when = timeutil.parse(value, naive_is_utc=False)
    except ValueError as e:
        what = "has no timezone" if "no timezone" in str(e) else "is not an ISO 8601 time"
        raise TraitError(f"{label}={value!r} {what}") from None
    if abs((when - timeutil.utcnow()).total_seconds()) > knobs.MAX_SECONDS:
        # Certainly wrong, and near year 9999 the max-age deadline overflows datetime: every
        # decision (status, culling) would fail for as long as the server runs.
        raise TraitError(f"{label}={value!r} is more than ten years from now")
    return when
