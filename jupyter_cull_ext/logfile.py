"""The server log file on disk: opened safely, locked, rotated, shared.

The home may be written with more rights than its owner has (a root server), and other
servers (named servers of one user, a server started in another's terminal) may write the
same file. So only a regular file of the server's user is ever written, chmodded or emptied
(``open_private``, ``refusal``); writers lock the file around each write and rotation
(``lock``), and one whose file was rotated away by another reopens the path (``same_file``)
instead of rotating again. ``rotation_plan``, ``fit``, ``rotation_renames`` and ``refusal``
are pure.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import sys
import time

#: Seconds to wait for the lock another server holds on the file before writing unlocked.
LOCK_WAIT = 0.5
#: Never through a symlink (the last component), never waiting for a FIFO's reader, never
#: making a terminal the controlling one.
OPEN_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
              | os.O_NONBLOCK | os.O_NOCTTY)


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
