"""Run one exercise's hidden graders against one implementation, in a pytest process of its own.

The points are counted here, from grading.yml and the JSON lines the plugin writes as
each test ends; never from an exit code or a file the student's programs can touch.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from ticketrail.config import ExerciseSpec, GradingConfig
from ticketrail.report import ReportError, ReportLine, pytest_command, read_report, stop_pytest
from ticketrail.spread import SIDE_BY_SIDE


@dataclass
class TestResult:
    name: str
    outcome: str  # passed, failed, error, skipped, not_run
    score: float
    max_score: float
    visibility: str
    duration: float = 0.0
    message: str = ""
    details: str = ""
    timelines: list[dict] = field(default_factory=list)  # as the report line holds them (timeline.Timeline)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass
class ExerciseResult:
    exercise: str
    title: str
    status: str  # graded, timeout, ungradable; cancelled (by cancel_all); a batch adds missing and rejected
    tests: list[TestResult] = field(default_factory=list)
    duration: float = 0.0
    note: str = ""

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    def to_json(self) -> dict:
        return asdict(self) | {"score": self.score, "max_score": self.max_score}

    @classmethod
    def from_json(cls, data: dict) -> "ExerciseResult":
        tests = [TestResult(**t) for t in data.get("tests", [])]
        return cls(data["exercise"], data["title"], data["status"], tests, data.get("duration", 0.0), data.get("note", ""))


def run_exercise(
    kit_root: Path,
    config: GradingConfig,
    exercise_id: str,
    impl: Path | str,
    redis: str | None = None,
    student_user: str | None = None,
    timeout: float | None = None,
    only: Iterable[str] = (),
    isolation: str = "auto",
    side_by_side: int | None = None,
) -> ExerciseResult:
    """Grade `impl` for one exercise. Tests that finished before a timeout keep their points.

    `only` names the grader tests to run (all by default); the result then holds just those. `side_by_side`: how
    many of its tests run at once (default: spread.SIDE_BY_SIDE, never more than it runs: a worker costs a start).
    """
    spec = config.exercise(exercise_id)
    timeout = timeout or spec.exercise_timeout
    only = tuple(only)
    side_by_side = side_by_side or min(SIDE_BY_SIDE, len(only) or len(spec.tests))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ticketrail-grade-") as scratch:
        report = Path(scratch) / "report.jsonl"
        report.touch()
        command = pytest_command(kit_root, kit_root / "graders" / exercise_id, impl, report, grading=True, redis=redis,
                                 grading_yml=config.path, student_user=student_user, only=only, isolation=isolation,
                                 side_by_side=side_by_side)
        # A file, not a pipe: should this process die, pytest still tears down instead of dying on a broken pipe.
        with open(Path(scratch) / "output.txt", "w+b") as output:
            process = command.start(output)
            with _lock:
                _running[process.pid] = process
            try:
                process.wait(timeout=timeout)
                status = "graded"
            except subprocess.TimeoutExpired:
                stop_pytest(process)
                status = "timeout"
            finally:
                with _lock:
                    _running.pop(process.pid, None)
                    if process.pid in _cancelled:
                        _cancelled.discard(process.pid)
                        status = "cancelled"
            output.seek(0)
            text = output.read().decode("utf-8", "replace")
        finished = status == "graded" and process.returncode in (0, 1)
        try:
            lines, tampered = read_report(report, command.seal(), finished), None
        except ReportError as error:
            lines, tampered = [], str(error)
    result = score(spec, lines, status, only)
    result.duration = time.monotonic() - started
    ran = [line for line in lines if line.name]
    names = [line.name for line in ran]
    forged = sorted({name for name in names if names.count(name) > 1})
    if tampered or forged:
        # The plugin writes one sealed line per test as it ends (and graders are not parametrized, grading.yml
        # names each once): anything else came from someone else.
        result = score(spec, [], "ungradable", only)
        result.duration = time.monotonic() - started
        why = tampered or f"the report holds two lines for one test ({forged[0]})"
        result.note = (f"{why}: something other than the graders wrote to it, so no verdict of this run can be "
                       "trusted")
    elif status == "timeout":
        result.note = f"the graders did not finish within {timeout:.0f} s; tests that finished kept their points"
    elif status == "cancelled":
        result.note = "the grading was cancelled before it finished"
    elif any(line.outcome == "collect_error" for line in lines) or (
        process.returncode not in (0, 1) and not ran
    ):
        result.status = "ungradable"
        result.note = f"the grading run itself failed (pytest exit {process.returncode}):\n{text[-3000:]}"
    elif ran and all(line.outcome == "error" for line in ran):
        # Every test failed outside its body, in the fixtures that start Redis, the world or the programs:
        # nothing was measured, so a 0 would be a verdict on the harness rather than on the submission.
        result.status = "ungradable"
        result.note = f"no test could be set up; the first error:\n{ran[0].message[:2000]}"
    return result


def score(spec: ExerciseSpec, lines: list[ReportLine], status: str = "graded", only: Iterable[str] = ()) -> ExerciseResult:
    by_name = {line.name: line for line in lines if line.name}
    collect_errors = [line for line in lines if line.outcome == "collect_error"]
    wanted = set(only)
    tests = []
    for name, test in spec.tests.items():
        if wanted and name not in wanted:
            continue
        line = by_name.get(name)
        if line is None:
            outcome = "not_run"
            message = "timed out before this test ran" if status == "timeout" else "this test did not run"
            if collect_errors:
                message = collect_errors[0].message
            tests.append(TestResult(name, outcome, 0.0, test.points, test.visibility, message=message))
            continue
        passed = line.outcome == "passed"
        tests.append(TestResult(name, line.outcome, test.points if passed else 0.0, test.points, test.visibility,
                                line.duration, line.message, line.details, line.timelines))
    return ExerciseResult(spec.id, spec.title, status, tests)


# Grading runs in flight, so that a batch interrupted with Ctrl-C can stop them all.
_lock = threading.Lock()
_running: dict[int, subprocess.Popen] = {}
_cancelled: set[int] = set()


def cancel_all(grace: float = 5.0) -> None:
    """Stop every grading run in flight; each returns an ExerciseResult with status 'cancelled'."""
    with _lock:
        processes = list(_running.values())
        _cancelled.update(process.pid for process in processes)
    stoppers = [threading.Thread(target=stop_pytest, args=(process, grace)) for process in processes]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()
