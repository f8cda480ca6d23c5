"""Act at the deadlines the policy decides.

One timer, set to the next deadline, so a kernel, a terminal or the server is stopped within
moments of the deadline the status API showed, not on jupyter_server's 60 s / 300 s sweeps.
Changes nobody tells us about (a kernel or terminal going from busy to idle, a client
disconnecting, a prompt) make a new deadline at least one timeout away; the timer looks again
well before that (``max_sleep``), so it is never missed, and an idle server wakes rarely. A
wall-clock jump is seen at the next look, before anything is decided (``activity.Clock``).

Reading the server is ``live.LiveServer``'s job, wording the decisions ``announce``'s; the
stock cullers' per-item checks are routed here by ``patches`` (one rule, one keep-alive).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop

from . import policy
from .activity import ActivityTracker
from .announce import Announcer
from .live import LiveServer

#: Longest the timer sleeps between looks, in seconds.
MAX_SLEEP = 30.0
#: Shortest, for timeouts of a second or two (tests, demos).
MIN_SLEEP = 0.25


def max_sleep(decision: policy.Decision, spec_timeouts: tuple[float, ...] = ()) -> float:
    """How long the timer may sleep: a quarter of the shortest timeout in force, kernelspecs'
    own included (a change nobody tells us about is then seen long before the deadline it
    makes), within [``MIN_SLEEP``, ``MAX_SLEEP``]."""
    s = decision.settings
    spans = [s.server_timeout, s.terminal_timeout, s.kernel_timeout, *spec_timeouts]
    spans += [k.kernel.timeout for k in decision.kernels]
    shortest = min((x for x in spans if x > 0), default=4 * MAX_SLEEP)
    return min(MAX_SLEEP, max(MIN_SLEEP, shortest / 4))


class KeepaliveError(ValueError):
    """A keep-alive request the operator's cap does not allow."""


