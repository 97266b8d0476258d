"""The watchdog: a process at real-time priority that ends every process of the uid when they reach the process
limit (a fork bomb) or keep nearly every core busy (a CPU bomb). Run as `python -m ticketrail.sandbox.watchdog`."""

from __future__ import annotations

import os
import signal
import sys
import time

from ticketrail._libc import PR_SET_PDEATHSIG, libc
from ticketrail.sandbox.uids import cpu_seconds_of, end_processes, tasks_of

WATCH_PERIOD = 0.2
BUSY_WINDOW = 3.0  # seconds of...
BUSY_SHARE = 0.9  # ...this share of every core: no program of the kit's exercises comes near it
LIMIT_MARGIN = 10  # tasks short of the process limit that count as reaching it (zombies count for the kernel only)


def priority() -> None:
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except OSError:
        pass  # without real-time priority it still works, only later under load


def watch(uid: int, gid: int, limit: int) -> None:
    """The watchdog's loop: one line on stdout each time it stopped the uid's processes, saying why."""
    cores = len(os.sched_getaffinity(0))
    samples: list[tuple[float, float]] = []
    while True:
        time.sleep(WATCH_PERIOD)
        tasks = tasks_of(uid)
        now, used = time.monotonic(), cpu_seconds_of(uid)
        samples = [(at, cpu) for at, cpu in samples if now - at <= BUSY_WINDOW] + [(now, used)]
        span = samples[-1][0] - samples[0][0]
        busy = samples[-1][1] - samples[0][1]  # programs that ended meanwhile take their time along: never more
        if tasks >= limit - LIMIT_MARGIN:
            why = (f"the programs reached the limit of {limit} processes and threads ({tasks} running): a fork "
                   "bomb? All of them were stopped")
        elif span >= BUSY_WINDOW * 0.9 and busy >= BUSY_SHARE * cores * span:
            why = (f"the programs kept all {cores} cores busy for {BUSY_WINDOW:.0f} s: a CPU bomb? All of them "
                   "were stopped")
        else:
            continue
        end_processes(uid, gid)
        samples = []
        print(why, flush=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
