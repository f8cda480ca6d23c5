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
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import PeriodicCallback
from traitlets import TraitError

from . import gateway, knobs, metrics, patches, policy, procs, serverlog, timeutil
from .activity import ActivityTracker, RequestClassifier
from .announce import Announcer
from .enforce import Enforcer
from .events import CullEvents
from .handlers import default_handlers
from .hubreport import HubReporter, env_interval, reporter_from_env
from .hubstop import hub_stop_from_env
from .knobs import LIMITS
from .live import Limits, LiveServer
from .traits import MAX_LOG_BACKUPS, CullTraits, parse_started

__all__ = ["MAX_LOG_BACKUPS", "CullExt", "fatal"]


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


class CullExt(ExtensionApp, CullTraits):
    """Culling that counts only a person or real work, enforced at its deadlines."""

    name = "jupyter_cull_ext"

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
                             started=self.started,
                             cull_busy_terminals=self.cull_busy_terminals)
        # Now, so that every process the server starts inherits the marker.
        self.process_watch = (procs.ProcessWatch(self.process_cpu_threshold)
                              if self.process_cpu_threshold > 0 else None)
        patches.install_at_link(self)

    def _resolve(self, serverapp: Any) -> knobs.Resolution:
        kernel_sections = kernel_config_sections(serverapp.config)
        ours = {k: getattr(self, k) for k in CullTraits.class_own_traits(config=True)}
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
        self.events = CullEvents(self.serverapp.event_logger, self.log)
        self.live = LiveServer(self.serverapp, self.tracker, self.limits, self.log)
        self.enforcer = Enforcer(self.live, self.tracker, Announcer(self.log, self.events.emit))
        self.live.gateway = gateway.watcher(self.serverapp, self.log, self.enforcer.decide)
        self.classifier = RequestClassifier(self.serverapp.base_url, self.counted_requests)
        patches.install_at_load(self)
        self.settings["jupyter_cull_ext"] = self

    @fatal("load")
    def initialize_handlers(self) -> None:
        self.handlers.extend(default_handlers)

    def hub_status(self) -> dict | None:
        """The hub reporter's status for the status document (None: no reporter)."""
        return self.reporter.status() if self.reporter is not None else None

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
        self.enforcer.ask_hub = hub_stop_from_env(os.environ, self.log)
        patches.install_at_start(self)
        if self.process_watch is not None:
            self._sampler = PeriodicCallback(self._sample_processes,
                                             self.process_sample_interval * 1000)
            self._sampler.start()
        s = self.live.settings()
        self.log.info(
            "jupyter_cull_ext: kernels idle %s s%s%s, terminals %s s, server idle %s s, "
            "warn %s s before, keep-alive up to %s s%s.",
            s.kernel_timeout, " (busy ones too)" if s.cull_busy else "",
            "" if s.cull_connected else " (not while connected)", s.terminal_timeout,
            s.server_timeout, s.warn_before, s.keepalive_max,
            f", max age {s.max_age} s from {s.started.isoformat()}" if s.max_age else "",
        )

    _sampler: PeriodicCallback | None = None
    _sampled_at = datetime.min.replace(tzinfo=timezone.utc)  # the last process sample

    def _sample_processes(self) -> None:
        """One sample of this server's other processes; never raises into the loop."""
        try:
            now = self.tracker.now()
            latest = max(self.tracker.times().values())
            busy = self.process_watch.sample(self.live.own_pids(),
                                             scan=latest > self._sampled_at)
            self._sampled_at = now
            self.live.sampled(busy, now)
        except Exception:
            self.log.warning("jupyter_cull_ext: could not sample processes", exc_info=True)

    async def stop_extension(self) -> None:
        # getattr: a failed load must not also block the server's shutdown.
        live = getattr(self, "live", None)
        for part in (getattr(self, "enforcer", None), self.reporter, self._sampler,
                     live and live.gateway and live.gateway.timer):
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
