"""The sandbox: when the grader runs as root, student programs run unprivileged, in a jail, as a uid of their own.

`activate("auto", kit_root)`, once per grading process:

- claims a uid from a pool for the student's programs, and one each for the broker (Redis) and the world, the
  programs a student can talk to (no account, no process, a lock file held while the run lives), so that two runs
  never share one and every process a run started can be found and ended by its uid;
- builds the *runtime*: the interpreter, its standard library, the kit's dependencies and the `ticketrail`
  package, hard-linked under a root-owned 0755 folder (a venv's interpreter often lives under /root, 0700,
  which the uid could not even execute); the interpreter's library path is rewritten relative to itself;
- chooses the isolation: a bubblewrap jail (`ticketrail.jail`) that shows a program only the runtime, its own
  folder, private temporary folders and the run's loopback, in a pid namespace of its own; where namespaces are
  refused, the uid alone, with the kit's secrets sealed (graders/, reference/, tests/, .git, grading.yml: no
  access for other users) and proven so by a probe run as the uid;
- makes this process the subreaper of what it starts, so that no escaped program outlives it as a zombie.

Each `System` then runs the programs in a private copy of the implementation folder owned by the uid, and
`reap()` ends every process of the uid (and, with the uid alone, removes what it left in shared folders).
"""

from __future__ import annotations

import ctypes
import fcntl
import grp
import hashlib
import os
import pwd
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable

from ticketrail import jail, procfs, procs
from ticketrail.jail import Jail

ROOT = Path("/var/cache/ticketrail")
# With the uid alone, the folders every user may write: what one student leaves there, the next could run.
SHARED_TEMP = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/run/lock"), Path("/var/lock"),
               Path("/dev/mqueue"))
POOL_SIZE = 1000
POOL_STARTS = (2_000_000_000, 1_000_000, 60_000)  # the first one the uid map covers; accounts are skipped
WORKSPACE_CAP = 64 * procs.MiB
RUNTIME_KEEP_SECONDS = 6 * 3600  # every change to the harness makes a new runtime: an old one goes after this long unused
# In the kit's root: what a student's program must not read (hidden tests, solutions, their history, points).
SECRETS = ("graders", "reference", "tests", ".git", "grading.yml")
# Not needed by any program of the kit, and the biggest parts of a standard library.
STDLIB_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "__phello__"}
SITE_SKIP_PREFIXES = ("__editable__", "ticketrail", "pip", "setuptools", "_distutils_hack", "pkg_resources")
# What a student program needs; the check runs them as the uid before the first test.
RUNTIME_IMPORTS = "ticketrail.shop, ticketrail.shop.sync, ticketrail.childcall, fastapi, uvicorn, redis, httpx, freezegun"

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_CLONE_NEWNET = 0x40000000
_CLONE_NEWIPC = 0x08000000
_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(RuntimeError):
    """The sandbox cannot be set up safely; the message says what to change."""


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
        _copy_tree(Path(source), target, self.uid, self.gid, [WORKSPACE_CAP])
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
        argv = [sys.executable, "-m", "ticketrail.sandbox", "watch", str(self.uid), str(self.gid),
                str(procs.STUDENT_LIMITS.processes)]
        self._watchdog = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                                          preexec_fn=_watchdog_priority)
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
        if procs.STUDENT_PYTHON == self.python:
            procs.STUDENT_PYTHON = sys.executable
        _libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


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
    root = _own_folder(ROOT, 0o755)
    _own_folder(root / "work", 0o711)
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
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    procs.STUDENT_PYTHON = python
    sandbox = Sandbox(uid, gid, python, root, claimed, notes, lock, isolation="jail" if refused is None else "uid",
                      etc=etc, services=services)
    sandbox._made[etc] = etc
    sandbox.watch()
    return sandbox


# --- the uid ----------------------------------------------------------------------------------


def claim_user(root: Path) -> tuple[int, IO]:
    """A uid no account uses and no other run holds; the lock file stays locked while the returned file is open."""
    locks = _own_folder(root / "uids", 0o700)
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
    if not before:
        _reap_zombies(uid, spare)
        return 0
    give_up = time.monotonic() + deadline
    while True:
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
        _reap_zombies(uid, spare)
        if not processes_of(uid, include_zombies=False) or time.monotonic() > give_up:
            return len(before)
        time.sleep(0.01)


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


# --- the runtime ------------------------------------------------------------------------------


