"""Times and durations, read and written one way everywhere.

Every time we hold is timezone-aware UTC; every time we write (status document, log lines,
events, hub reports) is ISO 8601 with a ``Z``; every duration a person reads is ``H:MM:SS``
or, for a setting, a short span (``5 min``). Server, widget (through the status document),
``jupyter cull status`` and the hub companion all go through here.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(timezone.utc)


def parse(value: str | None, naive_is_utc: bool = True) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime, or None for an empty value.

    ``Z`` is accepted (Python 3.10 does not), and a naive time means UTC: that is how the
    hub's REST API writes its timestamps (``naive_is_utc=False`` refuses it instead, for
    settings an operator writes). Raises ``ValueError`` for anything else."""
    if not value:
        return None
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        if not naive_is_utc:
            raise ValueError(f"{value!r} has no timezone")
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def isoformat(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a ``Z``, or None."""
    if when is None:
        return None
    when = when.astimezone(timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration(seconds: float) -> str:
    """A duration for a person, to the second: ``1:00:03``."""
    return str(timedelta(seconds=round(max(seconds, 0))))


def span(seconds: float) -> str:
    """A setting's length in its natural unit: ``2 h``, ``5 min``, ``90 s``."""
    seconds = round(seconds)
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
