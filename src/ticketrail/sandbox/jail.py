"""The jail: a program sees the runtime read-only, its own folder, private temporary folders and the run's
loopback, in pid, mount, IPC and user namespaces of its own. bubblewrap builds it; the program's uid is set
before bubblewrap starts, so nothing in the jail ever held root.

What it leaves out is everything else: the kit's tree, other submissions, the host's Unix sockets (PostgreSQL's,
say), other processes. It is built from what a program needs, not from a list of secrets.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

MiB = 1024 * 1024
# Read-only from the host: the system's libraries and the time zone database (student programs run in a zone).
SYSTEM = ("/usr",)
# Merged-/usr hosts make these links into /usr; elsewhere they are folders, bound read-only as they are.
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
PRIVATE = ("/tmp", "/var/tmp", "/dev/shm", "/run")
PRIVATE_BYTES = 64 * MiB  # each private folder is a tmpfs of this size: it lives in memory, and goes with the jail

ETC = {
    "hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    "passwd": "root:x:0:0::/root:/usr/sbin/nologin\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
    "group": "root:x:0:\nnogroup:x:65534:\n",
}


class JailError(RuntimeError):
    """The jail cannot be built on this machine; the message says why."""


@dataclass(frozen=True)
class Jail:
    """What one program may see. `readable` and `writable` are bound at the same path inside; `sockets` maps a
    host socket to its path inside (under /run)."""

    etc: Path
    readable: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    sockets: tuple[tuple[Path, str], ...] = ()
    share_pids: bool = False  # True only for a program that must see its callers' pids (the world)

    def wrap(self, argv: list[str], cwd: Path) -> list[str]:
        """`argv` as bubblewrap runs it in this jail, starting in `cwd`."""
        jailed = [bwrap(), "--unshare-user", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                  "--disable-userns", "--die-with-parent"]
        if not self.share_pids:
            jailed += ["--unshare-pid"]
        for path in SYSTEM:
            jailed += ["--ro-bind", path, path]
        for path in TOP_LEVEL:
            if os.path.islink(path):
                jailed += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                jailed += ["--ro-bind", path, path]
        for name in ETC:
            jailed += ["--ro-bind", str(self.etc / name), f"/etc/{name}"]
        jailed += ["--proc", "/proc", "--dev", "/dev"]
        for path in PRIVATE:
            jailed += ["--size", str(PRIVATE_BYTES), "--perms", "1777", "--tmpfs", path]
        for path in self.readable:
            jailed += ["--ro-bind", str(path), str(path)]
        for path in self.writable:
            jailed += ["--bind", str(path), str(path)]
        for host, inside in self.sockets:
            jailed += ["--bind", str(host), inside]
        # The jail's root is bubblewrap's own tmpfs, unbounded: read-only, so that nothing is kept in it.
        return [*jailed, "--remount-ro", "/", "--chdir", str(cwd), "--", *argv]


@functools.lru_cache(maxsize=1)
def bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise JailError("bubblewrap is not installed (apt-get install bubblewrap)")
    return found


def write_etc(folder: Path) -> Path:
    """The few files of /etc a jailed program reads. The run's uids have no account there, as on the host."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in ETC.items():
        (folder / name).write_text(text)
        os.chmod(folder / name, 0o644)
    os.chmod(folder, 0o755)
    return folder


def probe(etc: Path, python: str | None, as_user: Callable[[], None]) -> str | None:
    """None when a jail can be built here (a program starts in it, as the sandbox's uid); else why not.
    Without `python`, the system's shell says it got in."""
    command = [python, "-S", "-c", "print('jailed')"] if python else ["/bin/sh", "-c", "echo jailed"]
    readable = (Path(python).parent.parent,) if python else ()
    try:
        argv = Jail(etc, readable=readable).wrap(command, Path("/"))
    except JailError as error:
        return str(error)
    try:
        done = subprocess.run(argv, cwd="/", env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, capture_output=True,
                              text=True, timeout=60, preexec_fn=as_user)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap did not run: {error}"
    if done.returncode != 0 or done.stdout.strip() != "jailed":
        return f"bubblewrap refused: {(done.stderr or done.stdout).strip()[-300:]}"
    return None
