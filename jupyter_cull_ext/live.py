"""Reading the running server: effective settings and a snapshot of facts for the policy.

Everything the policy decides on comes from here, read afresh at every decision: the live
managers' culling settings (so what the status shows is what they do), each kernel's and
terminal's state and last activity, and the activity tracker's per-source times. The clock
listener here keeps the idle time of live kernels and terminals across wall-clock jumps.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import policy, procs, timeutil
from .activity import ActivityTracker, shifted
from .inputwatch import InputWaits
from .knobs import ConfigError, seconds
from .liveterms import LiveTerminals

#: Seconds between warnings about the same unreadable kernel, terminal or process.
UNREADABLE_EVERY = 600


@dataclass(frozen=True)
class Limits:
    """Our own settings that no standard knob carries, resolved once at startup."""

    warn_before: int = 0
    keepalive_max: int = 0
    max_age: int = 0
    started: datetime | None = None  # when max age starts counting
    cull_busy_terminals: bool = False


class LiveServer:
    """The facts of the running server, as the policy wants them."""

    def __init__(self, serverapp: Any, tracker: ActivityTracker, limits: Limits, log: Any):
        self.serverapp = serverapp
        self.tracker = tracker
        self.limits = limits
        self.log = log
        self.terminals = LiveTerminals(tracker, log)
        self._bad_specs: set[str] = set()
        self.input_waits = InputWaits(tracker)
        self._spec_timeouts: tuple[float, ...] | None = None
        self.processes: tuple[policy.Process, ...] = ()  # busy at the last sample
        self._unreadable: dict[str, datetime] = {}  # what -> when last warned about
        #: Set when kernels run on a gateway (``gateway.GatewayWatcher``).
        self.gateway: Any = None
        tracker.clock.listeners.append(self._clock_jumped)

    @property
    def kernel_manager(self) -> Any:
        return self.serverapp.kernel_manager

    @property
    def terminal_manager(self) -> Any:
        return self.serverapp.web_app.settings.get("terminal_manager")

    def settings(self) -> policy.Settings:
        """Effective settings, read back from the live managers every time."""
        km, tm = self.kernel_manager, self.terminal_manager
        return policy.Settings(
            kernel_timeout=km.cull_idle_timeout,
            cull_busy=km.cull_busy,
            cull_connected=km.cull_connected,
            terminal_timeout=tm.cull_inactive_timeout if tm is not None else 0,
            cull_busy_terminals=self.limits.cull_busy_terminals,
            server_timeout=self.serverapp.shutdown_no_activity_timeout,
            warn_before=self.limits.warn_before,
            keepalive_max=self.limits.keepalive_max,
            max_age=self.limits.max_age,
            started=self.limits.started,
        )

    def decide(self, now: datetime | None = None) -> policy.Decision:
        return policy.decide(self.facts(now), self.settings())

    def last_activity(self) -> datetime:
        """The refined value behind ``web_app.last_activity()``: what ``/api/status``,
        jupyter_server's idle check and hub reports see."""
        when, _source = policy.last_activity(self.facts())
        return when

    def facts(self, now: datetime | None = None) -> policy.Facts:
        """A snapshot of activity, kernels and terminals; live activity is recorded too, so
        it outlives the kernel or terminal it came from."""
        now = now or self.tracker.now()
        kernels = self._kernels(now)
        terminals = self.terminals.read(self.terminal_manager, now)
        self.tracker.record_extensions(self.serverapp.web_app.settings)
        return policy.Facts(
            now=now,
            activity=self.tracker.times(),
            kernels=tuple(kernels),
            terminals=tuple(terminals),
            keepalive_until=self.tracker.keepalive_until,
            processes=self.processes,
            details=dict(self.tracker.details),
        )

    def _kernels(self, now: datetime) -> list[policy.Kernel]:
        km = self.kernel_manager
        default_timeout = km.cull_idle_timeout
        kernels = []
        for kid in list(km.list_kernel_ids()):
            kernel = km._kernels.get(kid)
            if kernel is None:
                continue
            try:
                item = self._kernel(kid, kernel, now, default_timeout)
            except Exception as e:
                self.unreadable(f"kernel {kid}", e, now)
                continue
            if item is None:
                continue
            if item.known:
                self.tracker.record(policy.KERNEL, item.active_at, notify=False)
                if item.working:
                    self.tracker.record(policy.BUSY_KERNEL, now, notify=False)
            kernels.append(item)
        return kernels

    def _kernel(self, kid: str, kernel: Any, now: datetime,
                default_timeout: int) -> policy.Kernel | None:
        """One kernel's facts; None while it is still starting."""
        known = True
        if self.gateway is not None:
            # Remote: the gateway's facts, as jupyter_server's last listing stored them.
            connections = self.kernel_manager._kernel_connections.get(kid, 0)
            known = self.gateway.known(kid, now)
        else:
            try:
                model = self.kernel_manager.kernel_model(kid)
            except Exception:
                # Registered by jupyter_client but not stamped by jupyter_server yet (still
                # starting): left out, as jupyter_server's own list_kernels does.
                self.log.debug("Kernel %s not described yet", kid, exc_info=True)
                return None
            connections = model.get("connections", 0)
        state = getattr(kernel, "execution_state", "starting")
        last = getattr(kernel, "last_activity", now)
        if not isinstance(last, datetime) or last.tzinfo is None:
            raise TypeError(f"last_activity is {last!r}, not a time with a timezone")
        return policy.Kernel(
            id=kid, name=kernel.kernel_name, execution_state=str(state),
            connections=int(connections), last_activity=last,
            timeout=self._kernel_timeout(kernel, default_timeout), known=known,
            waiting_since=self.input_waits.since(kid, str(state)))

    def unreadable(self, what: str, e: Exception, now: datetime) -> None:
        """Leave out one kernel, terminal or process whose facts cannot be read (the rest
        are decided on as usual), saying so at most once per ``UNREADABLE_EVERY``."""
        last = self._unreadable.get(what)
        if last is None or (now - last).total_seconds() >= UNREADABLE_EVERY:
            self._unreadable[what] = now
            self.log.warning("Cannot read the facts of %s (%s: %s); leaving it out of "
                             "culling decisions (said at most every %s).", what,
                             type(e).__name__, e, timeutil.span(UNREADABLE_EVERY))

    def own_pids(self) -> set[int]:
        """Processes accounted for otherwise: the server, its kernels, its terminals'
        shells and foreground jobs (what ``procs.ProcessWatch`` leaves out)."""
        pids = {os.getpid(), *self.terminals.foreground}
        for kernel in list(self.kernel_manager._kernels.values()):
            pid = getattr(getattr(kernel, "provisioner", None), "pid", None)
            if isinstance(pid, int):
                pids.add(pid)
        tm = self.terminal_manager
        for term in list(tm.terminals.values()) if tm is not None else []:
            pid = getattr(getattr(term, "ptyproc", None), "pid", None)
            if isinstance(pid, int):
                pids.add(pid)
        return pids

    def sampled(self, busy: list[procs.Busy], when: datetime) -> None:
        """A process sample: each process that used CPU counts as activity at ``when``."""
        self.processes = tuple(policy.Process(b.pid, b.name, b.command, b.cpu, when)
                               for b in busy)
        for b in busy:
            self.tracker.record(f"{policy.PROCESS}{b.name}", when,
                                detail=f"pid {b.pid}: {b.command} ({b.cpu:g} cores)")

    async def session_path(self, kernel_id: str) -> str | None:
        """The path of the session (notebook, console, file) using the kernel, if any."""
        try:
            sessions = await self.serverapp.session_manager.list_sessions()
        except Exception:
            self.log.debug("Could not list sessions", exc_info=True)
            return None
        return next((s.get("path") for s in sessions
                     if (s.get("kernel") or {}).get("id") == kernel_id), None)

    def spec_timeouts(self) -> tuple[float, ...]:
        """The kernelspecs' own ``metadata.cull_idle_timeout`` values, read once (a new
        kernel may bring a timeout shorter than any in force)."""
        if self._spec_timeouts is None:
            found = []
            try:
                specs = self.kernel_manager.kernel_spec_manager.get_all_specs()
            except Exception:
                specs = {}
            if inspect.isawaitable(specs):  # a gateway's kernelspecs: remote, not read here
                getattr(specs, "close", lambda: None)()
                specs = {}
            for name, spec in specs.items():
                value = ((spec or {}).get("spec") or {}).get("metadata", {}).get(
                    "cull_idle_timeout")
                try:
                    found.append(seconds(f"kernelspec {name!r}", value))
                except ConfigError:
                    continue
            self._spec_timeouts = tuple(found)
        return self._spec_timeouts

    def _kernel_timeout(self, kernel: Any, default: int) -> int:
        """The kernelspec's ``metadata.cull_idle_timeout`` if it has a valid one."""
        try:
            metadata = kernel.kernel_spec.metadata
        except Exception:  # a kernelspec removed after the kernel started
            return default
        if "cull_idle_timeout" not in metadata:
            return default
        label = f"kernelspec {kernel.kernel_name!r} metadata.cull_idle_timeout"
        try:
            return seconds(label, metadata["cull_idle_timeout"])
        except ConfigError as e:
            if kernel.kernel_name not in self._bad_specs:
                self._bad_specs.add(kernel.kernel_name)
                self.log.warning("Ignoring %s; using %s s.", e, default)
            return default

    def _clock_jumped(self, jump: timedelta, since: datetime, now: datetime) -> None:
        """The wall clock jumped (``activity.Clock``): move the activity times jupyter_server
        stamped on the live kernels and terminals with it, so their idle time is kept."""
        self.log.warning("The wall clock jumped by %+.1f s; idle times are kept (deadlines "
                         "move with the clock).", jump.total_seconds())
        km, tm = self.kernel_manager, self.terminal_manager
        live = list(km._kernels.values()) if km is not None else []
        live += list(tm.terminals.values()) if tm is not None else []
        for item in live:
            if isinstance(getattr(item, "last_activity", None), datetime):
                item.last_activity = shifted(item.last_activity, jump, since, now)
        self.terminals.shift(jump)
