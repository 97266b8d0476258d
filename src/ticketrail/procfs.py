"""What /proc says about processes, read by pid: their parents, groups, owners, CPU time and sockets."""

from __future__ import annotations

import os
from typing import Iterator

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pids() -> list[int]:
    try:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (so index 0 is the state, 1 the parent, 2 the group)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def parent(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[1]) if fields else None


# The lines of /proc/PID/status the kit reads. A scan of every process reads the file once for each: splitting all
# of its fifty-odd lines cost three times what reading it does. The kernel escapes a newline in a process's name,
# so no line can be forged by naming a program.
_STATUS_LINES = ((b"\nState:", "State"), (b"\nPPid:", "PPid"), (b"\nUid:", "Uid"), (b"\nThreads:", "Threads"))


def status(pid: int) -> dict[str, list[str]]:
    """State, PPid, Uid and Threads from /proc/PID/status, each split into its values ({} when the process is gone)."""
    try:
        fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)
    except OSError:
        return {}
    try:
        text = os.read(fd, 64 * 1024)
    except OSError:
        return {}
    finally:
        os.close(fd)
    fields = {}
    for tag, key in _STATUS_LINES:
        start = text.find(tag)
        if start >= 0:
            start += len(tag)
            end = text.find(b"\n", start)
            fields[key] = text[start:end if end >= 0 else len(text)].decode(errors="replace").split()
    return fields


def children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid in pids():
        fields = stat_fields(pid)
        if fields:
            children.setdefault(int(fields[1]), []).append(pid)
    return children


def descendants(pid: int) -> list[int]:
    children = children_map()
    found, frontier = [], [pid]
    while frontier:
        frontier = [child for parent_pid in frontier for child in children.get(parent_pid, [])]
        found += frontier
    return found


def group_members(pgid: int) -> list[int]:
    """The processes in a process group."""
    return [pid for pid in pids() if (fields := stat_fields(pid)) and int(fields[2]) == pgid]


def cpu_seconds(pid_list: list[int]) -> float:
    """User and system CPU time used so far by these processes (their dead children not counted)."""
    ticks = 0
    for pid in pid_list:
        fields = stat_fields(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def runnable_seconds(pid: int) -> float:
    """Time the process's main thread spent running or ready to run (waiting for a core), from schedstat: a
    process stuck in a loop piles it up as fast as the clock, however busy the machine; one that waits on a
    socket piles up neither."""
    try:
        with open(f"/proc/{pid}/schedstat") as schedstat:
            running, waiting, _ = schedstat.read().split()
        return (int(running) + int(waiting)) / 1e9
    except (OSError, ValueError):
        return 0.0


def thread_folders(pid_list: list[int]) -> Iterator[str]:
    """/proc/PID/task/TID of every thread of these processes (those that ended meanwhile left out)."""
    for pid in pid_list:
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for thread in threads:
            yield f"/proc/{pid}/task/{thread}"


def scheduled_nanoseconds(pid_list: list[int]) -> int:
    """Time every thread of these processes spent running or queued to run, from each thread's schedstat. It
    moves whenever any of them wakes up, however busy the machine; it stands still while all of them sleep."""
    total = 0
    for folder in thread_folders(pid_list):
        try:
            with open(f"{folder}/schedstat") as schedstat:
                running, waiting, _ = schedstat.read().split()
            total += int(running) + int(waiting)
        except (OSError, ValueError):
            continue
    return total


def listening_inodes(port: int) -> set[str]:
    """The inodes of the sockets listening on a TCP port of this network namespace."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return inodes


def holds_socket(pid: int, inodes: set[str]) -> bool:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                return True
        except OSError:
            continue
    return False
