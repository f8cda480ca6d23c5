"""What Linux's /proc tells about processes: used by the real-process tests and the benchmarks
to find the kernels a server started and to tell whether a pid is still the same process."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def cmdline(pid: int) -> bytes:
    """The command line of ``pid`` (NUL-separated), or ``b""`` once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``, e.g. the kernels a server started."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def running_with(text: bytes) -> dict[int, bytes]:
    """Every process whose command line contains ``text``, with that command line (for
    ``kill_leftovers``): e.g. the detached jobs a test tagged, no longer anyone's children."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and text in (command := cmdline(int(entry.name))):
            found[int(entry.name)] = command
    return found


def kill_leftovers(processes: dict[int, bytes]) -> None:
    """SIGKILL each pid (noted with its ``cmdline``) that is still that same process: the
    kernels a server or gateway left behind, never a pid reused since."""
    for pid, command in processes.items():
        if command and cmdline(pid) == command:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