class Enforcer:
    """Keeps the timer, claims what is due and stops it."""

    def __init__(self, live: LiveServer, tracker: ActivityTracker, announce: Announcer):
        self.live = live
        self.tracker = tracker
        self.announce = announce
        self._warned_for: datetime | None = None  # the server deadline last warned about
        self._handle: Any = None
        self._acting: set[str] = set()  # kernel ids and "terminal:<name>" being stopped
        self._culls: set[asyncio.Task] = set()  # their tasks (kept referenced until done)
        self._stopping = False
        self._tick_task: asyncio.Task | None = None
        tracker.listeners.append(self._on_activity)
        tracker.clock.listeners.append(self._clock_jumped)

    def decide(self, now: datetime | None = None) -> policy.Decision:
        """The decision this enforcer acts on (the status shows the same)."""
        return self.live.decide(now)

    def _clock_jumped(self, jump: timedelta, since: datetime, now: datetime) -> None:
        if self._warned_for is not None:  # a deadline computed before the jump
            self._warned_for += jump

    # --- keep-alive ----------------------------------------------------------------------

    def keepalive(self, secs: float, who: str = "") -> datetime | None:
        """Keep the server and its kernels up for ``secs`` from now (0 cancels); ``who`` is
        the user who asked (a guest, under JupyterHub sharing, may not be the owner)."""
        cap = self.live.limits.keepalive_max
        refusal = None
        if secs > 0 and cap <= 0:
            refusal = "keep-alive is disabled by the operator (keepalive_max = 0)"
        elif secs > cap:
            refusal = f"keep-alive of {secs:g} s exceeds the operator's cap of {cap} s"
        if refusal is not None:
            self.announce.keepalive_refused(refusal, secs, cap, who)
            raise KeepaliveError(refusal)
        now = self.tracker.now()
        if secs == 0:
            was = self.tracker.keepalive_until
            if was is not None:
                self.announce.keepalive_cancelled(was, who)
            self.tracker.keepalive_until = None
        else:
            until = self.tracker.keepalive_until = now + timedelta(seconds=secs)
            self.announce.keepalive_requested(secs, cap, until, who)
        self.tracker.record(policy.KEEPALIVE, now)
        self.arm()  # a shorter or cancelled keep-alive can bring a kernel's deadline closer
        return self.tracker.keepalive_until

    # --- the timer -----------------------------------------------------------------------

    def start(self) -> None:
        self.arm()

    def stop(self) -> None:
        self._stopping = True
        if self._handle is not None:
            IOLoop.current().remove_timeout(self._handle)
            self._handle = None

    def _on_activity(self, source: str) -> None:
        """Something counted. Activity only moves idle deadlines later, so a timer that is
        set (it fires within ``max_sleep`` and decides afresh) stays as it is; changes that
        can bring a deadline closer (cancelling a keep-alive) re-arm themselves."""
        if self._handle is None and (self._tick_task is None or self._tick_task.done()):
            self.arm()

    def arm(self, decision: policy.Decision | None = None) -> None:
        """(Re)set the timer to the next deadline, or ``max_sleep`` if that is sooner;
        ``decision`` is one just made (by ``_tick``), else a fresh one is made."""
        if self._stopping:
            return
        loop = IOLoop.current()
        if self._handle is not None:
            loop.remove_timeout(self._handle)
        try:
            decision = decision or self.decide()
        except Exception:
            self.live.log.exception("Could not compute culling deadlines; retrying")
            delay = MIN_SLEEP * 4
        else:
            nxt = decision.next_deadline()
            due = self._due_to_start(decision)
            delay = 0 if due else max_sleep(decision, self.live.spec_timeouts())
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
            self.live.log.exception("Culling check failed; will retry")
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
        return f"terminal:{name}" in self._acting or self.live.terminals.dying(name)

    async def enforce(self, decision: policy.Decision) -> None:
        """Stop everything that is due in ``decision``.

        Each kernel and terminal is stopped in a task of its own, and this returns at once:
        a kernel that ignores its shutdown_request and SIGTERM takes seconds to go (until
        jupyter_client's SIGKILL), and must not hold up the other deadlines meanwhile."""
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
                self._in_background(self.cull_kernel(k, decision.now, claimed=True))
        for t in decision.due_terminals():
            if not self._stopping_terminal(t.terminal.name):
                self._acting.add(f"terminal:{t.terminal.name}")
                self._in_background(self.cull_terminal(t, decision.now, claimed=True))

    def _in_background(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._culls.add(task)
        task.add_done_callback(self._culls.discard)

    async def cull_kernel(self, k: policy.KernelDecision, now: datetime,
                          claimed: bool = False) -> None:
        kid = k.kernel.id
        if not claimed:
            if kid in self._acting:
                return
            self._acting.add(kid)
        try:
            self.announce.kernel_culled(k, now, await self.live.session_path(kid))
            await self.live.kernel_manager.shutdown_kernel(kid)
        except (KeyError, web.HTTPError):
            pass  # already gone (jupyter_server says so with a 404)
        except Exception:
            self.live.log.exception("Could not cull kernel %s", kid)
        finally:
            self._acting.discard(kid)

    async def cull_terminal(self, t: policy.TerminalDecision, now: datetime,
                            claimed: bool = False) -> None:
        name = t.terminal.name
        key = f"terminal:{name}"
        if not claimed:
            if self._stopping_terminal(name):
                return
            self._acting.add(key)
        tm = self.live.terminal_manager
        try:
            self.announce.terminal_culled(t, now)
            term = tm.terminals.get(name)
            self.live.terminals.culled(tm, name, t.terminal.last_activity)
            await tm.terminate(name, force=True)
            if term is not None and term.ptyproc.isalive():  # not killed after all
                self.live.terminals.survived(name)
        except (KeyError, web.HTTPError):
            pass  # already gone (jupyter_server_terminals says so with a 404)
        except Exception:
            self.live.terminals.survived(name)
            self.live.log.exception("Could not cull terminal %s", name)
        finally:
            self._acting.discard(key)

    #: Under a hub, hands the server's stop to the hub first (``hubstop.HubStop``), so that
    #: the hub shows it stopped at once; the server exits by itself after it either way.
    ask_hub: Callable[[], Awaitable[bool]] | None = None

    def _stop_server(self, decision: policy.Decision) -> None:
        self.announce.server_stopping(decision)
        self.stop()
        if self.ask_hub is None:
            self.live.serverapp.stop()
        else:
            self._in_background(self._stop_through_hub(self.ask_hub))

    async def _stop_through_hub(self, ask_hub: Callable[[], Awaitable[bool]]) -> None:
        try:
            await ask_hub()
        finally:
            self.live.serverapp.stop()

    def _warn(self, decision: policy.Decision) -> None:
        """Say once per server deadline, when its warning time has come, that it is near."""
        s = decision.server
        if s.warn_at is None or s.warn_at > decision.now or s.deadline == self._warned_for:
            return
        self._warned_for = s.deadline
        self.announce.warning(decision)

    # --- the stock cullers' per-item checks (installed by ``patches``) --------------------

    async def stock_kernel_check(self, kernel_id: str) -> None:
        decision = self._stock_decision()
        for k in decision.due_kernels() if decision else ():
            if k.kernel.id == kernel_id:
                await self.cull_kernel(k, decision.now)

    async def stock_terminal_check(self, name: str) -> None:
        decision = self._stock_decision()
        for t in decision.due_terminals() if decision else ():
            if t.terminal.name == name:
                await self.cull_terminal(t, decision.now)

    def _stock_decision(self) -> policy.Decision | None:
        """The decision a stock culler's check acts on; None when the server itself is due
        (or stopping): then it stops with everything in it, as our own timer would stop it,
        and no kernel or terminal is culled (and logged) on its own just before."""
        decision = self.decide()
        if self._stopping:
            return None
        if decision.server_due():
            self._stop_server(decision)
            return None
        return decision
