"""One record per submission, `OUT/records/<student>.json`: what was graded, with which key, and the results.

Written atomically (a temporary file, then os.replace) after every exercise graded, so an
interrupted batch never leaves half a record, and a re-run knows exactly what is done.
Records hold the full test output, hidden tests included: they are for the instructor.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ticketrail.grading.runner import ExerciseResult

# statuses after which an exercise's grading is complete; the others ask for a regrade with --only-failed
FINAL = ("graded", "missing")
FAILED = ("timeout", "ungradable", "rejected")


@dataclass
class ExerciseRecord:
    key: str
    result: ExerciseResult
    folder: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # student file → sha256
    graded_at: str = ""
    graders: str = ""  # the graders' version (versions.graders_version): records to merge must agree on it

    @property
    def status(self) -> str:
        return self.result.status

    def to_json(self) -> dict:
        return {"key": self.key, "graders": self.graders, "folder": self.folder, "files": self.files,
                "graded_at": self.graded_at, "result": self.result.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> "ExerciseRecord":
        return cls(data["key"], ExerciseResult.from_json(data["result"]), data.get("folder"),
                   data.get("files", {}), data.get("graded_at", ""), data.get("graders", ""))


@dataclass
class Record:
    student: str
    source: str = ""
    kind: str = ""
    commit: str | None = None
    problems: list[str] = field(default_factory=list)  # about the submission as a whole (refused zip entries)
    exercises: dict[str, ExerciseRecord] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"student": self.student, "source": self.source, "kind": self.kind, "commit": self.commit,
                "problems": self.problems,
                "exercises": {eid: record.to_json() for eid, record in sorted(self.exercises.items())}}

    @classmethod
    def from_json(cls, data: dict) -> "Record":
        return cls(data["student"], data.get("source", ""), data.get("kind", ""), data.get("commit"),
                   data.get("problems", []),
                   {eid: ExerciseRecord.from_json(item) for eid, item in data.get("exercises", {}).items()})


class RecordError(ValueError):
    """A record file that cannot be read, named with the reason."""


def read_record(path: Path) -> Record:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = Record.from_json(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordError(f"{path}: not a record `ticketrail grade` wrote (not valid JSON: {error})") from None
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise RecordError(f"{path}: not a record `ticketrail grade` wrote (field {error} is missing or "
                          "of the wrong type)") from None
    if path.stem != record.student:
        raise RecordError(f"{path}: holds the record of {record.student!r}, but is named after {path.stem!r}")
    return record


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


class RecordStore:
    """The records of one output folder; safe to update from several grading threads."""

    def __init__(self, out: Path) -> None:
        self.folder = out / "records"
        self._lock = threading.Lock()

    def path(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def load(self, student: str) -> Record | None:
        try:
            return Record.from_json(json.loads(self.path(student).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # unreadable (edited by hand?): graded afresh

    def update(self, student: str, base: Record, exercise_id: str | None = None,
               exercise: ExerciseRecord | None = None) -> Record:
        """Merge one exercise (or just the submission's details in `base`) into the stored record."""
        with self._lock:
            record = self.load(student) or Record(student)
            record.source, record.kind, record.commit = base.source, base.kind, base.commit
            record.problems = base.problems
            if exercise_id is not None and exercise is not None:
                record.exercises[exercise_id] = exercise
            write_atomically(self.path(student), json.dumps(record.to_json(), indent=1) + "\n")
            return record
