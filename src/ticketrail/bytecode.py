"""Bytecode for the interpreters the kit starts by the dozen: a grading's pytest and its side-by-side workers.

Where PYTHONDONTWRITEBYTECODE is set, as in many container images, nothing is ever cached: each of them compiles
the kit's modules and has pytest rewrite their asserts again, about 0.6 s of CPU at every start and a third of a
grading's. They keep their bytecode in the kit's cache folder instead (PYTHONPYCACHEPREFIX), so the user's trees
stay free of __pycache__ folders as the variable asked. Student programs never read it: they run with -E and -B.
"""

from __future__ import annotations

import os

from ticketrail.caches import cache_folder

OTHERS = 0o077  # the folder is its owner's alone: it holds the graders' bytecode, which no student may read


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
    kept = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**kept, "PYTHONPYCACHEPREFIX": str(folder)}


def keep_for_children() -> None:
    """The children this process starts from now on (pytest-xdist's workers) keep their bytecode as `kept` says."""
    env = kept(dict(os.environ))
    if "PYTHONDONTWRITEBYTECODE" not in env:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(env)
