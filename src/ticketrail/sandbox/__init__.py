"""The sandbox: when the grader runs as root, student programs run unprivileged, in a jail, as a uid of their own.

`activate("auto", kit_root)`, once per grading process:

- claims a uid from a pool for the student's programs, and one each for the broker (Redis) and the world, the
  programs a student can talk to (no account, no process, a lock file held while the run lives), so that two runs
  never share one and every process a run started can be found and ended by its uid;
- builds the *runtime*: the interpreter, its standard library, the kit's dependencies and the `ticketrail`
  package, hard-linked under a root-owned 0755 folder (a venv's interpreter often lives under /root, 0700,
  which the uid could not even execute); the interpreter's library path is rewritten relative to itself;
- chooses the isolation: a bubblewrap jail (`sandbox.jail`) that shows a program only the runtime, its own
  folder, private temporary folders and the run's loopback, in a pid namespace of its own; where namespaces are
  refused, the uid alone, with the kit's secrets sealed (graders/, reference/, tests/, .git, grading.yml: no
  access for other users) and proven so by a probe run as the uid;
- makes this process the subreaper of what it starts, so that no escaped program outlives it as a zombie.

Each `System` then runs the programs in a private copy of the implementation folder owned by the uid, and
`reap()` ends every process of the uid (and, with the uid alone, removes what it left in shared folders).
"""


from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable

from ticketrail import procs
from ticketrail.caches import ROOT_CACHE
from ticketrail.sandbox import jail
from ticketrail._libc import PR_SET_CHILD_SUBREAPER, libc
from ticketrail.sandbox.errors import SandboxError
from ticketrail.sandbox.files import SECRETS, WORKSPACE_CAP, copy_tree, own_folder, readable_by, seal, seal_kit
from ticketrail.sandbox.jail import Jail
from ticketrail.sandbox.network import isolate_network
from ticketrail.sandbox.runtime import runtime_python
from ticketrail.sandbox.uids import (
    POOL_SIZE,
    POOL_STARTS,
    SHARED_TEMP,
    _account_exists,
    claim_user,
    end_descendants,
    end_processes,
    processes_of,
    remove_files_of,
)

ROOT = ROOT_CACHE

__all__ = ["POOL_SIZE", "POOL_STARTS", "SECRETS", "Sandbox", "SandboxError", "Sweep", "activate", "isolate_network",
           "processes_of", "readable_by", "seal", "_account_exists"]


@dataclass
class Sweep:
    processes: int = 0
    files: int = 0


@dataclass
class ServiceUser:
    """A claimed uid for one program a student can talk to: whatever reaches it runs as nobody of consequence."""

    uid: int
    lock: IO

    @property
    def user(self) -> tuple[int, int]:
        return self.uid, self.uid

    def close(self) -> None:
        end_processes(self.uid, self.uid)
        remove_files_of(self.uid, SHARED_TEMP)
        self.lock.close()


@dataclass
class Sandbox:
    uid: int
    gid: int
    python: str
    root: Path
    claimed: bool  # a uid from the pool: every process and temporary file of it belongs to this run
    notes: list[str] = field(default_factory=list)
    _lock: IO | None = None
    on_stop: list[Callable[[str], None]] = field(default_factory=list)  # hears why the watchdog stopped them
    _watchdog: subprocess.Popen | None = None
    _made: dict[Path, Path] = field(default_factory=dict)  # workspace or home → the folder holding it
    isolation: str = "uid"  # "jail" (bubblewrap) or "uid" (the uid alone, secrets sealed)
    etc: Path | None = None
    services: dict[str, "ServiceUser"] = field(default_factory=dict)  # "broker", "world" → its own uid

    def jail(self, *writable: Path, sockets: tuple[tuple[Path, str], ...] = ()) -> Jail | None:
        """The jail for a student program that may write `writable` (its private copy); None with the uid alone."""
        if self.isolation != "jail":
            return None
        return Jail(self.etc, readable=(Path(self.python).parent.parent,), writable=writable, sockets=sockets)

    def service_jail(self, *writable: Path, share_pids: bool = False) -> Jail | None:
        """The jail for a program a student talks to (a broker, the world)."""
        if self.isolation != "jail":
            return None
        return Jail(self.etc, readable=(Path(self.python).parent.parent,), writable=writable, share_pids=share_pids)

    def service_folder(self, name: str) -> Path:
        """A folder the service's uid owns, for its files and sockets; removed when the sandbox closes."""
        user = self.services[name]
        holder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root / "work"))
        os.chmod(holder, 0o755)
        os.chown(holder, user.uid, user.uid)
        self._made[holder] = holder
        return holder

    @property
    def user(self) -> tuple[int, int]:
        return self.uid, self.gid

    def workspace(self, source: Path) -> Path:
        """A private copy of `source` owned by the uid, in which its programs run (and may write)."""
        holder = Path(tempfile.mkdtemp(prefix="work-", dir=self.root / "work"))
        os.chmod(holder, 0o711)  # the uid may pass through to its copy, but not list the others
        target = holder / (source.name or "impl")
        self._made[target] = holder
        copy_tree(Path(source), target, self.uid, self.gid, [WORKSPACE_CAP])
        return target

    def home(self) -> Path:
        holder = Path(tempfile.mkdtemp(prefix="home-", dir=self.root / "work"))
        os.chown(holder, self.uid, self.gid)
        self._made[holder] = holder
        return holder

    def discard(self, path: Path) -> None:
        """Remove a workspace or home this sandbox made."""
        holder = self._made.pop(path, None)
        if holder is not None:
            shutil.rmtree(holder, ignore_errors=True)

    def reap(self, spare: Iterable[int] = ()) -> Sweep:
        """End every process of the uid and remove what it left in the shared temporary folders.

        A uid given by hand (`nobody`, say) may have processes and files that are not this run's: then only
        the uid's processes descended from this one end (escaped ones too: this process is their subreaper)."""
        if not self.claimed:
            return Sweep(end_descendants(self.uid, spare=set(spare)))
        return Sweep(end_processes(self.uid, self.gid, spare=set(spare)), remove_files_of(self.uid, SHARED_TEMP))

    def watch(self) -> None:
        """Start the watchdog (claimed uids only): a process of its own at real-time priority, so that a fork
        bomb cannot starve it, which ends every process of the uid when they reach the process limit or keep
        (nearly) every core busy, and says so; `on_stop` callbacks hear why."""
        if not self.claimed or self._watchdog is not None:
            return
        from ticketrail.sandbox import watchdog  # not at the top: `python -m` runs that module on its own

        argv = [sys.executable, "-m", "ticketrail.sandbox.watchdog", str(self.uid), str(self.gid),
                str(procs.STUDENT_LIMITS.processes)]
        self._watchdog = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                                          preexec_fn=watchdog.priority)
        threading.Thread(target=self._hear_watchdog, name="sandbox watchdog", daemon=True).start()

    def _hear_watchdog(self) -> None:
        for line in self._watchdog.stdout:
            for listener in list(self.on_stop):
                listener(line.strip())

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
        self.reap()
        for service in self.services.values():
            service.close()
        for path in list(self._made):
            self.discard(path)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if procs.student_python() == self.python:
            procs.run_students_with(None)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def jail_refused() -> str | None:
    """None when this machine builds the jail for an unprivileged user (tried as nobody); else why not."""
    with tempfile.TemporaryDirectory(prefix="ticketrail-probe-") as folder:
        os.chmod(folder, 0o755)
        return jail.probe(jail.write_etc(Path(folder) / "etc"), None, procs.limits_preexec(None, (65534, 65534)))


