"""``~/.jupyter-server-log.txt``, and our decisions as jupyter_events events.

Hub operators tell users and admins to ``cat ~/.jupyter-server-log.txt`` to see what happened
in a session. repo2docker's start script creates that file (``exec "$@" >>
~/.jupyter-server-log.txt 2>&1``); elsewhere nothing does. Here the extension writes it:

- everything the server and its extensions log, one timestamped line per record: the
  ``ServerApp`` logger (jupyter_server's managers and tornado's loggers all log through it)
  and each extension app's own logger (``LabApp``, ``CullExt`` ...);
- masked (``Masker``): tokens, ``Authorization`` headers, cookies and ``_xsrf`` values;
- capped (``ServerLogHandler``): rotated *before* a write would take it past its size, so a
  chatty server can never fill a home quota;
- private: created with mode 0600, and narrowed to 0600 if it existed wider;
- harmless: a home that is read-only or full, or a path that is a directory, costs one line
  on stderr; the server runs on and culling is not affected;
- once: when the server's log output already goes into the file (repo2docker), nothing is
  added (every line would appear twice); those lines are masked instead, but no size cap
  applies to a file a shell appends to.

The handler is attached at link time, so our configuration messages are in the file, and
stays attached until the process exits, so the kernel shutdowns that follow a server stop are
too. Kernels' own output is not captured.

Every decision of ours is also emitted as an event of schema ``SCHEMA_ID``
(``events/cull.yaml``) through ``CullEvents.emit(kind, **fields)``; events carry
``by: culler`` (or ``user``), which jupyter_server's ``kernel_actions`` event, the same for a
cull and a user's shutdown, cannot tell.

``Masker``, ``rotation_plan``, ``fit`` and ``rotation_renames`` are pure; the rest does I/O.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA_ID = "https://jupyter-cull-ext.readthedocs.io/events/cull"
SCHEMA_PATH = Path(__file__).parent / "events" / "cull.yaml"

#: What a masked secret reads as (jupyter_server's own URL scrubbing writes the same).
MASK = "[secret]"
#: Literal secrets shorter than this are not masked: they would mask ordinary words.
MIN_SECRET = 8
#: After a failed write, do not try to reopen the file more often than this (seconds).
RETRY_EVERY = 30.0

_NAMES = r"[\w.-]*(?:token|secret|password|passwd|xsrf|api_?key)[\w.-]*"
_PATTERNS = (
    # key=value in URLs, query strings, form bodies and environment dumps:
    # ?token=…, &_xsrf=…, JUPYTERHUB_API_TOKEN=…, access_token=…
    re.compile(rf"(?i)(\b{_NAMES}\s*=\s*)([^\s&;,'\"<>]+)"),
    # the same keys in JSON or a Python dict repr: "token": "…"
    re.compile(rf"""(?i)(['"]{_NAMES}['"]\s*:\s*['"])([^'"]+)"""),
    # Authorization: token …, 'Authorization': 'Bearer …' (the scheme is kept)
    re.compile(
        r"""(?i)(\b(?:proxy-)?authorization['"]?\s*[:=]\s*['"]?"""
        r"""(?:(?:token|bearer|basic|digest)\s+)?)([^\s'",}]+)"""
    ),
    # Cookie / Set-Cookie headers: every cookie of the user's session
    re.compile(r"""(?i)(\b(?:set-)?cookie['"]?\s*[:=]\s*['"]?)([^'"\r\n]+)"""),
    # a bearer credential wherever it appears
    re.compile(r"(?i)(\bbearer\s+)([\w.~+/-]+=*)"),
)
#: A word every pattern above needs, under the same case rules: one search for it lets the
#: common line (no credential in sight) skip the five patterns, a fifth of their cost.
_ANY_NAME = re.compile(r"(?i)token|secret|passw|xsrf|api_?key|authorization|cookie|bearer")


# --- pure: masking and rotation -------------------------------------------------------------


class Masker:
    """Masks secrets in a line of text: known credential shapes, and the literal secrets it
    was given (the server's token, the hub API token)."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET:
            self.secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return mask_patterns(text) if _ANY_NAME.search(text) else text


def mask_patterns(text: str) -> str:
    """Mask every known credential shape in ``text``."""
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{MASK}", text)
    return text


def rotation_plan(size: int, incoming: int, max_bytes: int) -> tuple[bool, int]:
    """Whether to rotate a file of ``size`` bytes before appending ``incoming`` bytes, and how
    many of them to write, so that the file never exceeds ``max_bytes``. A record too big for
    even an empty file is cut to fit one."""
    if size + incoming <= max_bytes:
        return False, incoming
    return size > 0, min(incoming, max_bytes)


def fit(data: bytes, limit: int) -> bytes:
    """``data`` cut to ``limit`` bytes (on a character boundary), marked as cut."""
    if len(data) <= limit:
        return data
    marker = b" [cut]\n"
    if limit <= len(marker):
        return data[:limit]
    head = data[: limit - len(marker)].decode("utf-8", "ignore").encode("utf-8")
    return head + marker


def rotation_renames(path: str, backups: int) -> list[tuple[str, str]]:
    """The renames that rotate ``path`` keeping ``backups`` old files (``path.1`` newest),
    oldest first. With no backups there is nothing to rename: the file is emptied."""
    names = [path] + [f"{path}.{i}" for i in range(1, backups + 1)]
    return [(names[i - 1], names[i]) for i in range(backups, 0, -1)]


# --- I/O: the file --------------------------------------------------------------------------


class LineFormatter(logging.Formatter):
    """``[W 2026-01-01 12:00:00.123+00:00 ServerApp] message``: jupyter_server's layout with
    the date and the UTC offset, since the file outlives the terminal it was read in."""

    def __init__(self) -> None:
        super().__init__("[%(levelname)1.1s %(asctime)s %(name)s] %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        when = datetime.fromtimestamp(record.created).astimezone()
        return when.isoformat(sep=" ", timespec="milliseconds")


class MaskingFormatter(logging.Formatter):
    """Wraps another handler's formatter, masking what it produces."""

    def __init__(self, inner: logging.Formatter | None, masker: Masker):
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.masker = masker

    def format(self, record: logging.LogRecord) -> str:
        return self.masker(self.inner.format(record))


def warn_stderr(message: str) -> None:
    """A line on stderr that cannot go through logging (it would come back to us)."""
    try:
        print(f"jupyter_cull_ext: {message}", file=sys.stderr, flush=True)
    except Exception:  # a closed stderr must not break the server either
        pass


def open_private(path: str) -> int:
    """Open ``path`` for appending, created with mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        narrow(fd)
    except OSError:
        os.close(fd)
        raise
    return fd


def narrow(fd: int) -> None:
    """Make a regular file private. The mode given to open() applies only to a file it
    creates; this one may predate us (repo2docker's start script creates it with the umask,
    usually 0644), and it records what the user did, with paths and names: only its owner
    should read it. Devices and pipes are left alone."""
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        os.fchmod(fd, 0o600)


class ServerLogHandler(logging.Handler):
    """Appends masked, timestamped lines to a size-capped file, rotating before the cap.

    It never raises into the server: a failure is reported once on stderr, the lines that
    could not be written are counted (and the count written once writing works again), and
    reopening is retried at most every ``RETRY_EVERY`` seconds.
    """

    def __init__(self, path: str, max_bytes: int, backups: int, masker: Masker):
        super().__init__()
        self.path, self.max_bytes, self.backups, self.masker = path, max_bytes, backups, masker
        self.setFormatter(LineFormatter())
        self.fd: int | None = None
        self.lost = 0
        self.reported = False
        self._retry_at = 0.0

    def open(self) -> None:
        """Open the file now; raises OSError."""
        self.fd = open_private(self.path)

    def close(self) -> None:
        self.acquire()
        try:
            self._close_fd()
        finally:
            self.release()
        super().close()

    def _close_fd(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.masker(self.format(record))
            self.write((line + "\n").encode("utf-8", "replace"))
        except Exception as e:
            self.failed(e)

    def write(self, data: bytes) -> None:
        if self.fd is None:
            if time.monotonic() < self._retry_at:
                raise OSError(f"not writing to {self.path} (failed before)")
            self.open()
        if self.lost:
            now = datetime.now().astimezone().isoformat(sep=" ", timespec="milliseconds")
            self._append(f"[W {now} CullExt] {self.lost} log line(s) could not be written "
                         "to this file.\n".encode())
            self.lost = 0
        self._append(data)

    def _append(self, data: bytes) -> None:
        st = os.fstat(self.fd)
        if st.st_nlink == 0:  # deleted under us (``rm ~/.jupyter-server-log.txt``): recreate
            self._close_fd()
            self.open()
            st = os.fstat(self.fd)
        if stat.S_ISREG(st.st_mode):
            rotate, length = rotation_plan(st.st_size, len(data), self.max_bytes)
            if rotate:
                self.rotate()
            data = fit(data, length)
        while data:
            data = data[os.write(self.fd, data):]

    def rotate(self) -> None:
        if not self.backups:
            os.ftruncate(self.fd, 0)
            return
        self._close_fd()
        for src, dst in rotation_renames(self.path, self.backups):
            if os.path.lexists(src):
                os.replace(src, dst)
        self.open()

    def failed(self, error: Exception) -> None:
        self.lost += 1
        if isinstance(error, OSError) and self.fd is None:
            self._retry_at = time.monotonic() + RETRY_EVERY
        if not self.reported:
            self.reported = True
            warn_stderr(f"cannot write the server log {self.path}: {error}; the server runs "
                        "on without it (culling is not affected).")


def same_file(fd: int, path: str) -> bool:
    """Whether open file ``fd`` is the file at ``path``."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def stream_fd(handler: logging.Handler) -> int | None:
    try:
        return handler.stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None


class ServerLog:
    """The log file and the loggers it covers.

    ``handler`` is None when the file is off, could not be opened, or is already written by
    the server's own stderr (``mirrored``: then that stderr handler is masked instead).
    """

    def __init__(self, path: str, handler: ServerLogHandler | None, masker: Masker,
                 mirrored: bool = False):
        self.path, self.handler, self.masker, self.mirrored = path, handler, masker, mirrored

    def cover(self, loggers: Iterable[Any]) -> None:
        """Write what ``loggers`` log to the file. Idempotent, and called again later: an
        application that reconfigures its logging (traitlets does on a log_level change)
        drops the handlers it did not configure."""
        for logger in loggers:
            if not isinstance(logger, logging.Logger):
                continue
            for old in list(logger.handlers):
                if isinstance(old, ServerLogHandler) and old is not self.handler:
                    # another server's, earlier in this process (tests run many)
                    logger.removeHandler(old)
                    old.close()
            if self.handler is not None:
                logger.addHandler(self.handler)  # no-op if it is there
            elif self.mirrored:
                self._mask_stream_handlers(logger)

    def _mask_stream_handlers(self, logger: logging.Logger) -> None:
        for h in logger.handlers:
            fd = stream_fd(h)
            if fd is not None and same_file(fd, self.path):
                inner = h.formatter
                if isinstance(inner, MaskingFormatter):
                    inner = inner.inner
                h.setFormatter(MaskingFormatter(inner, self.masker))

    def cover_server(self, serverapp: Any) -> None:
        """The server's and every extension app's logger, and the server's token as a
        literal secret. Called at load (every extension is linked, so their log settings are
        final) and again at start."""
        self.masker.add(getattr(serverapp.identity_provider, "token", None))
        apps = serverapp.extension_manager.extension_apps.values()
        self.cover([serverapp.log] + [app.log for group in apps for app in group])


def start(path: str, max_bytes: int, backups: int, serverapp: Any, log: Any) -> ServerLog:
    """Open the log file at ``path`` ('' = off) and cover the server's and ``log``'s lines."""
    masker = Masker(os.environ.get(k) for k in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"))
    if not path:
        server_log = ServerLog("", None, masker)
        log.info("jupyter_cull_ext: not writing a server log file (server_log_path is empty).")
        return server_log
    path = os.path.abspath(os.path.expanduser(path))
    loggers = [serverapp.log, log]
    writers = [h for lg in loggers for h in lg.handlers if stream_fd(h) is not None]
    if any(same_file(stream_fd(h), path) for h in writers):
        server_log = ServerLog(path, None, masker, mirrored=True)
        try:
            os.chmod(path, 0o600)  # see narrow(): it was created by a shell redirection
        except OSError:
            pass
        server_log.cover(loggers)
        log.info("jupyter_cull_ext: the server's output already goes to %s; not writing it "
                 "there a second time (lines are masked; no size cap applies).", path)
        return server_log
    handler = ServerLogHandler(path, max_bytes, backups, masker)
    handler.setLevel(serverapp.log_level)
    try:
        handler.open()
    except OSError as e:
        handler.failed(e)
        return ServerLog(path, None, masker)
    server_log = ServerLog(path, handler, masker)
    server_log.cover(loggers)
    log.info("jupyter_cull_ext: writing the server log to %s (pid %d; at most %d bytes, "
             "%d older file(s) kept).", path, os.getpid(), max_bytes, backups)
    return server_log


# --- events ---------------------------------------------------------------------------------


class CullEvents:
    """Emits our decisions as events of schema ``SCHEMA_ID``; never raises.

    ``emit(kind, **fields)`` is the one entry point (the enforcer and the hub reporter call
    it); ``by`` defaults to ``"culler"``, and fields that are None are left out.
    """

    def __init__(self, event_logger: Any, log: Any):
        self.event_logger = event_logger
        self.log = log
        if SCHEMA_ID not in event_logger.schemas:
            event_logger.register_event_schema(SCHEMA_PATH)

    def emit(self, kind: str, **fields: Any) -> None:
        data = {"action": kind, "by": "culler"}
        data.update({k: v for k, v in fields.items() if v is not None})
        try:
            self.event_logger.emit(schema_id=SCHEMA_ID, data=data)
        except Exception:
            self.log.warning("jupyter_cull_ext: could not emit the %s event", kind,
                             exc_info=True)
