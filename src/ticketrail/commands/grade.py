"""`ticketrail grade SUBMISSIONS --out DIR`: grade a class, resumably, and write every export."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ticketrail import config as grading_config
from ticketrail import sandbox
from ticketrail.commands._common import kit_as_it_is_now, stopped_by_signals
from ticketrail.grading.batch import Batch, BatchError, Options, Shard, default_jobs
from ticketrail.grading.classview import ClassView
from ticketrail.grading.exports import summary_table, write_class
from ticketrail.grading.gradebook import NbgraderMissing, write_gradebook
from ticketrail.grading.progress import duration
from ticketrail.grading.submissions import discover
from ticketrail.textsafe import clean


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grade", help="grade a class: a folder, zip or git checkout per student",
        description="Grade every submission in SUBMISSIONS (a folder, zip or git checkout per student, named after "
                    "the student) in isolation and in parallel. Re-running grades only what changed. "
                    "See docs/grading.md.")
    parser.add_argument("submissions", type=Path, help="the folder holding one submission per student")
    parser.add_argument("--out", type=Path, default=Path("results"), help="where results go (default: results)")
    parser.add_argument("-e", "--exercise", action="append", default=[], metavar="NN",
                        help="grade this exercise (repeat, or comma-separate); default: the exercises the "
                             "submissions hold work for")
    parser.add_argument("-s", "--student", action="append", default=[], metavar="PATTERN",
                        help="grade only these students (shell wildcards, e.g. 'a*'; repeat or comma-separate)")
    parser.add_argument("-j", "--jobs", type=int, default=0,
                        help=f"gradings at a time (default: three per core as memory allows, here {default_jobs()})")
    parser.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                        help="grade only part K of N of the class (by a hash of each student's name, so a student "
                             "is always in the same part); then build the class's CSVs with `ticketrail report`")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--force", action="store_true", help="regrade even what is up to date")
    again.add_argument("--only-failed", action="store_true",
                       help="regrade only the gradings that failed last time (timeout, ungradable, rejected)")
    parser.add_argument("--redis", default=None, help="server, embedded or a redis:// URL (default: redis-server "
                                                      "when installed, else embedded)")
    parser.add_argument("--nbgrader", type=Path, default=None, metavar="GRADEBOOK.db",
                        help="also write the scores into this nbgrader gradebook (needs ticketrail[nbgrader])")
    parser.add_argument("--student-user", default=None, metavar="auto|none|UID:GID",
                        help="whom the student's programs run as: auto (the default as root: a uid of their own, "
                             "in the sandbox), none (as yourself), or UID:GID (needs root)")
    parser.set_defaults(handler=grade)


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _split(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def grade(options: argparse.Namespace) -> int:
    with stopped_by_signals():
        return _grade(options)


def _guard_the_class(options: argparse.Namespace, out: Path) -> None:
    """As root: say loudly when student code would run as root; seal the class's folders only where the jail
    is refused (in the jail a student's programs cannot see them, so the instructor's permissions stay)."""
    if os.geteuid() != 0:
        return
    if options.student_user == "none":
        print("WARNING: --student-user none as root: every student's code runs as root, with full power over "
              "this machine, the kit and the class's work. Grade with the sandbox (the default) for marks.",
              file=sys.stderr, flush=True)
        return
    refused = sandbox.jail_refused()
    if refused is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    for folder in (options.submissions, out):
        if sandbox.seal(folder):
            print(f"note: sealed {folder} (no access for other users): this machine refuses the jail ({refused}), "
                  "so a student's programs run as another user alone and must not read the class's work or results",
                  file=sys.stderr)


def _grade(options: argparse.Namespace) -> int:
    if options.student_user not in (None, "auto", "none") and os.geteuid() != 0:
        print(f"--student-user {options.student_user} needs root: only root can run programs as another user.",
              file=sys.stderr)
        return 2
    try:
        kit = kit_as_it_is_now()
        root, config = kit.root, kit.config
        exercises = [kit.exercise(eid).id for eid in _split(options.exercise)]
        submissions, notes = discover(options.submissions)
    except (grading_config.ConfigError, FileNotFoundError) as error:
        print(clean(str(error)), file=sys.stderr)
        return 2
    if options.shard is not None and options.nbgrader is not None:
        print("--nbgrader with --shard: the gradebook is written once, for the whole class, by the report step: "
              f"ticketrail report {options.out} --nbgrader {options.nbgrader}", file=sys.stderr)
        return 2
    out = options.out
    submissions = [s for s in submissions if s.path.resolve() != out.resolve()]  # --out inside SUBMISSIONS
    for note in notes:
        print(clean(f"note: {note}"), file=sys.stderr)
    if not submissions:
        print(f"{options.submissions} holds no submissions (a folder or zip per student).", file=sys.stderr)
        return 2
    batch_options = Options(
        exercises=exercises, students=_split(options.student), jobs=options.jobs,
        force=options.force, only_failed=options.only_failed, redis=options.redis,
        student_user=options.student_user, shard=options.shard,
    )
    batch = Batch(root, config, submissions, out, batch_options)
    started = time.monotonic()
    try:
        plan = batch.plan()
    except BatchError as error:
        print(clean(str(error)), file=sys.stderr)
        return 2
    _guard_the_class(options, out)
    jobs = min(batch_options.jobs or default_jobs(), max(len(plan.jobs), 1))
    part = f"shard {options.shard}: {len(plan.selected)} of {len(submissions)}" if options.shard else len(plan.selected)
    print(f"{part} submissions, exercise{'s' if len(plan.exercises) > 1 else ''} "
          f"{', '.join(plan.exercises)}: {len(plan.jobs)} to grade ({jobs} at a time), "
          f"{plan.settled} settled without a run (files missing, submission rejected), "
          f"{plan.up_to_date} up to date{'' if not plan.up_to_date else ' (--force regrades them)'}.",
          file=sys.stderr, flush=True)
    batch.run(plan)
    if options.shard is not None:
        return _shard_done(options, batch, started)

    view = _class_view(config, submissions, batch, plan.exercises)
    write_class(out, view)
    if options.nbgrader is not None:
        try:
            for warning in write_gradebook(options.nbgrader, view):
                print(f"note: {warning}", file=sys.stderr)
        except NbgraderMissing as error:
            print(error, file=sys.stderr)
            return 2
    print(clean(summary_table(view, [s.student for s in plan.selected])))
    print(f"\nGraded {len(batch.graded)} in {duration(time.monotonic() - started)}. Results in {out}/: "
          f"grades.csv, tests.csv, results/<student>.json (Gradescope), feedback/<student>.md"
          f"{f', and the gradebook {options.nbgrader}' if options.nbgrader else ''}.")
    if batch.interrupted:
        print("Interrupted: the gradings that finished are saved. Run the same command again to finish the rest.",
              file=sys.stderr)
        return 130
    return 0


def _shard_done(options: argparse.Namespace, batch: Batch, started: float) -> int:
    """A shard writes its students' records, results and feedback; the class's files wait for every shard."""
    print(f"Shard {options.shard}: graded {len(batch.graded)} in {duration(time.monotonic() - started)}. "
          f"Records in {options.out}/records/. When every shard is done, build the class's grades.csv, "
          f"tests.csv and feedback from them: ticketrail report {options.out} (the shards' folders, or the "
          "one they share).")
    if batch.interrupted:
        print("Interrupted: the gradings that finished are saved. Run the same command again to finish the rest.",
              file=sys.stderr)
        return 130
    return 0


def _class_view(config, submissions, batch: Batch, exercises: list[str]) -> ClassView:
    """Everyone in the folder; every exercise graded so far (this run's, and earlier runs' still in grading.yml)."""
    students = [s.student for s in submissions]
    records = {student: batch.store.load(student) for student in students}
    recorded = {eid for record in records.values() if record for eid in record.exercises}
    ids = [eid for eid in config.exercises if eid in exercises or eid in recorded]
    return ClassView(config, students, records, ids)
