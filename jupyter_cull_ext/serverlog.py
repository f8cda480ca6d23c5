"""``~/.jupyter-server-log.txt``, and our decisions as jupyter_events events.

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

Every decision of ours is also emitted as an event of schema ``SCHEMA_ID``
(``events/cull.yaml``) through ``CullEvents.emit(kind, **fields)``; events carry
``by: culler`` (or ``user``), which jupyter_server's ``kernel_actions`` event, the same for a
cull and a user's shutdown, cannot tell.

``Masker``, ``rotation_plan``, ``fit``, ``rotation_renames``, ``server_origin`` and
``refusal`` are pure; the rest does I/O.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterable, Mapping
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
#: Seconds to wait for the lock another server holds on the file before writing unlocked.
LOCK_WAIT = 0.5
#: Tries to write a line into a file that other servers keep rotating away.
ATTEMPTS = 5

_NAMES = r"[\w.-]*(?:token|secret|password|passwd|xsrf|api_?key)[\w.-]*"
#: An optional quote after ``=`` or ``:``, escaped too (JSON inside JSON): it is kept.
_QUOTE = r"""(?:\\?['"])?"""
_PATTERNS = (
    # Cookie / Set-Cookie: every cookie of the user's session, quoted values included: a
    # value in quotes (JSON, a dict repr) up to its closing quote, a bare one (a header line,
    # `Cookie: _xsrf="2|…"`) to the end of the line. First, so that no other pattern has cut
    # the value (and its escaped quotes) short.
    re.compile(r"""(?i)(\b(?:set-)?cookie['"]?\s*[:=]\s*(?:(")|(')|(?=[^\s'"\\])))"""
               r"""((?(2)(?:\\.|[^"\\\r\n])+|(?(3)(?:\\.|[^'\\\r\n])+|[^\r\n]+)))"""),
    # name=value and name: value, in URLs, query strings, form bodies, environment dumps,
    # HTTP headers, YAML and dict reprs: ?token=…, &_xsrf=…, JUPYTERHUB_API_TOKEN=…,
    # GITHUB_TOKEN="…", X-XSRFToken: 2|…, GITHUB_TOKEN: ghp_…, 'token': '…'
    re.compile(rf"""(?i)(\b{_NAMES}\\?['"]?\s*[=:]\s*{_QUOTE})([^\s&;,'"<>{{}}\\]+)"""),
    # the same keys in JSON or a Python dict repr, for values with spaces: "password": "a b"
    re.compile(rf"""(?i)(['"]{_NAMES}['"]\s*:\s*['"])([^'"]+)"""),
    # Authorization: token …, 'Authorization': 'Bearer …' (the scheme is kept)
    re.compile(
        r"""(?i)(\b(?:proxy-)?authorization['"]?\s*[:=]\s*['"]?"""
        r"""(?:(?:token|bearer|basic|digest)\s+)?)([^\s'",}]+)"""
    ),
    # a bearer credential wherever it appears
    re.compile(r"(?i)(\bbearer\s+)([\w.~+/-]+=*)"),
    # credentials in a URL, as git and pip log them: https://alice:s3cret@host/ keeps the
    # user, https://ghp_…@host/ (a token as the user) is masked whole
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://(?:[^\s/?#@:]*:)?)([^\s/?#@]+)(?=@)"),
)
#: What the patterns above need, under the same case rules: a word of the first five, or
#: the last one's ``://`` … ``@``. Looking for these first lets the common line (no
#: credential in sight) skip the patterns, a fifth of their cost.
_ANY_NAME = re.compile(r"(?i)token|secret|passw|xsrf|api_?key|authorization|cookie|bearer")
_USERINFO = re.compile(r"://[^\s/?#@]*@")


def _may_hold_credentials(text: str) -> bool:
    return (_ANY_NAME.search(text) is not None
            or ("@" in text and _USERINFO.search(text) is not None))


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
        return mask_patterns(text) if _may_hold_credentials(text) else text


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


def refusal(st: os.stat_result, uid: int) -> str | None:
    """Why the log file opened as ``st`` must not be written by a server running as ``uid``
    (None: it may). Only a file of the server's user: anything else at the path was put
    there by someone else, and writing, chmodding or emptying it would be done with the
    server's rights. A character device (``/dev/full``) is written as it is, never rotated."""
    if stat.S_ISFIFO(st.st_mode):
        return "it is a named pipe, not a regular file"
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        return "it is not a regular file"
    if st.st_uid != uid:
        return f"it belongs to uid {st.st_uid}, not to this server's user (uid {uid})"
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        return f"it has {st.st_nlink} hard links (another name may be someone else's file)"
    return None


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


def warn_stderr(message: str) -> None:
    """A line on stderr that cannot go through logging (it would come back to us)."""
    try:
        print(f"jupyter_cull_ext: {message}", file=sys.stderr, flush=True)
    except Exception:  # a closed stderr must not break the server either
        pass


class UnsafeLogFile(OSError):
    """Something other than a file of the server's user is at the log path."""

    def __str__(self) -> str:
        return str(self.strerror)


#: Never through a symlink (the last component), never waiting for a FIFO's reader, never
#: making a terminal the controlling one.
OPEN_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
              | os.O_NONBLOCK | os.O_NOCTTY)


def open_private(path: str) -> int:
    """Open ``path`` for appending, created with mode 0600; only a file of the server's user
    (``refusal``), else UnsafeLogFile, with nothing written, chmodded or truncated."""
    try:
        fd = os.open(path, OPEN_FLAGS, 0o600)
    except OSError as e:
        # ELOOP: a symlink (O_NOFOLLOW); ENXIO: a FIFO nobody reads (O_NONBLOCK)
        if e.errno in (errno.ELOOP, errno.ENXIO):
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                raise e from None
            if stat.S_ISLNK(mode):
                raise UnsafeLogFile(e.errno, "it is a symbolic link; not following it",
                                    path) from None
            if stat.S_ISFIFO(mode):
                raise UnsafeLogFile(e.errno, "it is a named pipe, not a regular file",
                                    path) from None
        raise
    try:
        st = os.fstat(fd)
        reason = refusal(st, os.geteuid())
        if reason:
            raise UnsafeLogFile(errno.EPERM, reason, path)
        os.set_blocking(fd, True)
        narrow(fd, st)
    except OSError:
        os.close(fd)
        raise
    return fd


def narrow(fd: int, st: os.stat_result | None = None) -> None:
    """Make a regular file private. The mode given to open() applies only to a file it
    creates; this one may predate us (repo2docker's start script creates it with the umask,
    usually 0644), and it records what the user did, with paths and names: only its owner
    should read it. Devices are left alone."""
    st = st or os.fstat(fd)
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        os.fchmod(fd, 0o600)


def lock(fd: int) -> bool:
    """Take the exclusive lock every server writing this file takes around each write and
    rotation; False if it could not be had within ``LOCK_WAIT`` seconds (the write goes
    ahead unlocked: a stuck process must not stall this server's logging) or the
    filesystem has no locks."""
    deadline, pause = None, 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            now = time.monotonic()
            deadline = deadline or now + LOCK_WAIT
            if now >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        except OSError:  # ENOLCK (NFS without a lock manager) and the like
            return False


def unlock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


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


def same_file(fd: int, path: str) -> bool:
    """Whether open file ``fd`` is the file at ``path`` (symlinks followed)."""
    try:
        return same_inode(os.fstat(fd), path, follow_symlinks=True)
    except OSError:
        return False


def same_inode(st: os.stat_result, path: str, follow_symlinks: bool = False) -> bool:
    """Whether ``st`` is the status of the file at ``path`` (by default: the path itself,
    not a symlink's target)."""
    try:
        at = os.stat(path, follow_symlinks=follow_symlinks)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (at.st_dev, at.st_ino)


def narrow_mirror(fd: int, path: str) -> None:
    """``narrow`` the file a shell redirection created (with the umask) for the server's
    output, through the server's own descriptor, and only if ``path`` itself is that file
    and ours: never through a symlink, never someone else's file."""
    try:
        st = os.fstat(fd)
        if (stat.S_ISREG(st.st_mode) and refusal(st, os.geteuid()) is None
                and same_inode(st, path)):
            narrow(fd, st)
    except OSError:
        pass


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
