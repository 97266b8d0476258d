"""`ticketrail report OUT...`: the class's exports, built from the records of one or many graded folders.

Shards of a class (`ticketrail grade --shard K/N`) write records for their own students, into
one shared folder or into folders of their own that are copied together afterwards. This
step reads them all, checks that they fit together, and writes what a single run writes:
grades.csv, tests.csv, results/ and feedback/ for everyone, and the nbgrader gradebook.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ticketrail import config as grading_config
from ticketrail.config import GradingConfig
from ticketrail.grading.classview import ClassView
from ticketrail.grading.exports import summary_table, write_class
from ticketrail.grading.gradebook import NbgraderMissing, write_gradebook
from ticketrail.grading.records import ExerciseRecord, Record, RecordError, read_record, write_atomically
from ticketrail.grading.versions import graders_version
from ticketrail.commands._common import kit_as_it_is_now
from ticketrail.textsafe import clean


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="build grades.csv, tests.csv, feedback and the gradebook from graded folders (shards)",
        description="Read the records that `ticketrail grade` (with or without --shard) wrote in each OUT "
                    "folder and write the class's exports from all of them. See docs/grading.md.")
    parser.add_argument("folders", type=Path, nargs="+", metavar="OUT",
                        help="a folder `ticketrail grade --out` wrote; several for shards graded apart")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the class's exports go (default: the folder, when there is one)")
    parser.add_argument("--nbgrader", type=Path, default=None, metavar="GRADEBOOK.db",
                        help="also write the scores into this nbgrader gradebook (needs ticketrail[nbgrader])")
    parser.set_defaults(handler=run)


class Conflict(ValueError):
    """Records that cannot be put together; the message names every one and what to do."""


@dataclass
class Found:
    record: ExerciseRecord
    path: Path


@dataclass
class Collected:
    records: dict[str, Record] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)  # student → the record file the merged one starts from
    count: int = 0  # record files read


def collect(folders: list[Path]) -> Collected:
    """Every student's record, merged across folders. The same exercise of one student found twice is kept
    once when both gradings agree (same graders, same files); otherwise nothing is merged: see Conflict."""
    collected = Collected()
    seen: dict[tuple[str, str], Found] = {}
    conflicts: list[str] = []
    for folder in folders:
        for path in sorted((folder / "records").glob("*.json")):
            record = read_record(path)
            collected.count += 1
            merged = collected.records.get(record.student)
            if merged is None:
                merged = collected.records[record.student] = Record(
                    record.student, record.source, record.kind, record.commit, list(record.problems))
                collected.sources[record.student] = path
            for eid, exercise in sorted(record.exercises.items()):
                earlier = seen.get((record.student, eid))
                if earlier is None or earlier.record.key == exercise.key:
                    # The same grading key is the same graders on the same files: keep the later grading.
                    if earlier is None or exercise.graded_at > earlier.record.graded_at:
                        seen[(record.student, eid)] = Found(exercise, path)
                        merged.exercises[eid] = exercise
                    continue
                conflicts.append(_conflict(record.student, eid, earlier, Found(exercise, path)))
    if conflicts:
        raise Conflict("These records cannot be put together, so no report was written:\n"
                       + "\n".join(f"- {line}" for line in conflicts)
                       + "\nKeep one grading per student: remove the stale record file, or grade the student "
                         "again with one kit (ticketrail grade SUBMISSIONS --student NAME --out FOLDER).")
    return collected


def _conflict(student: str, exercise_id: str, first: Found, second: Found) -> str:
    def graded(found: Found) -> str:
        return f"{found.path} (graders {found.record.graders[:12] or 'unknown'}, graded {found.record.graded_at})"

    if first.record.graders and first.record.graders != second.record.graders:
        why = "graded by different graders versions"
    elif first.record.files != second.record.files:
        why = "graded from different files (the submission changed between the gradings)"
    else:
        why = "graded with different grading keys"
    return clean(f"{student}, exercise {exercise_id}: {why}: {graded(first)} and {graded(second)}")


def version_notes(root: Path, config: GradingConfig, records: dict[str, Record], exercise_ids: list[str]) -> list[str]:
    """Records made by graders other than this kit's, per exercise: the report is built, but the instructor
    should know that `ticketrail grade` would regrade them."""
    notes = []
    for eid in exercise_ids:
        current = graders_version(root, config.exercise(eid))
        versions: dict[str, list[str]] = {}
        for student, record in records.items():
            if eid in record.exercises:
                versions.setdefault(record.exercises[eid].graders or "unknown", []).append(student)
        others = {version: students for version, students in versions.items() if version != current}
        if others:
            count = sum(len(students) for students in others.values())
            names = ", ".join(sorted(s for students in others.values() for s in students)[:8])
            notes.append(clean(
                f"exercise {eid}: {count} of {sum(map(len, versions.values()))} gradings were made by graders other "
                f"than this kit's ({names}{' …' if count > 8 else ''}); the report shows them as recorded, and "
                "`ticketrail grade` on the same folder would regrade them"))
    return notes


def run(options: argparse.Namespace) -> int:
    folders: list[Path] = options.folders
    missing = [folder for folder in folders if not (folder / "records").is_dir()]
    if missing:
        print(f"{', '.join(map(str, missing))}: no records/ folder. Give the folders `ticketrail grade --out` "
              "wrote (each holds records/<student>.json).", file=sys.stderr)
        return 2
    if options.out is None and len(folders) > 1:
        print("Several folders: say where the class's exports go with --out (it may be one of them).",
              file=sys.stderr)
        return 2
    out: Path = options.out or folders[0]
    kit = kit_as_it_is_now()
    root = kit.root
    try:
        config = kit.config
        collected = collect(folders)
    except (grading_config.ConfigError, RecordError, Conflict) as error:
        print(clean(str(error)), file=sys.stderr)
        return 2
    if not collected.records:
        print(f"No records in {', '.join(map(str, folders))}: nothing is graded there yet.", file=sys.stderr)
        return 2

    records = collected.records
    recorded = {eid for record in records.values() for eid in record.exercises}
    exercise_ids = [eid for eid in config.exercises if eid in recorded]
    unknown = sorted(recorded - set(config.exercises))
    notes = version_notes(root, config, records, exercise_ids)
    if unknown:
        notes.append(f"exercise {', '.join(unknown)} is recorded but not in {config.path}: left out of the report")
    for student, record in records.items():
        target = out / "records" / f"{student}.json"
        if collected.sources[student].resolve() != target.resolve() or len(folders) > 1:
            write_atomically(target, json.dumps(record.to_json(), indent=1) + "\n")
    students = sorted(records)
    view = ClassView(config, students, dict(records), exercise_ids)
    write_class(out, view)
    if options.nbgrader is not None:
        try:
            notes += write_gradebook(options.nbgrader, view)
        except NbgraderMissing as error:
            print(error, file=sys.stderr)
            return 2
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(clean(summary_table(view)))
    print(f"\nReport of {len(students)} students from {collected.count} records in {len(folders)} "
          f"folder{'s' if len(folders) > 1 else ''}. Results in {out}/: grades.csv, tests.csv, "
          f"results/<student>.json (Gradescope), feedback/<student>.md"
          f"{f', and the gradebook {options.nbgrader}' if options.nbgrader else ''}.")
    return 0
