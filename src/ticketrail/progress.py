"""The student's progress: kept in `.ticketrail/progress.json` at the kit's root, never in their code.

Per exercise it remembers the last check (which checks passed, by task), the
fingerprint of the files the exercise passed with, and which hints were shown.
An exercise is *done* while its files still have that fingerprint, so nothing that
passed is ever checked again unless its files change.

The starter as handed out (the *pristine* copy) lives in `.pristine/NN/` in a
handout; in the kit's own repository it is the committed `starter/NN`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ticketrail.kit import PRISTINE_DIR, Kit, UnknownExercise, normalise_id

STATE_DIR = ".ticketrail"
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    student_dir: Path  # starter/NN: what the student edits
    checks_dir: Path  # exercises/NN: README and self-checks


def exercises(root: Path) -> list[Exercise]:
    """The exercises grading.yml names that have a folder under exercises/, in order."""
    kit = Kit(root)
    return [
        Exercise(spec.id, spec.title, kit.starter(spec.id), kit.self_checks(spec.id))
        for spec in sorted(kit.config.exercises.values(), key=lambda s: s.id)
        if kit.self_checks(spec.id).is_dir()
    ]


def find_exercise(root: Path, exercise_id: str) -> Exercise:
    """The exercise "1", "01" or " 01" names; an UnknownExercise listing the known ones if none."""
    known = exercises(root)
    for exercise in known:
        if exercise.id == normalise_id(exercise_id):
            return exercise
    names = ", ".join(e.id for e in known) or "none"
    raise UnknownExercise(f"There is no exercise {exercise_id.strip()!r} in this kit; the exercises are {names}.")


def files_of(folder: Path) -> Iterator[Path]:
    """The files of a folder that belong to the student's work (no caches, no dotfiles)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if path.is_file() and not _SKIPPED_PARTS & set(relative) and not any(p.startswith(".") for p in relative) \
                and path.suffix != ".pyc":
            yield path


def fingerprint(exercise: Exercise) -> str:
    """Changes when the student's files or the exercise's checks change (not when its README does)."""
    digest = hashlib.sha256()
    for label, folder in (("student", exercise.student_dir), ("checks", exercise.checks_dir)):
        for path in files_of(folder):
            if label == "checks" and path.suffix != ".py":
                continue
            digest.update(f"{label}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def pristine_files(root: Path, exercise_id: str) -> dict[str, bytes] | None:
    """The starter's files as handed out, by relative path; None when no copy can be found."""
    copy = root / PRISTINE_DIR / exercise_id
    if copy.is_dir():
        return {p.relative_to(copy).as_posix(): p.read_bytes() for p in files_of(copy)}
    return _committed_starter(root, exercise_id)


def _committed_starter(root: Path, exercise_id: str) -> dict[str, bytes] | None:
    prefix = f"starter/{exercise_id}/"
    try:
        listing = subprocess.run(["git", "-C", str(root), "ls-tree", "-r", "-z", "--name-only", "HEAD", prefix],
                                 capture_output=True, timeout=10, check=True).stdout.decode()
        names = [n for n in listing.split("\0") if n]
        if not names:
            return None
        return {
            name[len(prefix):]: subprocess.run(["git", "-C", str(root), "show", f"HEAD:{name}"],
                                               capture_output=True, timeout=10, check=True).stdout
            for name in names
        }
    except (OSError, subprocess.SubprocessError):
        return None


def changed_from_pristine(root: Path, exercise: Exercise) -> list[str] | None:
    """Relative paths that differ from the starter as handed out (None: no pristine copy to compare)."""
    pristine = pristine_files(root, exercise.id)
    if pristine is None:
        return None
    current = {p.relative_to(exercise.student_dir).as_posix(): p.read_bytes() for p in files_of(exercise.student_dir)}
    return sorted(name for name in pristine.keys() | current.keys() if pristine.get(name) != current.get(name))


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


class Progress:
    """`.ticketrail/progress.json`, read once and written atomically after each change."""

    def __init__(self, root: Path) -> None:
        self.path = root / STATE_DIR / "progress.json"
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.data: dict = data if isinstance(data, dict) else {}
        self.data.setdefault("exercises", {})

    def of(self, exercise_id: str) -> dict:
        return self.data["exercises"].setdefault(exercise_id, {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ignore = self.path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# the student's progress: local to this machine\n*\n", encoding="utf-8")
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False, encoding="utf-8") as out:
            json.dump(self.data, out, indent=2, sort_keys=True)
        os.replace(out.name, self.path)

    def record_check(self, exercise: Exercise, print_: str, checks: list[dict], passed: bool) -> None:
        """Remember a check run; `print_` is the fingerprint of the files it checked."""
        state = self.of(exercise.id)
        state["last_check"] = {"at": now(), "fingerprint": print_, "passed": passed, "checks": checks}
        if passed:
            state["passed"] = {"at": now(), "fingerprint": print_}
        self.save()

    def forget_pass(self, exercise_id: str) -> None:
        state = self.of(exercise_id)
        state.pop("passed", None)
        state.pop("last_check", None)
        self.save()

    def is_done(self, exercise: Exercise, print_: str | None = None) -> bool:
        passed = self.of(exercise.id).get("passed")
        return bool(passed) and passed.get("fingerprint") == (print_ or fingerprint(exercise))

    def failing_tasks(self, exercise_id: str) -> list[int]:
        last = self.of(exercise_id).get("last_check") or {}
        return sorted({c["task"] for c in last.get("checks", []) if c.get("outcome") != "passed" and c.get("task")})

    def hints_shown(self, exercise_id: str) -> list[int]:
        return list(self.of(exercise_id).get("hints_shown", []))

    def show_hint(self, exercise_id: str, level: int) -> None:
        shown = set(self.hints_shown(exercise_id)) | {level}
        self.of(exercise_id)["hints_shown"] = sorted(shown)
        self.save()


DONE, IN_PROGRESS, NOT_STARTED = "done", "in progress", "not started"


@dataclass(frozen=True)
class Standing:
    exercise: Exercise
    state: str  # DONE, IN_PROGRESS or NOT_STARTED
    detail: str
    checks_passed: int | None = None  # at the last check
    checks_total: int | None = None


def standing(root: Path, exercise: Exercise, progress: Progress) -> Standing:
    """Where the student is with one exercise, from files and memory alone: nothing is run."""
    print_ = fingerprint(exercise)
    state = progress.of(exercise.id)
    last = state.get("last_check")
    passed = total = None
    if last:
        total = len(last["checks"])
        passed = sum(1 for c in last["checks"] if c.get("outcome") == "passed")
    if progress.is_done(exercise, print_):
        return Standing(exercise, DONE, f"all checks passed on {_day(state['passed']['at'])}", passed, total)
    if state.get("passed"):
        return Standing(exercise, IN_PROGRESS, "changed since it passed: check it again", passed, total)
    if last:
        changed = "" if last["fingerprint"] == print_ else "; changed since"
        return Standing(exercise, IN_PROGRESS, f"{passed} of {total} checks passed on {_day(last['at'])}{changed}",
                        passed, total)
    changed = changed_from_pristine(root, exercise)
    if changed:
        return Standing(exercise, IN_PROGRESS, f"{', '.join(changed[:3])} changed, not checked yet")
    if state.get("hints_shown"):
        return Standing(exercise, IN_PROGRESS, "hints read, not checked yet")
    return Standing(exercise, NOT_STARTED, "")


def _day(stamp: str) -> str:
    try:
        return dt.datetime.fromisoformat(stamp).strftime("%b %d %H:%M")
    except ValueError:
        return stamp
