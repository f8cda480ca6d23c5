"""``~/.jupyter-server-log.txt``: the log users and admins read ("why was my server stopped?").

Hub operators tell users and admins to ``cat ~/.jupyter-server-log.txt`` to see what happened
in a session. repo2docker's start script creates that file (``exec "$@" >>
~/.jupyter-server-log.txt 2>&1``); elsewhere nothing does. Here the extension writes it:

- everything the server and its extensions log, one timestamped line per record naming the
  server that wrote it (``server_origin``): the ``ServerApp`` logger (jupyter_server's
  managers and tornado's loggers all log through it) and each extension app's own logger
  (``LabApp``, ``CullExt`` ...);
- masked (``Masker``): tokens, ``Authorization`` headers, cookies, ``_xsrf`` values,
  passwords in URLs;
- capped (``ServerLogHandler``): rotated *before* a write would take it past its size, so a
  chatty server can never fill a home quota;
- shareable: servers writing one file lock it around each write and rotation, and one whose
  file another rotated away reopens the path instead of rotating (deleting) again;
- private: created with mode 0600, and narrowed to 0600 if it existed wider;
- only ours (``open_private``): the home may be written with more rights than its owner
  has (a root server), so only a regular file of the server's user is written, chmodded or
  emptied; a symlink, a FIFO (which would also hang the open) or someone else's file there
  is refused with one line in the server's log, and the server runs without the file;
- harmless: a home that is read-only or full, or a path that is a directory, costs one line;
  the server runs on and culling is not affected;
- once: when the server's log output already goes into the file (repo2docker), nothing is
  added (every line would appear twice); those lines are masked instead, but no size cap
  applies to a file a shell appends to.

The handler is attached at link time, so our configuration messages are in the file, and
stays attached until the process exits, so the kernel shutdowns that follow a server stop are
too. Kernels' own output is not captured.

Masking is ``logmask``'s job, the file on disk ``logfile``'s; our decisions are also
jupyter_events events (``events``).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from .logfile import (
    fit,
    lock,
    narrow_mirror,
    open_private,
    rotation_plan,
    rotation_renames,
    same_file,
    same_inode,
    unlock,
    warn_stderr,
)
from .logmask import Masker

#: After a failed write, do not try to reopen the file more often than this (seconds).
RETRY_EVERY = 30.0
#: Tries to write a line into a file that other servers keep rotating away.
ATTEMPTS = 5


# --- pure: masking and rotation -------------------------------------------------------------


def server_origin(env: Mapping[str, str], pid: int | None = None,
                  host: str | None = None) -> str:
    """Which server wrote a line, for an admin reading a file that two servers share: the
    hub's name for it (``alice``, or ``alice:gpu`` for a named server, as the hub's own log
    names it), outside a hub the host name; then the process id, which tells apart servers
    of one name (a server started in another's terminal inherits its hub variables)."""
    user = env.get("JUPYTERHUB_USER", "").strip()
    name = env.get("JUPYTERHUB_SERVER_NAME", "").strip()
    if user:
        who = f"{user}:{name}" if name else user
    else:
        who = (host or socket.gethostname()).split(".")[0] or "localhost"
    who = re.sub(r"[\s\[\]]+", "_", who)  # one word, that cannot end the line's head
    return f"{who} {os.getpid() if pid is None else pid}"


# --- I/O: the file --------------------------------------------------------------------------


class LineFormatter(logging.Formatter):
    """``[W 2026-01-01 12:00:00.123+00:00 alice:gpu 4711 ServerApp] message``:
    jupyter_server's layout with the date and the UTC offset, since the file outlives the
    terminal it was read in, and the server that wrote it (``server_origin``). The message
    and its traceback are masked; the head holds nothing secret."""

    def __init__(self, origin: str, masker: Masker) -> None:
        super().__init__("%(message)s")
        self.origin, self.masker = origin, masker

    def format(self, record: logging.LogRecord) -> str:
        body = self.masker(super().format(record))
        return self.head(record.levelname, record.name, record.created) + body

    def head(self, level: str, name: str, created: float) -> str:
        when = datetime.fromtimestamp(created).astimezone()
        return f"[{level[:1]} {when.isoformat(sep=' ', timespec='milliseconds')} " \
               f"{self.origin} {name}] "


class MaskingFormatter(logging.Formatter):
    """Wraps another handler's formatter, masking what it produces."""

    def __init__(self, inner: logging.Formatter | None, masker: Masker):
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.masker = masker

    def format(self, record: logging.LogRecord) -> str:
        return self.masker(self.inner.format(record))


class ServerLogHandler(logging.Handler):
    """Appends masked, timestamped lines to a size-capped file, rotating before the cap.

    Several servers may write one file (named servers sharing a home, a server started in
    another's terminal): each write and rotation holds the file's lock, and a server whose
    file was rotated away by another reopens the path instead of writing, renaming or
    emptying the old one.

    It never raises into the server: a failure is reported once on stderr, the lines that
    could not be written are counted (and the count written once writing works again), and
    reopening is retried at most every ``RETRY_EVERY`` seconds.
    """

    def __init__(self, path: str, max_bytes: int, backups: int, masker: Masker,
                 origin: str | None = None):
        super().__init__()
        self.path, self.max_bytes, self.backups, self.masker = path, max_bytes, backups, masker
        self.formatter: LineFormatter = LineFormatter(
            server_origin(os.environ) if origin is None else origin, masker)
        self.fd: int | None = None
        self.regular = False
        self._reopen = False
        self.lost = 0
        self.reported = False
        self._retry_at = 0.0

    def open(self) -> None:
        """Open the file now; raises OSError (UnsafeLogFile: not a file of ours)."""
        self.fd = open_private(self.path)
        self.regular = stat.S_ISREG(os.fstat(self.fd).st_mode)

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
            self.write((self.format(record) + "\n").encode("utf-8", "replace"))
        except Exception as e:
            self.failed(e)

    def write(self, data: bytes) -> None:
        if self.fd is None:
            if time.monotonic() < self._retry_at:
                raise OSError(f"not writing to {self.path} (failed before)")
            self.open()
        if self.lost:
            head = self.formatter.head("WARNING", "CullExt", time.time())
            self._append(f"{head}{self.lost} log line(s) could not be written to this "
                         "file.\n".encode())
            self.lost = 0
        self._append(data)

    def _append(self, data: bytes) -> None:
        def append(st: os.stat_result) -> bool:
            rotate, length = rotation_plan(st.st_size, len(data), self.max_bytes)
            if rotate:
                self._rotate_held()
                return False  # again, into the new (or emptied) file
            self._write_all(fit(data, length))
            return True

        for _ in range(ATTEMPTS):
            if self.fd is None:
                self.open()
            if not self.regular:  # a device: no size, nothing to rotate
                self._write_all(data)
                return
            if self._under_lock(append):
                return
        raise OSError(f"{self.path} kept being replaced while writing to it")

    def _write_all(self, data: bytes) -> None:
        while data:
            data = data[os.write(self.fd, data):]

    def rotate(self) -> None:
        """Rotate the file now; if another server already has (the file open is no longer
        the one at the path), only reopen."""
        if self.fd is None:
            self.open()
        if self.regular:
            self._under_lock(lambda st: self._rotate_held() or False)

    def _under_lock(self, action: Callable[[os.stat_result], bool]) -> bool:
        """``action(status)`` holding the file's lock, if the file open is still the one at
        the path; one that is not (renamed away by another server's rotation, deleted,
        replaced) is closed instead, to be reopened. What ``action`` returned, else False."""
        fd = self.fd
        held = lock(fd)
        self._reopen = False
        try:
            st = os.fstat(fd)
            if not same_inode(st, self.path):
                self._reopen = True
                return False
            return action(st)
        finally:
            if held:
                unlock(fd)  # explicitly: a forked child may share the open file
            if self._reopen:
                self._close_fd()

    def _rotate_held(self) -> None:
        if not self.backups:
            os.ftruncate(self.fd, 0)
            return
        self._reopen = True  # the path names another file (or none) from here on
        for src, dst in rotation_renames(self.path, self.backups):
            if os.path.lexists(src):
                os.replace(src, dst)

    def failed(self, error: Exception) -> None:
        self.lost += 1
        if isinstance(error, OSError) and self.fd is None:
            self._retry_at = time.monotonic() + RETRY_EVERY
        if not self.reported:
            self.reported = True
            warn_stderr(f"cannot write the server log {self.path}: {error}; the server runs "
                        "on without it (culling is not affected).")


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
    mirror = next((fd for fd in map(stream_fd, writers) if same_file(fd, path)), None)
    if mirror is not None:
        server_log = ServerLog(path, None, masker, mirrored=True)
        narrow_mirror(mirror, path)
        server_log.cover(loggers)
        log.info("jupyter_cull_ext: the server's output already goes to %s; not writing it "
                 "there a second time (lines are masked; no size cap applies).", path)
        return server_log
    handler = ServerLogHandler(path, max_bytes, backups, masker)
    handler.setLevel(serverapp.log_level)
    try:
        handler.open()
    except OSError as e:
        log.warning("jupyter_cull_ext: cannot write the server log %s: %s; the server runs "
                    "on without it (culling is not affected).", path, e)
        return ServerLog(path, None, masker)
    server_log = ServerLog(path, handler, masker)
    server_log.cover(loggers)
    log.info("jupyter_cull_ext: writing the server log to %s (pid %d; at most %d bytes, "
             "%d older file(s) kept).", path, os.getpid(), max_bytes, backups)
    return server_log
