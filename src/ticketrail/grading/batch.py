"""Grade a class: every selected submission × exercise in isolation, in parallel, resumably.

Each grading gets a fresh workspace: a copy of the kit's pristine starter/NN with only the
student files grading.yml lists laid over it; the graders run on it in a pytest process
of their own (its own Redis and world). One record per submission is updated atomically
as each grading ends, so an interrupted batch loses nothing already graded, and a re-run
grades only what is not up to date.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ticketrail.config import ExerciseSpec, GradingConfig
from ticketrail.grading import runner
from ticketrail.grading.classview import ClassView
from ticketrail.grading.exports import write_student
from ticketrail.grading.progress import Progress, duration
from ticketrail.grading.records import FAILED, ExerciseRecord, Record, RecordStore, now
from ticketrail.grading.runner import ExerciseResult, TestResult
from ticketrail.grading.submissions import (
    Handin,
    Rejected,
    Submission,
    Tree,
    find_handin,
    has_exercise_folder,
    open_tree,
)
from ticketrail.grading.versions import grading_key, graders_version


GRADINGS_PER_CORE = 3
MEMORY_PER_GRADING = 400 * 1024 * 1024  # pytest, Redis, the world and the student's programs, with room to spare


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def default_jobs() -> int:
    """Three gradings per core, as memory allows. A grading mostly waits (on the world's slow services, on
    Redis, on a worker's next poll): 04's take 41 s of wall time for 15 s of CPU. The latency checks are the
    part that wants a quiet machine, and they take turns (latency.exclusive) instead of keeping cores idle."""
    available = _memory_available()
    by_memory = available // MEMORY_PER_GRADING if available else GRADINGS_PER_CORE * cores()
    return max(1, min(GRADINGS_PER_CORE * cores(), by_memory))


def _memory_available() -> int:
    """Linux's estimate of the memory that can be used without swapping (free memory and reclaimable cache)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass(frozen=True)
class Shard:
    """Part K of N of the class: the students whose key hashes to K. A student's shard depends on their key
    alone, so it is the same whatever else is in the folder, in whatever order."""

    index: int  # 1..count
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        index, slash, count = text.strip().partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = None
        if not slash or shard is None or not 1 <= shard.index <= shard.count:
            raise ValueError(f"--shard takes K/N with 1 <= K <= N, e.g. 2/3 for the second of three; got {text!r}")
        return shard

    def holds(self, student: str) -> bool:
        digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass
class Options:
    exercises: list[str] = field(default_factory=list)  # empty: the exercises the class worked on
    students: list[str] = field(default_factory=list)  # shell-style patterns; empty: everyone
    jobs: int = 0  # 0: default_jobs()
    force: bool = False
    only_failed: bool = False
    redis: str | None = None
    student_user: str | None = None  # auto, none or uid:gid, as the plugin's --student-user takes it
    shard: Shard | None = None


@dataclass
class Job:
    submission: Submission
    base: Record
    spec: ExerciseSpec
    handin: Handin
    key: str
    graders: str
    expected_seconds: float = float("inf")  # from an earlier grading; unknown ones go first

    @property
    def label(self) -> str:
        return f"{self.submission.student} {self.spec.id}"


@dataclass
class Plan:
    exercises: list[str]
    selected: list[Submission]
    jobs: list[Job] = field(default_factory=list)
    settled: int = 0  # recorded at once: missing files, rejected submissions
    up_to_date: int = 0
    notes: list[str] = field(default_factory=list)


class BatchError(ValueError):
    """A problem with the command as given (no such exercise, no student matches)."""


class Batch:
    def __init__(self, kit_root: Path, config: GradingConfig, submissions: list[Submission], out: Path,
                 options: Options, stream: TextIO | None = None) -> None:
        self.kit_root = kit_root
        self.config = config
        self.submissions = submissions
        self.out = out
        self.options = options
        self.store = RecordStore(out)
        self.progress_stream = stream
        self.interrupted = False
        self.graded: list[str] = []
        self._writing = threading.Lock()

    # --- planning ------------------------------------------------------------------------

    def plan(self) -> Plan:
        trees: dict[str, Tree | Rejected] = {}
        for submission in self.submissions:
            try:
                trees[submission.student] = open_tree(submission)
            except Rejected as rejection:
                trees[submission.student] = rejection
        try:
            exercises = self._exercises(trees)
            selected = self._selected()
            plan = Plan(exercises, selected)
            versions = {eid: graders_version(self.kit_root, self.config.exercise(eid)) for eid in exercises}
            flat = len(exercises) == 1
            for submission in selected:
                self._plan_submission(plan, submission, trees[submission.student], versions, flat)
            # Longest first, as far as earlier runs tell: a long grading started last would finish alone. Of those
            # no run has timed yet, the exercises with the most grader tests first.
            plan.jobs.sort(key=lambda job: (-job.expected_seconds, -len(job.spec.tests)))
        finally:
            for tree in trees.values():
                if isinstance(tree, Tree):
                    tree.close()
        return plan

    def _exercises(self, trees: dict[str, Tree | Rejected]) -> list[str]:
        known = list(self.config.exercises)
        if self.options.exercises:
            unknown = [eid for eid in self.options.exercises if eid not in known]
            if unknown:
                raise BatchError(f"no exercise {', '.join(unknown)} in {self.config.path} (it has: {', '.join(known)})")
            return [eid for eid in known if eid in self.options.exercises]
        opened = [tree for tree in trees.values() if isinstance(tree, Tree)]
        worked_on = [eid for eid in known if any(self._worked_on(tree, eid) for tree in opened)]
        if worked_on:
            return worked_on
        if len(known) == 1:
            return known
        raise BatchError("no submission has an NN/ (or starter/NN/) folder that differs from the starter, so "
                         f"it is not clear which exercise to grade: name it with --exercise ({', '.join(known)})")

    def _worked_on(self, tree: Tree, exercise_id: str) -> bool:
        """The submission has this exercise's folder, and its files are not the starter's, untouched."""
        if not has_exercise_folder(tree, exercise_id):
            return False
        spec = self.config.exercise(exercise_id)
        handin = find_handin(tree, spec, flat=False)
        starter = self.kit_root / "starter" / exercise_id
        return any(not (starter / name).is_file() or (starter / name).read_bytes() != content
                   for name, content in handin.files.items())

    def _selected(self) -> list[Submission]:
        patterns = self.options.students
        selected = list(self.submissions)
        if patterns:
            selected = [s for s in selected if any(fnmatch.fnmatchcase(s.student, p) for p in patterns)]
            if not selected:
                raise BatchError(f"no submission matches --student {' '.join(patterns)}")
        shard = self.options.shard
        # A shard with nobody in it (a small class, many shards) has nothing to do: not an error.
        return [s for s in selected if shard.holds(s.student)] if shard else selected

    def _plan_submission(self, plan: Plan, submission: Submission, tree: Tree | Rejected,
                         versions: dict[str, str], flat: bool) -> None:
        base = Record(submission.student, submission.source, submission.kind)
        if isinstance(tree, Tree):
            base.commit, base.problems = tree.commit(), list(tree.problems)
        previous = self.store.load(submission.student)
        for eid in plan.exercises:
            spec = self.config.exercise(eid)
            if isinstance(tree, Rejected):
                handin, digest = Handin(eid, None), "rejected:" + _file_digest(submission.path)
            else:
                handin = find_handin(tree, spec, flat)
                digest = handin.digest()
            key = grading_key(versions[eid], digest)
            earlier = previous.exercises.get(eid) if previous else None
            if not self._needs_grading(earlier, key):
                plan.up_to_date += 1
                continue
            if isinstance(tree, Rejected):
                self._settle(base, eid, key, versions[eid], handin, not_graded(spec, "rejected", str(tree)))
                plan.settled += 1
            elif not handin.complete:
                self._settle(base, eid, key, versions[eid], handin,
                             not_graded(spec, "missing", handin.explain_missing()))
                plan.settled += 1
            else:
                job = Job(submission, base, spec, handin, key, versions[eid])
                if earlier is not None and earlier.status == "graded":
                    job.expected_seconds = earlier.result.duration
                plan.jobs.append(job)
        if previous is None or previous.problems != base.problems or previous.commit != base.commit:
            self.store.update(submission.student, base)

    def _needs_grading(self, earlier: ExerciseRecord | None, key: str) -> bool:
        if self.options.force:
            return True
        if self.options.only_failed:
            return earlier is not None and earlier.status in FAILED
        return earlier is None or earlier.key != key

    def _settle(self, base: Record, exercise_id: str, key: str, graders: str, handin: Handin,
                result: ExerciseResult) -> None:
        self._record(base, exercise_id,
                     ExerciseRecord(key, result, handin.folder, handin.file_digests(), now(), graders))

    def _record(self, base: Record, exercise_id: str, exercise: ExerciseRecord) -> None:
        with self._writing:  # two exercises of one student finishing together: the later record is exported last
            record = self.store.update(base.student, base, exercise_id, exercise)
            ids = [eid for eid in self.config.exercises if eid in record.exercises]
            view = ClassView(self.config, [base.student], {base.student: record}, ids)
            write_student(self.out, view, base.student)

    # --- grading ---------------------------------------------------------------------------

    def run(self, plan: Plan) -> None:
        """Grade the plan's jobs; Ctrl-C stops the gradings in flight and keeps every finished one."""
        if not plan.jobs:
            return
        jobs = self.options.jobs or default_jobs()
        progress = Progress(len(plan.jobs), self.progress_stream)
        at_once = min(jobs, len(plan.jobs))
        # Gradings side by side already keep the cores busy: each runs its tests one after the other, sparing the
        # start of a worker per test slot. A lone grading runs its tests side by side.
        side_by_side = 1 if at_once > 1 else None
        pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="grading")
        pending: set[Future] = {pool.submit(self._grade, job, progress, side_by_side) for job in plan.jobs}
        try:
            while pending:
                done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                progress.refresh()
        except KeyboardInterrupt:
            self.interrupted = True
            progress.close()
            print("\nInterrupted: stopping the gradings in flight; every finished one is kept.",
                  file=self.progress_stream or sys.stderr, flush=True)
            for future in pending:
                future.cancel()
            # Repeat until every thread is back: a grading may have started just after the first sweep.
            while not all(future.done() for future in pending):
                try:
                    runner.cancel_all()
                    wait(pending, timeout=0.5)
                except KeyboardInterrupt:
                    continue
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            progress.close()

    def _grade(self, job: Job, progress: Progress, side_by_side: int | None) -> None:
        if self.interrupted:
            return
        progress.begin(job.label)
        started = time.monotonic()
        try:
            result = self._grade_handin(job.spec, job.handin, side_by_side)
        except Exception:  # the harness failed, not the student: record it and go on with the class
            result = not_graded(job.spec, "ungradable", "the kit failed while grading:\n" + traceback.format_exc())
            result.duration = time.monotonic() - started
        if result.status == "cancelled":
            return
        self._record(job.base, job.spec.id, ExerciseRecord(job.key, result, job.handin.folder,
                                                           job.handin.file_digests(), now(), job.graders))
        self.graded.append(job.label)
        status = "" if result.status == "graded" else f" {result.status}"
        progress.end(job.label, f"{job.label}: {result.score:g}/{result.max_score:g}{status} "
                                f"in {duration(result.duration)}")

    def _grade_handin(self, spec: ExerciseSpec, handin: Handin, side_by_side: int | None) -> ExerciseResult:
        with tempfile.TemporaryDirectory(prefix="ticketrail-workspace-") as scratch:
            impl = Path(scratch) / spec.id
            starter = self.kit_root / "starter" / spec.id
            if starter.is_dir():
                shutil.copytree(starter, impl, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
            else:
                impl.mkdir()
            for name, content in handin.files.items():
                target = impl / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink() or target.exists():
                    target.unlink()
                target.write_bytes(content)
            result = runner.run_exercise(self.kit_root, self.config, spec.id, impl, redis=self.options.redis,
                                         student_user=self.options.student_user, side_by_side=side_by_side)
        return _without_workspace(result, f"{impl}/")


def _without_workspace(result: ExerciseResult, prefix: str) -> ExerciseResult:
    """Messages name the student's files as they handed them in (app.py), not by the temporary workspace."""
    for test in result.tests:
        test.message, test.details = test.message.replace(prefix, ""), test.details.replace(prefix, "")
    result.note = result.note.replace(prefix, "")
    return result


def not_graded(spec: ExerciseSpec, status: str, note: str) -> ExerciseResult:
    """A result with no grading run behind it: files missing, a submission rejected, the kit failing."""
    first_line = note.strip().splitlines()[0] if note.strip() else status
    tests = [TestResult(name, "not_run", 0.0, test.points, test.visibility, message=f"Not run: {first_line}")
             for name, test in spec.tests.items()]
    return ExerciseResult(spec.id, spec.title, status, tests, note=note)


def _file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()
