"""The sandbox's files: root-owned folders, private copies owned by the uid, and (with the uid alone) sealing."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Iterable

from ticketrail import procs
from ticketrail.sandbox.errors import SandboxError

WORKSPACE_CAP = 64 * procs.MiB
# In the kit's root: what a student's program must not read (hidden tests, solutions, their history, points).
SECRETS = ("graders", "reference", "tests", ".git", "grading.yml")


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


def own_folder(path: Path, mode: int) -> Path:
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


def copy_tree(source: Path, target: Path, uid: int, gid: int, budget: list[int]) -> None:
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
            copy_tree(Path(entry.path), destination, uid, gid, budget)
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
