"""The sandbox's uids: claimed from a pool, no account behind them, and every process and file of one ended."""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import shutil
import signal
import stat
import time
from pathlib import Path
from typing import IO, Iterable

from ticketrail import procfs
from ticketrail.sandbox.files import own_folder
from ticketrail.sandbox.errors import SandboxError

# With the uid alone, the folders every user may write: what one student leaves there, the next could run.
SHARED_TEMP = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/run/lock"), Path("/var/lock"),
               Path("/dev/mqueue"))
POOL_SIZE = 1000
POOL_STARTS = (2_000_000_000, 1_000_000, 60_000)  # the first one the uid map covers; accounts are skipped


def claim_user(root: Path) -> tuple[int, IO]:
    """A uid no account uses and no other run holds; the lock file stays locked while the returned file is open."""
    locks = own_folder(root / "uids", 0o700)
    for uid in _pool():
        if _account_exists(uid):
            continue
        lock = open(locks / f"{uid}.lock", "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        # Held by nobody now, so anything left under this uid is a leftover of a run that died: clear it.
        end_processes(uid, uid)
        if processes_of(uid):  # zombies parented elsewhere, not ours to reap: take another uid
            lock.close()
            continue
        remove_files_of(uid, SHARED_TEMP)
        return uid, lock
    raise SandboxError(f"every uid in the sandbox's pool is taken (see {locks})")


def _pool() -> range:
    for start in POOL_STARTS:
        if _mapped("/proc/self/uid_map", start) and _mapped("/proc/self/gid_map", start):
            return range(start, start + POOL_SIZE)
    raise SandboxError("no range of uids is free for the sandbox in /proc/self/uid_map")


def _mapped(map_file: str, start: int) -> bool:
    try:
        with open(map_file) as lines:
            ranges = [tuple(map(int, line.split())) for line in lines if line.strip()]
    except OSError:
        return start < 65536
    return any(inside <= start and start + POOL_SIZE <= inside + count for inside, _, count in ranges)


def _account_exists(uid: int) -> bool:
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            pass
    return False


def processes_of(uid: int, include_zombies: bool = True) -> list[int]:
    """Processes whose real uid is `uid` (read from status, which a program cannot hide as it can its /proc owner)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        status = _status(int(entry))
        if status.get("Uid", [""])[0] == str(uid) and (include_zombies or not status["State"][0].startswith("Z")):
            found.append(int(entry))
    return found


def tasks_of(uid: int) -> int:
    """Processes and threads of `uid`, as RLIMIT_NPROC counts them. Quick, for a watch: it goes by the owner of
    /proc/PID, which a program that made itself non-dumpable hides (processes_of does not miss those)."""
    tasks = 0
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                status = _status(int(entry))
                if status and not status["State"][0].startswith("Z"):  # the dead are no threat
                    tasks += int(status.get("Threads", ["1"])[0])
        except (OSError, KeyError, IndexError):
            continue
    return tasks


def cpu_seconds_of(uid: int) -> float:
    """CPU time used so far by the live processes of `uid` (quick, as tasks_of)."""
    return procfs.cpu_seconds([pid for pid in procfs.pids() if _owner(pid) == uid])


def _owner(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


_status = procfs.status


def end_processes(uid: int, gid: int, deadline: float = 5.0, spare: set[int] = frozenset()) -> int:
    """SIGKILL every process of `uid`, however it left its process group; returns how many there were.

    A helper drops to the uid and sends kill(-1): the kernel then signals exactly the processes that uid
    may signal, which are its own, and a fork bomb cannot outrun a few rounds of it.
    """
    before = processes_of(uid, include_zombies=False)
    give_up = time.monotonic() + deadline
    while True:
        if processes_of(uid, include_zombies=False):
            _kill_all_as(uid, gid)
        _reap_zombies(uid, spare)
        # A program killed a moment ago may still be exiting: it turns into a zombie only after the reaping
        # above. Left unreaped, it would pass to pid 1 when this process ends, and a pid 1 that never reaps
        # (a container's) keeps it for good.
        if not _awaited(uid, spare) or time.monotonic() > give_up:
            return len(before)
        time.sleep(0.01)


def _kill_all_as(uid: int, gid: int) -> None:
    helper = os.fork()
    if helper == 0:  # pragma: no cover - the child only makes system calls, then leaves
        try:
            os.setgid(gid)
            os.setgroups([])
            os.setuid(uid)
            for _ in range(50):
                os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            os._exit(0)
        except BaseException:
            os._exit(1)
        os._exit(0)
    os.waitpid(helper, 0)


def _awaited(uid: int, spare: set[int]) -> list[int]:
    """The processes of `uid` still to go: the living, and the dead this process can still reap (its children,
    or children of the uid's own processes, which pass to this subreaper when their parent is reaped)."""
    mine = processes_of(uid)
    left = []
    for pid in mine:
        status = _status(pid)
        if pid in spare or not status:
            continue
        parent = status.get("PPid", ["0"])[0]
        if not status["State"][0].startswith("Z") or parent == str(os.getpid()) or int(parent) in mine:
            left.append(pid)
    return left


def end_descendants(uid: int, spare: set[int] = frozenset(), deadline: float = 5.0) -> int:
    """SIGKILL the processes of `uid` that descend from this process; returns how many there were."""
    ended: set[int] = set()
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        victims = [pid for pid in descendants(os.getpid()) if pid not in spare and
                   (status := _status(pid)) and status.get("Uid", [""])[0] == str(uid)
                   and not status["State"][0].startswith("Z")]
        if not victims:
            break
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        ended.update(victims)
        _reap_zombies(uid, spare)
        time.sleep(0.01)
    _reap_zombies(uid, spare)
    return len(ended)


descendants = procfs.descendants


def _reap_zombies(uid: int, spare: set[int]) -> None:
    """Wait for the dead programs of `uid` that became this process's children (it is their subreaper)."""
    me = str(os.getpid())
    for pid in processes_of(uid):
        status = _status(pid)
        if pid not in spare and status.get("PPid", [""])[0] == me and status["State"][0].startswith("Z"):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def remove_files_of(uid: int, folders: Iterable[Path]) -> int:
    """Remove what `uid` created at the top of world-writable folders such as /tmp; returns how many entries."""
    removed = 0
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if info.st_uid != uid:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed += 1
            except OSError:
                continue
    return removed