def runtime_python(root: Path, user: tuple[int, int]) -> str:
    """An interpreter any user can run, with the kit's packages: built (and tried as `user`) once per
    interpreter, set of packages and version of the harness."""
    sources = _RuntimeSources.find()
    target = root / f"runtime-{sources.fingerprint()}"
    ready = target / "READY"
    if not ready.exists():
        _build_runtime(root, target, sources, user)
    os.utime(ready)
    _forget_old_runtimes(root, keep=target)
    return str(target / "bin" / sources.executable.name)


@dataclass
class _RuntimeSources:
    executable: Path
    base: Path
    stdlib: Path
    site: Path
    package: Path

    @classmethod
    def find(cls) -> "_RuntimeSources":
        import ticketrail

        paths = sysconfig.get_paths()
        return cls(Path(os.path.realpath(sys.executable)), Path(sys.base_prefix), Path(paths["stdlib"]),
                   Path(paths["purelib"]), Path(ticketrail.__file__).resolve().parent)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{sys.version}\0{self.executable}\0{self.site}\0".encode())
        for path in [self.executable, *sorted(self.site.iterdir())]:
            info = path.stat()
            digest.update(f"{path.name}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
        for path in sorted(self.package.rglob("*")):
            if "__pycache__" not in path.parts:
                info = path.stat()
                digest.update(f"{path.relative_to(self.package)}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
        return digest.hexdigest()[:16]

    @property
    def libraries(self) -> list[Path]:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return sorted((self.base / "lib").glob(f"libpython{version}*.so*"))


def _build_runtime(root: Path, target: Path, sources: _RuntimeSources, user: tuple[int, int]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        lib = staging / "lib"
        stdlib, site = lib / version, lib / version / "site-packages"
        for folder in (staging / "bin", lib):
            folder.mkdir()
        _install_interpreter(sources.executable, staging / "bin" / sources.executable.name, sources.base)
        for alias in ("python3", "python"):
            if alias != sources.executable.name:
                os.symlink(sources.executable.name, staging / "bin" / alias)
        for library in sources.libraries:
            _link(library, lib / library.name)
        _link_tree(sources.stdlib, stdlib, lambda name: name in STDLIB_SKIP)
        _link_tree(sources.site, site, lambda name: name.startswith(SITE_SKIP_PREFIXES) or name.endswith(".pth")
                   or name == "__pycache__")
        _link_tree(sources.package, site / "ticketrail", lambda name: name == "__pycache__")
        for folder, _, _ in os.walk(staging):
            os.chmod(folder, 0o755)
        check_runtime(str(staging / "bin" / sources.executable.name), *user)
        (staging / "READY").touch()
        try:
            os.rename(staging, target)
        except OSError:  # another run built the same runtime meanwhile
            if not (target / "READY").exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _install_interpreter(source: Path, target: Path, base: Path) -> None:
    """Copy the interpreter; a library path baked in as the absolute base (unreadable to the uid) becomes
    $ORIGIN/../lib, rewritten in place in the ELF string table (the new string is shorter; NULs pad it)."""
    data = source.read_bytes()
    old = f"\0{base / 'lib'}\0".encode()
    new = b"\0$ORIGIN/../lib\0"
    if data.count(old) == 1 and len(new) <= len(old):
        data = data.replace(old, new + b"\0" * (len(old) - len(new)))
    target.write_bytes(data)
    os.chmod(target, 0o755)


def _link(source: Path, target: Path) -> None:
    if source.is_symlink() and not os.path.isabs(os.readlink(source)):
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target, follow_symlinks=True)
    except OSError:  # another file system, or links refused: a copy does as well
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path, skip: Callable[[str], bool]) -> None:
    target.mkdir(exist_ok=True)
    for entry in os.scandir(source):
        if skip(entry.name):
            continue
        if entry.is_dir():
            _link_tree(Path(entry.path), target / entry.name, lambda name: False)
        elif entry.is_file():
            _link(Path(entry.path), target / entry.name)


def _forget_old_runtimes(root: Path, keep: Path) -> None:
    now = time.time()
    for path in root.glob("runtime-*"):
        try:
            if path != keep and now - (path / "READY").stat().st_mtime > RUNTIME_KEEP_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue
    for path in root.glob(".build-*"):
        try:
            if now - path.stat().st_mtime > 3600:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def check_runtime(python: str, uid: int, gid: int) -> None:
    """Run the interpreter as the uid: it must start and import what student programs use."""
    done = subprocess.run(
        [python, "-E", "-s", "-B", "-c", f"import {RUNTIME_IMPORTS}; print('ok')"],
        cwd="/", env={"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"}, capture_output=True, text=True,
        timeout=120, preexec_fn=procs._limit_child(procs.STUDENT_LIMITS, (uid, gid)),
    )
    if done.returncode != 0 or done.stdout.strip() != "ok":
        raise SandboxError(f"the runtime {python} does not work as uid {uid}:\n{(done.stdout + done.stderr)[-2000:]}")


def readable_by(uid: int, gid: int, paths: Iterable[Path]) -> list[Path]:
    """Which of `paths` the uid can open (a helper process drops to it and tries; ACLs included)."""
    paths = [path for path in paths if os.path.lexists(path)]
    read_end, write_end = os.pipe()
    helper = os.fork()
    if helper == 0:  # pragma: no cover - the child only makes system calls, then leaves
        try:
            os.close(read_end)
            os.setgid(gid)
            os.setgroups([])
            os.setuid(uid)
            answer = bytearray()
            for path in paths:
                try:
                    os.close(os.open(path, os.O_RDONLY))
                    answer += b"1"
                except OSError:
                    answer += b"0"
            os.write(write_end, bytes(answer))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answers:
        answer = answers.read()
    os.waitpid(helper, 0)
    if len(answer) != len(paths):
        raise SandboxError(f"could not check what uid {uid} may read")
    return [path for path, bit in zip(paths, answer) if bit == ord("1")]


# --- the kit, the workspace, the network -----------------------------------------------------------


def seal(path: Path) -> bool:
    """Remove other users' access to `path`; True if it changed."""
    mode = path.stat().st_mode
    if mode & 0o007:
        os.chmod(path, stat.S_IMODE(mode) & ~0o007)
        return True
    return False


def seal_kit(kit_root: Path, also: Iterable[Path] = ()) -> list[Path]:
    """Seal what a student must not read: the graders, the references, the kit's tests and history, grading.yml."""
    sealed = []
    for path in [*(kit_root / name for name in SECRETS), *also]:
        if path.exists() and seal(path):
            sealed.append(path)
    return sealed


def _own_folder(path: Path, mode: int) -> Path:
    """A folder only root can change, all the way up: nobody else can swap what the sandbox puts in it."""
    path.mkdir(parents=True, exist_ok=True)
    for folder in [path, *path.parents]:
        info = folder.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != 0:
            raise SandboxError(f"{folder} must be a folder owned by root for the sandbox (it is not)")
        if info.st_mode & 0o022 and not (folder != path and info.st_mode & stat.S_ISVTX):
            raise SandboxError(f"{folder} may be written by other users; the sandbox needs it owned by root alone")
    os.chmod(path, mode)
    return path


def _copy_tree(source: Path, target: Path, uid: int, gid: int, budget: list[int]) -> None:
    """Copy files and folders, never following a link (links are copied as links, for the uid to resolve)."""
    os.mkdir(target, 0o700)
    os.chown(target, uid, gid)
    for entry in os.scandir(source):
        if entry.name == "__pycache__":
            continue
        destination = target / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), destination)
            os.lchown(destination, uid, gid)
        elif entry.is_dir(follow_symlinks=False):
            _copy_tree(Path(entry.path), destination, uid, gid, budget)
        elif entry.is_file(follow_symlinks=False):
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as src:
                size = os.fstat(src.fileno()).st_size
                budget[0] -= size
                if budget[0] < 0:
                    raise SandboxError(f"{source} holds more than {WORKSPACE_CAP // procs.MiB} MiB: not a program folder")
                executable = os.fstat(src.fileno()).st_mode & 0o100
                out = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                              0o700 if executable else 0o600)
                with os.fdopen(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            os.chown(destination, uid, gid)


def isolate_network() -> str | None:
    """Give this process, and every program it starts from now on, a network of its own (a private loopback,
    nothing else) and private System V IPC. None when done, else why not (the caller says what that leaves open)."""
    if _libc.unshare(_CLONE_NEWNET | _CLONE_NEWIPC) != 0:
        return os.strerror(ctypes.get_errno())
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))
    return None


# --- the watchdog ---------------------------------------------------------------------------------

WATCH_PERIOD = 0.2
BUSY_WINDOW = 3.0  # seconds of...
BUSY_SHARE = 0.9  # ...this share of every core: no program of the kit's exercises comes near it
LIMIT_MARGIN = 10  # tasks short of the process limit that count as reaching it (zombies count for the kernel only)


def _watchdog_priority() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
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
    if len(sys.argv) == 5 and sys.argv[1] == "watch":
        watch(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