def activate(spec: str, kit_root: Path, also_secret: Iterable[Path] = (), isolation: str = "auto") -> Sandbox | None:
    """`auto` (a uid from the pool when root; nothing otherwise) or `uid:gid` (a uid of your choice).

    `isolation`: `auto` (the jail where this machine builds one, else the uid alone) or `uid` (the uid alone).
    `also_secret`: further paths to seal when the uid alone isolates, such as a grading.yml outside the kit."""
    if os.geteuid() != 0:
        if spec == "auto":
            return None
        raise SandboxError(f"--student-user {spec} needs root: only root can run programs as another user")
    if isolation not in ("auto", "uid"):
        raise SandboxError(f"the isolation is auto or uid, not {isolation!r}")
    root = own_folder(ROOT, 0o755)
    own_folder(root / "work", 0o711)
    held: list[IO] = []
    try:
        if spec == "auto":
            uid, lock = claim_user(root)
            held.append(lock)
            gid, claimed = uid, True
        else:
            uid_text, _, gid_text = spec.partition(":")
            try:
                uid, gid = int(uid_text), int(gid_text or uid_text)
            except ValueError:
                raise SandboxError(f"--student-user takes auto or uid:gid, not {spec!r}") from None
            if uid == 0 or gid == 0:
                raise SandboxError("--student-user 0 would run student programs as root")
            lock, claimed = None, False
        services = {}
        for name in ("broker", "world"):
            service_uid, service_lock = claim_user(root)
            held.append(service_lock)
            services[name] = ServiceUser(service_uid, service_lock)
        python = runtime_python(root, (uid, gid))
        etc = jail.write_etc(Path(tempfile.mkdtemp(prefix="etc-", dir=root / "work")))
        refused = "asked for the uid alone" if isolation == "uid" else jail.probe(
            etc, python, procs.limits_preexec(None, (uid, gid)))
        notes: list[str] = []
        if refused is None:
            notes.append("isolation: a bubblewrap jail (user, pid, mount and IPC namespaces): student programs see "
                         "the runtime, their own copy, private /tmp, /var/tmp, /dev/shm and /run, and the run's "
                         "loopback")
        else:
            notes.append(f"isolation: the uid alone ({refused}); the kit's secrets are sealed from other users")
            also_secret = list(also_secret)
            notes += [f"sealed {path} (no access for other users)" for path in seal_kit(kit_root, also_secret)]
            readable = readable_by(uid, gid, [*(kit_root / name for name in SECRETS), *also_secret])
            if readable:
                raise SandboxError(f"uid {uid} can still read {', '.join(map(str, readable))}: remove other users' "
                                   "access (and any ACL granting it)")
    except BaseException:
        for lock in held:
            lock.close()
        raise
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    procs.run_students_with(python)
    sandbox = Sandbox(uid, gid, python, root, claimed, notes, lock, isolation="jail" if refused is None else "uid",
                      etc=etc, services=services)
    sandbox._made[etc] = etc
    sandbox.watch()
    return sandbox
