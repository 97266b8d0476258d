"""Bytecode for the interpreters the kit starts by the dozen: a grading's pytest and its side-by-side workers.

Where PYTHONDONTWRITEBYTECODE is set, as in many container images, nothing is ever cached: each of them compiles
the kit's modules and has pytest rewrite their asserts again, about 0.6 s of CPU at every start and a third of a
grading's. They keep their bytecode in the kit's cache folder instead (PYTHONPYCACHEPREFIX), so the user's trees
stay free of __pycache__ folders as the variable asked. Student programs never read it: they run with -E and -B.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ticketrail.caches import cache_folder

OTHERS = 0o077  # the folder is its owner's alone: it holds the graders' bytecode, which no student may read
FORGET_EVERY = 24 * 3600  # how often a run looks for the bytecode of folders that are gone
PRUNED = ".pruned"  # its time is the last look


def kept(env: dict[str, str]) -> dict[str, str]:
    """`env` for an interpreter of the kit: where it forbids bytecode, with bytecode kept in the kit's cache."""
    if not env.get("PYTHONDONTWRITEBYTECODE") or env.get("PYTHONPYCACHEPREFIX"):
        return env  # bytecode is cached as Python does by default, or where the user put it
    folder = cache_folder("bytecode")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return env
    if info.st_uid != os.geteuid() or info.st_mode & OTHERS:
        return env  # another user could read the graders' bytecode there, or plant some for the grader to run
    forget_gone_sources(folder)
    kept = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**kept, "PYTHONPYCACHEPREFIX": str(folder)}


def forget_gone_sources(folder: Path, every: float = FORGET_EVERY) -> list[Path]:
    """Drop, once a day at most, the bytecode of source folders that no longer exist: a deleted handout, a test's
    temporary kit. The cache mirrors each source folder's path, so what a gone folder left is never read again."""
    stamp = folder / PRUNED
    try:
        if time.time() - stamp.stat().st_mtime < every:
            return []
    except FileNotFoundError:
        pass
    stamp.touch()
    gone = []
    for current, folders, _ in os.walk(folder):
        for name in list(folders):
            mirror = Path(current) / name
            if not (Path("/") / mirror.relative_to(folder)).is_dir():
                folders.remove(name)
                shutil.rmtree(mirror, ignore_errors=True)  # another run may be dropping it too
                gone.append(mirror)
    return gone


def keep_for_children() -> None:
    """The children this process starts from now on (pytest-xdist's workers) keep their bytecode as `kept` says."""
    env = kept(dict(os.environ))
    if "PYTHONDONTWRITEBYTECODE" not in env:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(env)
