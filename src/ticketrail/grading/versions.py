"""What a grading depends on, as a hash: a result is up to date while its key is unchanged.

The key of one submission's exercise is the hash of the student files taken and of the
graders' version: the hidden graders, the pristine starter (every non-student file comes
from it), the exercise's section of grading.yml except points, titles and visibility
(those are applied when results are exported, so changing them needs no regrading), and
the harness that runs it all.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import ticketrail
from ticketrail.config import ExerciseSpec

_SKIPPED = {"__pycache__", ".pytest_cache"}
# Exports and the command line do not change a verdict; the rest of the harness may.
_NOT_HARNESS = ("commands", "grading/batch.py", "grading/exports.py", "grading/gradebook.py",
                "grading/progress.py", "grading/records.py", "grading/versions.py", "cli.py")


def _hash_tree(hasher, folder: Path, label: str, exclude: tuple[str, ...] = ()) -> None:
    if not folder.is_dir():
        hasher.update(f"{label}: none\0".encode())
        return
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or _SKIPPED & set(path.parts) or path.suffix == ".pyc":
            continue
        if any(rel == item or rel.startswith(item + "/") for item in exclude):
            continue
        hasher.update(f"{label}/{rel}\0".encode())
        hasher.update(hashlib.sha256(path.read_bytes()).digest())


def graders_version(kit_root: Path, spec: ExerciseSpec) -> str:
    hasher = hashlib.sha256()
    _hash_tree(hasher, kit_root / "graders" / spec.id, "graders")
    _hash_tree(hasher, kit_root / "starter" / spec.id, "starter")
    _hash_tree(hasher, Path(ticketrail.__file__).parent, "harness", _NOT_HARNESS)
    section = {
        "student_files": spec.student_files, "time_scale": spec.time_scale, "budgets": spec.budgets,
        "timeouts": [spec.test_timeout, spec.exercise_timeout], "env": spec.env, "tests": sorted(spec.tests),
    }
    hasher.update(json.dumps(section, sort_keys=True).encode())
    return hasher.hexdigest()


def grading_key(version: str, handin_digest: str) -> str:
    return hashlib.sha256(f"{version}\0{handin_digest}".encode()).hexdigest()[:32]
