"""The activity model: what counts as a person or real work, per source.

jupyter_server's own notion (``api_last_activity``) is moved by *every* authenticated REST
call, so an unattended JupyterLab tab polling ``/api/kernels`` every 10 s keeps a server alive
forever. Here a REST call counts only when it is something a person did (a write: save,
rename, delete, upload, starting or stopping kernels, sessions and terminals); background
GETs never count. Kernel and terminal activity come from the live managers, which already
ignore kernel_info/comm_info/debug traffic; a busy kernel counts for as long as it is busy
(see ``policy.last_activity``).

``ActivityTracker`` keeps, per source, the last time it counted. Times only move forward, so
a kernel that was culled or shut down does not take its past activity with it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone

from . import policy
from .timeutil import utcnow

#: Requests that count as a person doing something: ``"METHOD path"`` regexes matched
#: against the path below ``base_url``. GETs (polls, listings) are deliberately absent.
DEFAULT_COUNTED_REQUESTS = (
    r"(POST|PUT|PATCH|DELETE) api/contents(/.*)?",
    r"(POST|PATCH|DELETE) api/sessions(/.*)?",
    r"(POST|DELETE) api/kernels(/.*)?",
    r"(POST|DELETE) api/terminals(/.*)?",
)

#: Settings keys that jupyter_server's ``last_activity()`` reads but that we replace with
#: refined sources: every API call, and terminal I/O (tracked per terminal instead).
UNREFINED_SETTINGS = frozenset({"api_last_activity", "terminal_last_activity"})

#: A request carrying this header with value ``1`` is the widget saving unsaved work just
#: before a stop. It must not count, or saving would postpone the very stop it prepares for.
#: Anyone may send it: it can only make a request count *less*, never keep a server alive.
AUTOSAVE_HEADER = "X-Jupyter-Cull-Autosave"


#: A wall-clock step larger than this (seconds) beyond the time the monotonic clock saw pass
#: between two readings is a jump (an NTP step, a resumed VM, ``date -s``); slewing and
#: scheduling jitter stay far below it.
JUMP_TOLERANCE = 1.0


class Clock:
    """The wall clock deadlines are computed and shown in, watched for jumps.

    Activity times are wall-clock times (jupyter_server stamps kernels and terminals with
    it), and a timeout is a duration: a kernel idle for 10 s of real time is idle for 10 s
    whatever the wall clock did meanwhile. So when a reading shows that the wall clock
    jumped by J, the ``listeners`` are called with J, the earliest time (new frame) the jump
    may have happened at and the new reading, and move every recorded time by J: deadlines
    then neither fire early (a forward jump) nor J late (a backward jump). Timers sleep on
    the event loop's monotonic clock; the enforcer reads this clock at least every second,
    so a jump is seen within a second.
    ``max_age`` counts from an absolute start time agreed with the hub and is not moved.

    ``wall`` and ``monotonic`` are the clock sources (tests make ``wall`` jump).
    """

    def __init__(self, wall: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic):
        self.wall = wall
        self.monotonic = monotonic
        self.listeners: list[Callable[[timedelta, datetime, datetime], None]] = []
        self._last: tuple[datetime, float] | None = None

    def now(self) -> datetime:
        wall, mono = self.wall(), self.monotonic()
        last, self._last = self._last, (wall, mono)
        if last is not None:
            elapsed = timedelta(seconds=mono - last[1])
            jump = wall - (last[0] + elapsed)
            if abs(jump.total_seconds()) > JUMP_TOLERANCE:
                for listener in list(self.listeners):
                    listener(jump, wall - elapsed, wall)
        return wall


def shifted(when: datetime | None, jump: timedelta, since: datetime, now: datetime
            ) -> datetime | None:
    """``when`` (stamped by someone else) moved by ``jump``, unless it lies in ``[since,
    now]``: stamped in the new frame already, after the jump but before it was seen."""
    if when is None or since <= when <= now:
        return when
    return when + jump


class RequestClassifier:
    """Decides whether a finished HTTP request was something a person did."""

    def __init__(self, base_url: str, patterns: Iterable[str]):
        self.base_url = base_url
        # Each pattern on its own, as CullExt's validator compiles it: joined into one
        # alternation, a pattern that is valid alone ("(?i)post api/x", or a group name
        # another pattern uses too) makes the whole expression invalid, and the extension
        # would fail to load, leaving the server running without any culling.
        self.patterns = [re.compile(p) for p in patterns]

    def counts(self, method: str, path: str, status: int,
               headers: Mapping[str, str] | None = None) -> bool:
        """True for a successful request matching one of the counted patterns, unless it is
        marked as an automatic save (``AUTOSAVE_HEADER``)."""
        if not self.patterns or status >= 400 or not path.startswith(self.base_url):
            return False
        if headers is not None and headers.get(AUTOSAVE_HEADER, "").strip() == "1":
            return False
        relative = path[len(self.base_url) :]
        request = f"{method} {relative}"
        return any(p.fullmatch(request) is not None for p in self.patterns)


class ActivityTracker:
    """Per-source last-activity times, plus the keep-alive the user asked for.

    Listeners are called (with the source name) whenever something counts, so the enforcer
    can re-arm its timer and a hub reporter can report promptly.
    """

    def __init__(self, started: datetime, clock: Clock | None = None):
        self._times: dict[str, datetime] = {policy.SERVER_START: started}
        #: What a source was, last time it counted, where a name is not enough
        #: (``busy_terminal`` -> "terminal 1: python train.py").
        self.details: dict[str, str] = {}
        self.keepalive_until: datetime | None = None
        self.listeners: list[Callable[[str], None]] = []
        self.clock = clock or Clock()
        self.clock.listeners.append(self._clock_jumped)

    def now(self) -> datetime:
        return self.clock.now()

    def _clock_jumped(self, jump: timedelta, since: datetime, now: datetime) -> None:
        """Every time here was taken before the jump was seen (times are only ever taken
        through ``now``, which reports the jump first), so all of them move."""
        self._times = {source: when + jump for source, when in self._times.items()}
        if self.keepalive_until is not None:
            self.keepalive_until += jump

    def record(self, source: str, when: datetime | None = None, notify: bool = True,
               detail: str | None = None) -> None:
        """Note that ``source`` counted at ``when`` (default now). Never moves backwards.

        ``notify=False`` is for samples taken while deciding, which must not re-trigger a
        decision; ``detail`` says what the source was (a command line)."""
        when = when or self.now()
        if detail is not None:
            self.details[source] = detail
        if when.tzinfo is None:
            raise ValueError(f"activity time for {source!r} must be timezone-aware")
        previous = self._times.get(source)
        if previous is not None and previous >= when:
            return
        self._times[source] = when
        for listener in list(self.listeners) if notify else ():
            listener(source)

    def times(self) -> dict[str, datetime]:
        """A copy of the per-source times."""
        return dict(self._times)

    def record_extensions(self, settings: dict) -> None:
        """Fold in what other extensions report through jupyter_server's sanctioned hooks:
        ``last_activity_times`` entries and settings keys ending in ``_last_activity``."""
        for key, value in settings.get("last_activity_times", {}).items():
            self._record_foreign(f"extension:{key}", value)
        for key, value in list(settings.items()):
            if key.endswith("_last_activity") and key not in UNREFINED_SETTINGS:
                self._record_foreign(f"extension:{key}", value)

    def _record_foreign(self, source: str, value: object) -> None:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            self.record(source, value, notify=False)
