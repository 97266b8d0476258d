"""What a grading depends on, as a hash: a result is up to date while its key is unchanged.

The key of one submission's exercise is the hash of the student files taken and of the
graders' version: what decides the verdict, and nothing else. That is the hidden graders,
the pristine starter (every non-student file comes from it), the exercise's section of
grading.yml except points, titles and visibility (those are applied when results are
exported, so changing them needs no regrading), the pytest ini the graders run under, and
the harness modules the graders' pytest imports and the programs it starts. Exporters,
the command line and the student's tools are not in it: editing them regrades nobody.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import ticketrail
from ticketrail.config import ExerciseSpec

PACKAGE = Path(ticketrail.__file__).parent
# The harness that runs graders and counts their points, as paths (or patterns) under the package: the plugin and
# its fixtures, the checks graders import, the world, Redis, the processes and sandbox student code runs in, the
# student's client, the report and the runner that scores it. A module the graders' pytest imports belongs here
# (tests/test_versions.py holds the list to that).
VERDICT_HARNESS = (
    "__init__.py", "_libc.py", "bytecode.py", "caches.py", "checks", "childcall.py", "config.py", "fakeserver.py",
    "kit.py", "latency.py", "notdone.py", "plugin.py", "priority.py", "procfs.py", "procs.py", "redisd.py", "report.py",
    "report_seal.py", "sandbox", "services.py", "shop", "spread.py", "startup.py", "system.py", "timeline.py",
    "timings.py", "waiting.py", "world.py", "worldctl.py", "grading/__init__.py", "grading/runner.py",
)
_SKIPPED = {"__pycache__", ".pytest_cache"}


def graders_version(kit_root: Path, spec: ExerciseSpec, harness: Path = PACKAGE) -> str:
    hasher = hashlib.sha256()
    _hash_tree(hasher, kit_root / "graders" / spec.id, "graders")
    _hash_tree(hasher, kit_root / "starter" / spec.id, "starter")
    for path in verdict_files(harness):
        hasher.update(f"harness/{path.relative_to(harness).as_posix()}\0".encode())
        hasher.update(hashlib.sha256(path.read_bytes()).digest())
    section = {
        "student_files": spec.student_files, "time_scale": spec.time_scale, "budgets": spec.budgets,
        "timeouts": [spec.test_timeout, spec.exercise_timeout], "env": spec.env, "tests": sorted(spec.tests),
        "pytest_ini": _pytest_ini(kit_root),
    }
    hasher.update(json.dumps(section, sort_keys=True).encode())
    return hasher.hexdigest()


def verdict_files(harness: Path = PACKAGE) -> list[Path]:
    """The files of VERDICT_HARNESS present under `harness`, each once, in a stable order."""
    found: set[Path] = set()
    for pattern in VERDICT_HARNESS:
        for match in harness.glob(pattern):
            found.update([match] if match.is_file() else match.rglob("*"))
    return sorted(path for path in found
                  if path.is_file() and not _SKIPPED & set(path.parts) and path.suffix != ".pyc")


def grading_key(version: str, handin_digest: str) -> str:
    return hashlib.sha256(f"{version}\0{handin_digest}".encode()).hexdigest()[:32]


def _hash_tree(hasher, folder: Path, label: str) -> None:
    if not folder.is_dir():
        hasher.update(f"{label}: none\0".encode())
        return
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or _SKIPPED & set(path.parts) or path.suffix == ".pyc":
            continue
        hasher.update(f"{label}/{path.relative_to(folder).as_posix()}\0".encode())
        hasher.update(hashlib.sha256(path.read_bytes()).digest())


def _pytest_ini(kit_root: Path) -> dict:
    """The graders run with `-c pyproject.toml`: its pytest section (addopts, import mode) shapes every run."""
    try:
        with open(kit_root / "pyproject.toml", "rb") as file:
            return tomllib.load(file).get("tool", {}).get("pytest", {})
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return {}
