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
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone

from . import policy

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


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class RequestClassifier:
    """Decides whether a finished HTTP request was something a person did."""

    def __init__(self, base_url: str, patterns: Iterable[str]):
        self.base_url = base_url
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def counts(self, method: str, path: str, status: int,
               headers: Mapping[str, str] | None = None) -> bool:
        """True for a successful request matching one of the counted patterns, unless it is
        marked as an automatic save (``AUTOSAVE_HEADER``)."""
        if self.pattern is None or status >= 400 or not path.startswith(self.base_url):
            return False
        if headers is not None and headers.get(AUTOSAVE_HEADER, "").strip() == "1":
            return False
        relative = path[len(self.base_url) :]
        return self.pattern.fullmatch(f"{method} {relative}") is not None


class ActivityTracker:
    """Per-source last-activity times, plus the keep-alive the user asked for.

    Listeners are called (with the source name) whenever something counts, so the enforcer
    can re-arm its timer and a hub reporter can report promptly.
    """

    def __init__(self, started: datetime):
        self._times: dict[str, datetime] = {policy.SERVER_START: started}
        self.keepalive_until: datetime | None = None
        self.listeners: list[Callable[[str], None]] = []

    def record(self, source: str, when: datetime | None = None, notify: bool = True) -> None:
        """Note that ``source`` counted at ``when`` (default now). Never moves backwards.

        ``notify=False`` is for samples taken while deciding, which must not re-trigger a
        decision."""
        when = when or utcnow()
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
