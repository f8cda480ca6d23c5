"""Our configurable settings (class ``CullExt``), their defaults and their validation.

Kept apart from the wiring in ``app.py``: this is what an operator sets, and what
``traitdocs`` turns into docs/configuration.md. An invalid value raises ``TraitError`` naming
the trait and the value (``app.fatal`` then stops the server with that message).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

from traitlets import Bool, Float, Int, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from . import knobs, timeutil
from .activity import DEFAULT_COUNTED_REQUESTS
from .hubenv import ENV_MAX_AGE, ENV_STARTED

#: Most older server log files that may be kept.
MAX_LOG_BACKUPS = 100


def _seconds_trait(default_value: int, help: str) -> Int:
    return Int(default_value, help=help).tag(config=True)


class CullTraits(Configurable):
    """The settings of ``CullExt`` (configured as ``c.CullExt.<name>``)."""

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
    cull_busy_terminals = Bool(False, help="""
        Cull terminals in which a command is running (its foreground process is not the
        shell). Off by default: a command that runs is real work (``python train.py >
        out.log`` prints nothing for hours), so such a terminal is neither culled nor idle
        for the server, like a busy kernel (see ``cull_busy``). A command that only waits
        for the keyboard (``read``, ``input()``, ``less``, ``vi``, ``top``) is waiting for a
        person, not work, and does not count.""").tag(config=True)
    process_cpu_threshold = Float(0.1, help="""
        Processes started from this server that are neither kernels nor terminals (detached
        jobs, background jobs, apps behind jupyter-server-proxy) count as activity at each
        sample in which one of them used more than this many CPU cores on average (0.1 = a
        tenth of one core). A process that merely exists (``nohup sleep 1000 &``, an idle
        daemon) never counts. 0 turns process sampling off.""").tag(config=True)
    process_sample_interval = Float(5.0, help="""
        Seconds between samples of this server's processes' CPU use (at least 1): the
        server's idle time starts within this long after a background job ends.
        """).tag(config=True)
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
    keepalive_owner_only = Bool(False, help="""
        Refuse keep-alive requests (403) from anyone but the server's owner
        ($JUPYTERHUB_USER). Under JupyterHub sharing, guests with access to the server may
        otherwise keep it up too (within keepalive_max, never past max age); their requests
        are logged with their name either way. Has no effect outside JupyterHub.
        """).tag(config=True)
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
        mode 0600; empty disables it. Only a regular file owned by the server's user is
        written: a symlink, FIFO or someone else's file there is left alone (said once in
        the log) and the server runs without it. Each line names the server (hub user and
        server name, or host) and pid, so servers sharing a home can share the file safely.
        When the server's own output already goes to this file (repo2docker's start script),
        nothing is added.""").tag(config=True)
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

    @validate("process_cpu_threshold", "process_sample_interval")
    def _sampling(self, proposal: Any) -> float:
        name, value = proposal["trait"].name, proposal["value"]
        low = 1.0 if name == "process_sample_interval" else 0.0
        if not low <= value <= knobs.MAX_SECONDS:
            raise TraitError(f"CullExt.{name} must be a number from {low:g} to "
                             f"{knobs.MAX_SECONDS}, not {value!r}")
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
