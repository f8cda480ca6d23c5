"""Act at the deadlines the policy decides.

One timer, set to the next deadline and re-armed when something counts, so a kernel, a
terminal or the server is stopped within moments of the deadline the status API showed, not
on jupyter_server's 60 s / 300 s sweeps. The timer never sleeps longer than ``MAX_SLEEP``, so
changes nobody tells us about (a kernel going from busy to idle, a client disconnecting)
are picked up within that time.

The stock cullers (``MappingKernelManager.cull_kernels``, ``TerminalManager._cull_terminals``)
keep running as a backstop, but their per-item decision is delegated here, so a keep-alive
protects a kernel from them too and there is only one rule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop

from . import metrics, policy, timeutil
from .activity import ActivityTracker, shifted
from .knobs import ConfigError, seconds

#: Decisions that stop something, and the ``kind`` label of the culls metric.
CULL_KINDS = {"kernel_culled": "kernel", "terminal_culled": "terminal",
              "server_stopping": "server"}

#: Longest the timer sleeps between looks, in seconds.
MAX_SLEEP = 1.0


class KeepaliveError(ValueError):
    """A keep-alive request the operator's cap does not allow."""


class Enforcer:
    """Reads the live server, asks the policy, and stops what is due."""

    def __init__(self, serverapp: Any, tracker: ActivityTracker, ours: dict, log: Any,
                 emit: Callable[..., None] | None = None):
        self.serverapp = serverapp
        self.tracker = tracker
        self.ours = ours  # warn_before, keepalive_max, max_age, started
        self.log = log
        self.emit = emit or (lambda kind, **fields: None)  # serverlog.CullEvents.emit
        self._warned_for: datetime | None = None  # the server deadline last warned about
        self._handle: Any = None
        self._acting: set[str] = set()  # kernel ids and "terminal:<name>" being stopped
        self._culls: set[asyncio.Task] = set()  # their tasks (kept referenced until done)
        # Terminals being culled: name -> (the terminal, its last activity when culled).
        self._dying: dict[str, tuple[Any, datetime]] = {}
        self._bad_specs: set[str] = set()
        self._stopping = False
        self._tick_task: asyncio.Task | None = None
        tracker.listeners.append(self._on_activity)
        tracker.clock.listeners.append(self._clock_jumped)

    # --- reading the live server ---------------------------------------------------------

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
            server_timeout=self.serverapp.shutdown_no_activity_timeout,
            warn_before=self.ours["warn_before"],
            keepalive_max=self.ours["keepalive_max"],
            max_age=self.ours["max_age"],
            started=self.ours["started"],
        )

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

    def facts(self, now: datetime | None = None) -> policy.Facts:
        """A snapshot of activity, kernels and terminals; live activity is recorded too, so
        it outlives the kernel or terminal it came from."""
        now = now or self.tracker.now()
        km, tm = self.kernel_manager, self.terminal_manager
        default_timeout = km.cull_idle_timeout
        kernels = []
        for kid in list(km.list_kernel_ids()):
            kernel = km._kernels.get(kid)
            if kernel is None:
                continue
            try:
                model = km.kernel_model(kid)
            except Exception:
                # A kernel jupyter_client has registered but jupyter_server has not stamped
                # yet (no last_activity: kernel_model raises a TraitError) is still starting.
                # Left out of this snapshot, as jupyter_server's own list_kernels leaves out
                # a kernel it cannot describe: one kernel must never make every decision
                # (the status, all culling) fail.
                self.log.debug("Kernel %s not described yet", kid, exc_info=True)
                continue
            state = getattr(kernel, "execution_state", "starting")
            last = getattr(kernel, "last_activity", now)
            self.tracker.record(policy.KERNEL, last, notify=False)
            if state == "busy":
                self.tracker.record(policy.BUSY_KERNEL, now, notify=False)
            kernels.append(
                policy.Kernel(
                    id=kid,
                    name=kernel.kernel_name,
                    execution_state=state,
                    connections=model.get("connections", 0),
                    last_activity=last,
                    timeout=self._kernel_timeout(kernel, default_timeout),
                )
            )
        terminals = []
        if tm is not None:
            self._dying = {name: d for name, d in self._dying.items()
                           if tm.terminals.get(name) is d[0]}
            for name, term in list(tm.terminals.items()):
                last = getattr(term, "last_activity", now)
                if name in self._dying:
                    # Killed, not closed yet: its shell's last output (the reply to SIGHUP)
                    # stamps it active, but a cull is not activity; the terminal keeps
                    # the time it was culled at until it is gone.
                    last = self._dying[name][1]
                self.tracker.record(policy.TERMINAL, last, notify=False)
                terminals.append(policy.Terminal(name=name, last_activity=last))
        self.tracker.record_extensions(self.serverapp.web_app.settings)
        return policy.Facts(
            now=now,
            activity=self.tracker.times(),
            kernels=tuple(kernels),
            terminals=tuple(terminals),
            keepalive_until=self.tracker.keepalive_until,
        )

    def decide(self, now: datetime | None = None) -> policy.Decision:
        return policy.decide(self.facts(now), self.settings())

    def last_activity(self) -> datetime:
        """The refined value behind ``web_app.last_activity()``: what ``/api/status``,
        jupyter_server's idle check and hub reports see."""
        when, _source = policy.last_activity(self.facts())
        return when

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
        if self._warned_for is not None:  # a deadline we computed before the jump
            self._warned_for += jump
        self._dying = {name: (term, when + jump) for name, (term, when) in self._dying.items()}

    # --- keep-alive ----------------------------------------------------------------------

    def keepalive(self, secs: float) -> datetime | None:
        """Keep the server and its kernels up for ``secs`` from now (0 cancels)."""
        cap = self.ours["keepalive_max"]
        refusal = None
        if secs > 0 and cap <= 0:
            refusal = "keep-alive is disabled by the operator (keepalive_max = 0)"
        elif secs > cap:
            refusal = f"keep-alive of {secs:g} s exceeds the operator's cap of {cap} s"
        if refusal is not None:
            self._decided("keepalive_refused", logging.INFO, "Keep-alive refused: %s.", refusal,
                          by="user", requested_seconds=secs, cap_seconds=cap)
            raise KeepaliveError(refusal)
        now = self.tracker.now()
        if secs == 0:
            was = self.tracker.keepalive_until
            if was is not None:
                self._decided("keepalive_cancelled", logging.INFO,
                              "Keep-alive cancelled (was until %s).", timeutil.isoformat(was),
                              by="user", keepalive_until=timeutil.isoformat(was))
            self.tracker.keepalive_until = None
        else:
            until = self.tracker.keepalive_until = now + timedelta(seconds=secs)
            self._decided("keepalive_requested", logging.INFO,
                          "Keep-alive requested for %s (cap %s): until %s.",
                          timeutil.duration(secs), timeutil.duration(cap), timeutil.isoformat(until),
                          by="user", requested_seconds=secs, cap_seconds=cap,
                          keepalive_until=timeutil.isoformat(until))
        self.tracker.record(policy.KEEPALIVE, now)
        self.arm()  # a shorter or cancelled keep-alive can bring a kernel's deadline closer
        return self.tracker.keepalive_until

    def _decided(self, kind: str, level: int, fmt: str, *args: Any, **fields: Any) -> None:
        """Log a decision as one line and emit it as an event (``serverlog.CullEvents``)."""
        self.log.log(level, fmt, *args)
        self.emit(kind, msg=fmt % args, **fields)
        if kind in CULL_KINDS:
            metrics.CULLS.labels(CULL_KINDS[kind], fields.get("reason") or "idle").inc()

    # --- the timer -----------------------------------------------------------------------

    def start(self) -> None:
        """Start enforcing, and route the stock cullers' per-item checks through us."""
        km, tm = self.kernel_manager, self.terminal_manager
        km.cull_kernel_if_idle = self._stock_kernel_check
        if tm is not None:
            tm._cull_inactive_terminal = self._stock_terminal_check
        self.arm()

    def stop(self) -> None:
        self._stopping = True
        if self._handle is not None:
            IOLoop.current().remove_timeout(self._handle)
            self._handle = None

    def _on_activity(self, source: str) -> None:
        """Something counted. Activity only moves idle deadlines later, so a timer that is
        set (it fires within ``MAX_SLEEP`` and decides afresh) stays as it is: deciding again
        on every counted request (every save, every keystroke report) costs a full read of
        the live server, ~100 µs per request (benchmarks/README.md), for nothing. Changes
        that can bring a deadline closer (cancelling a keep-alive) re-arm themselves."""
        if self._handle is None and (self._tick_task is None or self._tick_task.done()):
            self.arm()

    def arm(self, decision: policy.Decision | None = None) -> None:
        """(Re)set the timer to the next deadline, or ``MAX_SLEEP`` if that is sooner;
        ``decision`` is one just made (by ``_tick``), else a fresh one is made."""
        if self._stopping:
            return
        loop = IOLoop.current()
        if self._handle is not None:
            loop.remove_timeout(self._handle)
        try:
            decision = decision or self.decide()
        except Exception:
            self.log.exception("Could not compute culling deadlines; retrying")
            delay = MAX_SLEEP
        else:
            nxt = decision.next_deadline()
            due = self._due_to_start(decision)
            delay = 0 if due else MAX_SLEEP
            if nxt is not None and not due:
                delay = min(delay, max((nxt - decision.now).total_seconds(), 0))
        self._handle = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._handle = None
        if self._tick_task is None or self._tick_task.done():
            self._tick_task = asyncio.ensure_future(self._tick())
        else:
            self.arm()

    async def _tick(self) -> None:
        decision = None
        try:
            decision = self.decide()
            await self.enforce(decision)
        except Exception:
            self.log.exception("Culling check failed; will retry")
            decision = None
        finally:
            # The decision just made serves for the next timer too: enforce() returns at
            # once (culls run in tasks of their own, already marked as in progress).
            self.arm(decision)

    def _due_to_start(self, decision: policy.Decision) -> bool:
        """Whether something is due that is not being stopped already. A kernel stays listed
        (and due) until its shutdown completes; counting it would re-fire the timer at
        once, over and over, for as long as that takes: a busy loop."""
        return (decision.server_due()
                or any(k.kernel.id not in self._acting for k in decision.due_kernels())
                or any(not self._stopping_terminal(t.terminal.name)
                       for t in decision.due_terminals()))

    def _stopping_terminal(self, name: str) -> bool:
        """Being culled, or killed and not closed yet: terminado closes a terminal when it
        reads the end of its output, a moment after the process died."""
        return f"terminal:{name}" in self._acting or name in self._dying

    async def enforce(self, decision: policy.Decision) -> None:
        """Stop everything that is due in ``decision``.

        Each kernel and terminal is stopped in a task of its own, and this returns at once:
        a kernel that ignores its shutdown_request and SIGTERM takes seconds to go (until
        jupyter_client's SIGKILL), and must not hold up the other deadlines, the warning or
        the server's own stop meanwhile."""
        if decision.server_due():
            self._stop_server(decision)
            return
        self._warn(decision)
        # Claimed here, in the same step as the decision, not when each task first runs: by
        # then a cull still in progress when this decision was made may have finished, and
        # the same kernel or terminal would be culled (and logged, and counted) twice.
        for k in decision.due_kernels():
            if k.kernel.id not in self._acting:
                self._acting.add(k.kernel.id)
                self._in_background(self._cull_kernel(k, decision.now, claimed=True))
        for t in decision.due_terminals():
            if not self._stopping_terminal(t.terminal.name):
                self._acting.add(f"terminal:{t.terminal.name}")
                self._in_background(self._cull_terminal(t, decision.now, claimed=True))

    def _in_background(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._culls.add(task)
        task.add_done_callback(self._culls.discard)

    async def _cull_kernel(self, k: policy.KernelDecision, now: datetime,
                           claimed: bool = False) -> None:
        kid = k.kernel.id
        if not claimed:
            if kid in self._acting:
                return
            self._acting.add(kid)
        try:
            path = await self._session_path(kid)
            where = f", session {path!r}" if path else ""
            fields = dict(kernel_id=kid, kernel_name=k.kernel.name, path=path, reason=k.reason)
            if k.reason == "dead":
                self._decided("kernel_culled", logging.WARNING, "Culling dead kernel %s (%s%s).",
                              kid, k.kernel.name, where, **fields)
            else:
                idle = (now - k.kernel.last_activity).total_seconds()
                self._decided(
                    "kernel_culled", logging.WARNING,
                    "Culling idle kernel %s (%s%s): idle for %s >= timeout %s%s.",
                    kid, k.kernel.name, where, timeutil.duration(idle),
                    timeutil.duration(k.kernel.timeout),
                    f", {k.kernel.connections} connection(s)" if k.kernel.connections else "",
                    idle_seconds=round(idle, 3), timeout_seconds=k.kernel.timeout,
                    connections=k.kernel.connections, **fields,
                )
            await self.kernel_manager.shutdown_kernel(kid)
        except (KeyError, web.HTTPError):
            pass  # already gone (jupyter_server says so with a 404)
        except Exception:
            self.log.exception("Could not cull kernel %s", kid)
        finally:
            self._acting.discard(kid)

    async def _cull_terminal(self, t: policy.TerminalDecision, now: datetime,
                             claimed: bool = False) -> None:
        name = t.terminal.name
        key = f"terminal:{name}"
        if not claimed:
            if self._stopping_terminal(name):
                return
            self._acting.add(key)
        try:
            idle = (now - t.terminal.last_activity).total_seconds()
            self._decided("terminal_culled", logging.WARNING,
                          "Culling idle terminal %s: idle for %s >= timeout %s.",
                          name, timeutil.duration(idle), timeutil.duration(t.timeout), terminal=name,
                          reason="idle", idle_seconds=round(idle, 3), timeout_seconds=t.timeout)
            term = self.terminal_manager.terminals.get(name)
            if term is not None:
                self._dying[name] = (term, t.terminal.last_activity)
            await self.terminal_manager.terminate(name, force=True)
            if term is not None and term.ptyproc.isalive():  # not killed after all
                self._dying.pop(name, None)  # judged afresh, culled again
        except (KeyError, web.HTTPError):
            pass  # already gone (jupyter_server_terminals says so with a 404)
        except Exception:
            self._dying.pop(name, None)  # still there: judged afresh, culled again
            self.log.exception("Could not cull terminal %s", name)
        finally:
            self._acting.discard(key)

    def _stop_server(self, decision: policy.Decision) -> None:
        s, cfg = decision.server, decision.settings
        fields = dict(reason=s.reason, kernels=len(decision.kernels),
                      terminals=len(decision.terminals), last_activity=timeutil.isoformat(
                          s.last_activity), last_activity_source=s.last_activity_source)
        if s.reason == "max_age":
            age = (decision.now - cfg.started).total_seconds()
            self._decided("server_stopping", logging.WARNING,
                          "Stopping server: reached its max age (%s >= %s, started %s).",
                          timeutil.duration(age), timeutil.duration(cfg.max_age),
                          timeutil.isoformat(cfg.started), age_seconds=round(age, 3),
                          max_age_seconds=cfg.max_age, started=timeutil.isoformat(cfg.started),
                          **fields)
        else:
            idle = (decision.now - s.last_activity).total_seconds()
            self._decided(
                "server_stopping", logging.WARNING,
                "Stopping server: idle for %s >= timeout %s (last activity: %s at %s); "
                "%d kernel(s) and %d terminal(s) shut down with it.",
                timeutil.duration(idle), timeutil.duration(cfg.server_timeout),
                s.last_activity_source, timeutil.isoformat(s.last_activity),
                len(decision.kernels), len(decision.terminals),
                idle_seconds=round(idle, 3), timeout_seconds=cfg.server_timeout, **fields,
            )
        self.stop()
        self.serverapp.stop()

    def _warn(self, decision: policy.Decision) -> None:
        """Say once per server deadline, when its warning time has come, that it is near."""
        s, cfg = decision.server, decision.settings
        if s.warn_at is None or s.warn_at > decision.now or s.deadline == self._warned_for:
            return
        self._warned_for = s.deadline
        left = (s.deadline - decision.now).total_seconds()
        if s.reason == "max_age":
            why = f"it reaches its max age of {timeutil.duration(cfg.max_age)}"
        else:
            why = (f"idle since {timeutil.isoformat(s.last_activity)} (last activity: "
                   f"{s.last_activity_source}), timeout {timeutil.duration(cfg.server_timeout)}")
            if s.protected_by == policy.KEEPALIVE:
                why += f", kept alive until {timeutil.isoformat(decision.keepalive_until)}"
        self._decided("warning", logging.WARNING, "Server will stop in %s (at %s): %s.",
                      timeutil.duration(left), timeutil.isoformat(s.deadline), why,
                      reason=s.reason, deadline=timeutil.isoformat(s.deadline),
                      seconds_left=round(left, 3), last_activity=timeutil.isoformat(
                          s.last_activity), last_activity_source=s.last_activity_source)

    async def _session_path(self, kernel_id: str) -> str | None:
        """The path of the session (notebook, console, file) using the kernel, if any."""
        try:
            sessions = await self.serverapp.session_manager.list_sessions()
        except Exception:
            self.log.debug("Could not list sessions", exc_info=True)
            return None
        return next((s.get("path") for s in sessions
                     if (s.get("kernel") or {}).get("id") == kernel_id), None)

    # --- the stock cullers, delegated ----------------------------------------------------

    async def _stock_kernel_check(self, kernel_id: str) -> None:
        decision = self.decide()
        for k in decision.due_kernels():
            if k.kernel.id == kernel_id:
                await self._cull_kernel(k, decision.now)

    async def _stock_terminal_check(self, name: str) -> None:
        decision = self.decide()
        for t in decision.due_terminals():
            if t.terminal.name == name:
                await self._cull_terminal(t, decision.now)
