"""Work outside kernels: what runs in each terminal, and this server's other processes.

A terminal is *busy* while its foreground process group is not its shell (a command runs,
like ``python train.py > out.log``), unless every process of that group is only waiting for
the keyboard: blocked in ``read``/``select`` on the terminal itself (``read x``, ``input()``,
``less``, ``vi``, ``top``), which is waiting for a person, not work. That is read from
``/proc/<pid>/syscall`` on Linux (x86_64 and aarch64); elsewhere a running command is busy.

Other processes count while they use CPU (``ProcessWatch``). Which processes are this
server's? Every process started from it inherits the environment variable ``MARKER`` with
this server's id, however it was detached (``nohup``, ``setsid``, a double fork re-parented
to PID 1, an app behind jupyter-server-proxy). Only processes of our own user are looked at,
so another user's or another server's processes never count, in a container or on a shared
host (TLJH, SystemdSpawner, batchspawner).
"""

from __future__ import annotations

import os
import platform
import time
import uuid
from dataclasses import dataclass

import psutil

#: Set in the server's environment at startup, inherited by everything it starts.
MARKER = "JUPYTER_CULL_SERVER_ID"

#: Syscall numbers of read, select and pselect6, by machine (``/proc/<pid>/syscall``).
_WAITING_SYSCALLS = {
    "x86_64": {"read": 0, "select": 23, "pselect6": 270},
    "aarch64": {"read": 63, "pselect6": 72},
}


@dataclass(frozen=True)
class TerminalJob:
    """The command running in a terminal's foreground."""

    pid: int
    command: str
    waiting_for_input: bool  # blocked reading the terminal: waiting for a person


def terminal_job(shell_pid: int, pty_fd: int) -> TerminalJob | None:
    """What runs in the foreground of a terminal, or None at its shell's prompt."""
    try:
        group = os.tcgetpgrp(pty_fd)
    except OSError:
        return None  # closed, or not a terminal any more
    if group in (shell_pid, -1):
        return None
    try:
        command = " ".join(psutil.Process(group).cmdline())
    except psutil.Error:
        command = ""
    members = [p for p in _group_members(group, shell_pid)] or [group]
    tty = _tty_of(shell_pid)
    waiting = tty is not None and all(_waits_on(pid, tty) for pid in members)
    return TerminalJob(group, command or f"pid {group}", waiting)


def _group_members(group: int, shell_pid: int) -> list[int]:
    try:
        children = psutil.Process(shell_pid).children(recursive=True)
    except psutil.Error:
        return []
    members = []
    for child in children:
        try:
            if os.getpgid(child.pid) == group:
                members.append(child.pid)
        except OSError:
            continue
    return members


def _tty_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/fd/0")
    except OSError:
        return None


def _waits_on(pid: int, tty: str) -> bool:
    """Whether ``pid`` sleeps in read/select on ``tty`` (its file descriptors below the
    select's ``nfds`` are all that terminal)."""
    calls = _WAITING_SYSCALLS.get(platform.machine())
    if calls is None:
        return False
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return False
    if not fields or not fields[0].isdigit():
        return False  # "running", or not readable
    number, first = int(fields[0]), int(fields[1], 16)
    if number == calls["read"]:
        fds = [first]
    elif number in (calls.get("select"), calls["pselect6"]):
        fds = list(range(first))  # nfds: every descriptor below it may be watched
    else:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != tty:
                return False
        except OSError:
            continue  # not open: not watched
    return bool(fds)


@dataclass(frozen=True)
class Busy:
    """A process of this server that used CPU in the last sample."""

    pid: int
    name: str
    command: str
    cpu: float  # cores used on average since the previous sample


class ProcessWatch:
    """Samples this server's processes (not kernels, not terminals) for CPU use.

    Cheap enough to run every few seconds on a shared host with hundreds of processes: each
    sample reads only the processes known to be ours; the process table is scanned for new
    ones when something counted since the last scan (a job is started by someone typing or
    running code, which counts) and otherwise every ``SCAN_EVERY`` samples (jobs started by
    jobs). A new process is classified once: its user, then its environment; every process
    is classified afresh every ``RECHECK_EVERY`` samples (a pid reused by one of ours)."""

    SCAN_EVERY = 6
    RECHECK_EVERY = 60

    def __init__(self, threshold: float, server_id: str | None = None):
        self.threshold = threshold
        self.server_id = server_id or os.environ.setdefault(MARKER, uuid.uuid4().hex)
        self.uid = os.getuid()
        self._marker = f"{MARKER}={self.server_id}\0".encode()
        self._ours: dict[int, psutil.Process | None] = {}  # pid -> the process if ours
        self._cpu: dict[int, tuple[float, float]] = {}  # pid -> (cpu seconds, monotonic)
        self._samples = 0

    def sample(self, exclude: set[int], scan: bool = False) -> list[Busy]:
        """Processes that used more than ``threshold`` cores since the previous sample;
        ``exclude`` are pids already accounted for (the server, kernels, terminal shells);
        ``scan``: look for new processes now (something counted since the last sample)."""
        now = time.monotonic()
        if self._samples % self.RECHECK_EVERY == 0:
            self._ours.clear()
        if scan or self._samples % self.SCAN_EVERY == 0:
            pids = _pids()
            self._ours = {pid: proc for pid, proc in self._ours.items() if pid in pids}
            for pid in pids - self._ours.keys():
                self._ours[pid] = self._if_ours(pid)
        self._samples += 1
        busy, seen = [], {}
        for pid, proc in list(self._ours.items()):
            if proc is None or pid in exclude:
                continue
            try:
                times = proc.cpu_times()
            except psutil.Error:
                self._ours[pid] = None  # gone (a new process with its pid is found later)
                continue
            used = times.user + times.system
            seen[pid] = (used, now)
            before = self._cpu.get(pid)
            if before is not None and now > before[1]:
                cores = (used - before[0]) / (now - before[1])
                if cores > self.threshold:
                    busy.append(_describe(proc, cores))
        self._cpu = seen
        return busy

    def _if_ours(self, pid: int) -> psutil.Process | None:
        """The process if it is our user's and carries this server's marker (read straight
        from ``/proc`` where there is one: a scan classifies every new pid)."""
        try:
            if os.stat(f"/proc/{pid}").st_uid != self.uid:
                return None
            with open(f"/proc/{pid}/environ", "rb") as f:
                marked = self._marker in f.read()
            return psutil.Process(pid) if marked else None
        except FileNotFoundError:
            return None  # gone
        except OSError:
            return self._if_ours_portable(pid)  # no /proc, or not readable that way
        except psutil.Error:
            return None

    def _if_ours_portable(self, pid: int) -> psutil.Process | None:
        try:
            proc = psutil.Process(pid)
            if proc.uids().real != self.uid:
                return None
            return proc if proc.environ().get(MARKER) == self.server_id else None
        except psutil.Error:
            return None


def _pids() -> set[int]:
    """The running pids: ``/proc`` read directly where there is one (a tenth of the cost)."""
    try:
        return {int(name) for name in os.listdir("/proc") if name.isdigit()}
    except OSError:
        return set(psutil.pids())


def _describe(proc: psutil.Process, cores: float) -> Busy:
    try:
        name, command = proc.name(), " ".join(proc.cmdline())
    except psutil.Error:
        name, command = "?", ""
    return Busy(proc.pid, name, command or name, round(cores, 2))
