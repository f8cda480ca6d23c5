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
    """Samples this server's processes (not kernels, not terminals) for CPU use."""

    def __init__(self, threshold: float, server_id: str | None = None):
        self.threshold = threshold
        self.server_id = server_id or os.environ.setdefault(MARKER, uuid.uuid4().hex)
        self.uid = os.getuid()
        self._ours: dict[tuple[int, float], bool] = {}  # (pid, create time) -> ours?
        self._cpu: dict[int, tuple[float, float]] = {}  # pid -> (cpu seconds, monotonic)
        self.last: list[Busy] = []

    def sample(self, exclude: set[int]) -> list[Busy]:
        """Processes that used more than ``threshold`` cores since the previous sample;
        ``exclude`` are pids already accounted for (the server, kernels, terminal shells)."""
        now = time.monotonic()
        busy, seen, alive = [], {}, set()
        for proc in psutil.process_iter(["pid", "uids", "create_time"]):
            info = proc.info
            if not info["uids"] or info["uids"].real != self.uid:
                continue
            alive.add(info["pid"])
            if info["pid"] in exclude or not self._is_ours(proc, info):
                continue
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            used = times.user + times.system
            seen[info["pid"]] = (used, now)
            before = self._cpu.get(info["pid"])
            if before is None or now <= before[1]:
                continue
            cores = (used - before[0]) / (now - before[1])
            if cores > self.threshold:
                busy.append(self._describe(proc, cores))
        self._cpu = seen
        self._ours = {k: v for k, v in self._ours.items() if k[0] in alive}
        self.last = busy
        return busy

    def _is_ours(self, proc: psutil.Process, info: dict) -> bool:
        key = (info["pid"], info["create_time"] or 0.0)
        if key not in self._ours:
            try:
                self._ours[key] = proc.environ().get(MARKER) == self.server_id
            except psutil.Error:
                self._ours[key] = False
        return self._ours[key]

    @staticmethod
    def _describe(proc: psutil.Process, cores: float) -> Busy:
        try:
            name, command = proc.name(), " ".join(proc.cmdline())
        except psutil.Error:
            name, command = "?", ""
        return Busy(proc.pid, name, command or name, round(cores, 2))
