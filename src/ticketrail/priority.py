"""A measurement's programs first in line for the cores while it times requests.

Gradings share a machine, and a latency budget is about the student's code, not about the other gradings' load.
Every program the harness starts is a session of its own (a bubblewrap jail makes another inside), and with the
kernel's autogroups each session competes for the cores as one: a process's own nice value weighs only against its
session's other processes. So the weight is raised per autogroup (/proc/PID/autogroup), for the measuring process
and everything it started, and put back afterwards. It takes root (CAP_SYS_NICE); without it the measurement runs
at the usual weight, as it always did.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

from ticketrail import procfs

# Weight 88761 against 1024 for a session at nice 0. A measurement holds the machine's lock (latency.exclusive),
# so one grading at a time has it, for the seconds its requests take; nice -10 left a correct solution's burst at
# 0.24 to 0.36 s beside five busy gradings, -20 at 0.20 to 0.27 s (the quiet machine's: 0.16 s).
MEASURING_NICE = -20
# A measurement of a correct solution takes a few seconds (30 requests within budget, or a burst); one whose
# requests hang is not given the cores for longer than this, whatever its programs do meanwhile.
LONGEST = 30.0


def _autogroup(pid: int) -> tuple[str, int] | None:
    """(the autogroup's name, its nice value), e.g. ("/autogroup-85", 0)."""
    try:
        with open(f"/proc/{pid}/autogroup") as entry:
            name, _, nice = entry.read().split()
        return name, int(nice)
    except (OSError, ValueError):
        return None


def _set(pid: int, nice: int) -> bool:
    try:
        with open(f"/proc/{pid}/autogroup", "w") as entry:
            entry.write(str(nice))
        return True
    except OSError:  # gone, not ours to change, or no autogroups on this kernel
        return False


def _measured() -> list[int]:
    me = os.getpid()
    return [me, *procfs.descendants(me)]


class _Favour:
    def __init__(self, nice: int) -> None:
        self._before: dict[str, int] = {}  # autogroup name -> its nice value before
        self._lock = threading.Lock()
        for pid in _measured():
            group = _autogroup(pid)
            if group is not None and group[0] not in self._before and group[1] > nice and _set(pid, nice):
                self._before[group[0]] = group[1]

    def end(self) -> None:
        with self._lock:
            if not self._before:
                return
            # Through any member still alive: a program may have ended, or started others, meanwhile.
            for pid in _measured():
                group = _autogroup(pid)
                if group is not None and group[0] in self._before:
                    _set(pid, self._before.pop(group[0]))
            self._before.clear()


@contextlib.contextmanager
def favoured(nice: int = MEASURING_NICE, longest: float = LONGEST) -> Iterator[None]:
    """This process and its descendants weigh `nice` for the duration, `longest` seconds at most; their groups'
    own values come back after."""
    favour = _Favour(nice)
    timer = threading.Timer(longest, favour.end)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        favour.end()
