"""The running server's terminals: what runs in each, and those being culled.

Part of reading the live server (``live.LiveServer``): a terminal's facts are its last
input or output and the command in its foreground (``procs.terminal_job``). A terminal being
culled keeps the time it was culled at until terminado closes it: its shell's reply to the
hangup would otherwise stamp it active.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import policy, procs
from .activity import ActivityTracker


class LiveTerminals:
    """Reads terminals for the policy and remembers the ones being culled."""

    def __init__(self, tracker: ActivityTracker, log: Any):
        self.tracker = tracker
        self.log = log
        # Terminals being culled: name -> (the terminal, its last activity when culled).
        self._dying: dict[str, tuple[Any, datetime]] = {}
        self.foreground: set[int] = set()  # their foreground jobs' pids at the last look

    def read(self, tm: Any, now: datetime) -> list[policy.Terminal]:
        """Every terminal's facts (none without a terminal manager)."""
        if tm is None:
            return []
        self._dying = {name: d for name, d in self._dying.items()
                       if tm.terminals.get(name) is d[0]}
        terminals, foreground = [], set()
        for name, term in list(tm.terminals.items()):
            last = getattr(term, "last_activity", now)
            job = None
            if name in self._dying:
                # Killed, not closed yet: its shell's reply to SIGHUP stamps it active, but
                # a cull is not activity; it keeps the time it was culled at until gone.
                last = self._dying[name][1]
            else:
                job = self._job(name, term)
            item = policy.Terminal(name=name, last_activity=last,
                                   command=job.command if job else None,
                                   waiting_for_input=job.waiting_for_input if job else False)
            self.tracker.record(policy.TERMINAL, last, notify=False)
            if item.working:
                self.tracker.record(policy.BUSY_TERMINAL, now, notify=False,
                                    detail=f"terminal {name}: {item.command}")
            if job is not None:
                foreground.add(job.pid)
            terminals.append(item)
        self.foreground = foreground
        return terminals

    def _job(self, name: str, term: Any) -> procs.TerminalJob | None:
        """What runs in a terminal; a terminal we cannot read is taken as at its prompt."""
        try:
            return procs.terminal_job(term.ptyproc.pid, term.ptyproc.fd)
        except Exception:
            self.log.debug("Could not read what runs in terminal %s", name, exc_info=True)
            return None

    def culled(self, tm: Any, name: str, last_activity: datetime) -> None:
        """``name`` is being killed: until it is gone it keeps ``last_activity``."""
        term = tm.terminals.get(name) if tm is not None else None
        if term is not None:
            self._dying[name] = (term, last_activity)

    def survived(self, name: str) -> None:
        """A kill that did not take: the terminal is judged afresh (and culled again)."""
        self._dying.pop(name, None)

    def dying(self, name: str) -> bool:
        """Killed and not closed yet: terminado closes a terminal when it reads the end of
        its output, a moment after the process died."""
        return name in self._dying

    def shift(self, jump: timedelta) -> None:
        """The wall clock jumped: the times kept for dying terminals move with it."""
        self._dying = {name: (term, when + jump) for name, (term, when) in self._dying.items()}
