"""Run one exercise's hidden graders against one implementation, in a pytest process of its own.

The points are counted here, from grading.yml and the JSON lines the plugin writes as
each test ends; never from an exit code or a file the student's programs can touch.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from ticketrail import procfs
from ticketrail._libc import die_with_parent
from ticketrail.config import ExerciseSpec, GradingConfig
from ticketrail.report_seal import KEY_VARIABLE, ReportSeal


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


def pytest_argv(kit_root: Path, exercise_id: str, impl: Path | str, redis: str | None, report: Path,
                grading_yml: Path | None = None, student_user: str | None = None,
                only: Iterable[str] = (), isolation: str = "auto") -> list[str]:
    argv = [
        sys.executable, "-m", "pytest", str(kit_root / "graders" / exercise_id),
        "--impl", str(impl), "--ticketrail-report", str(report),
        "-p", "no:cacheprovider", "-p", "no:randomly", "--noconftest",
        "--rootdir", str(kit_root), "-c", str(kit_root / "pyproject.toml"),
        "-q", "--tb=short", "--no-header", "-rN",
    ]
    if redis:
        argv += ["--redis", redis]
    if grading_yml:
        argv += ["--grading-yml", str(grading_yml)]
    if student_user:
        argv += ["--student-user", student_user]
    if only:
        argv += ["--ticketrail-only", ",".join(sorted(only))]
    if isolation != "auto":
        argv += ["--isolation", isolation]
    return argv


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
) -> ExerciseResult:
    """Grade `impl` for one exercise. Tests that finished before a timeout keep their points.

    `only` names the grader tests to run (all by default); the result then holds just those.
    """
    spec = config.exercise(exercise_id)
    timeout = timeout or spec.exercise_timeout
    only = tuple(only)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ticketrail-grade-") as scratch:
        report = Path(scratch) / "report.jsonl"
        report.touch()
        argv = pytest_argv(kit_root, exercise_id, impl, redis, report, config.path, student_user, only, isolation)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REDIS_URL", "TICKETRAIL_"))}
        key = secrets.token_hex(32)
        env[KEY_VARIABLE] = key
        # A file, not a pipe: should this process die, pytest still tears down instead of dying on a broken pipe.
        with open(Path(scratch) / "output.txt", "w+b") as output:
            process = subprocess.Popen(argv, cwd=kit_root, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
            with _lock:
                _running[process.pid] = process
            try:
                process.wait(timeout=timeout)
                status = "graded"
            except subprocess.TimeoutExpired:
                stop_grading(process)
                status = "timeout"
            finally:
                with _lock:
                    _running.pop(process.pid, None)
                    if process.pid in _cancelled:
                        _cancelled.discard(process.pid)
                        status = "cancelled"
            output.seek(0)
            text = output.read().decode("utf-8", "replace")
        lines, tampered = _read_report(report, ReportSeal(key), finished=status == "graded" and process.returncode in (0, 1))
    result = score(spec, [line for line in lines if not line.get("end")], status, only)
    result.duration = time.monotonic() - started
    ran = [line for line in lines if line.get("name")]
    names = [line["name"] for line in ran]
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
    elif any(line.get("outcome") == "collect_error" for line in lines) or (
        process.returncode not in (0, 1) and not ran
    ):
        result.status = "ungradable"
        result.note = f"the grading run itself failed (pytest exit {process.returncode}):\n{text[-3000:]}"
    elif ran and all(line.get("outcome") == "error" for line in ran):
        # Every test failed outside its body, in the fixtures that start Redis, the world or the programs:
        # nothing was measured, so a 0 would be a verdict on the harness rather than on the submission.
        result.status = "ungradable"
        result.note = f"no test could be set up; the first error:\n{ran[0].get('message', '')[:2000]}"
    return result


def _read_report(path: Path, seal: ReportSeal, finished: bool) -> tuple[list[dict], str | None]:
    lines = []
    for number, text in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError:
            return [], f"line {number} of the report is not JSON"
        if not isinstance(line, dict):
            return [], f"line {number} of the report is not an object"
        lines.append(line)
    return lines, seal.check(lines, finished)


def score(spec: ExerciseSpec, lines: list[dict], status: str = "graded", only: Iterable[str] = ()) -> ExerciseResult:
    by_name = {line["name"]: line for line in lines if line.get("name")}
    collect_errors = [line for line in lines if line.get("outcome") == "collect_error"]
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
                message = collect_errors[0]["message"]
            tests.append(TestResult(name, outcome, 0.0, test.points, test.visibility, message=message))
            continue
        passed = line["outcome"] == "passed"
        tests.append(TestResult(
            name, line["outcome"], test.points if passed else 0.0, test.points, test.visibility,
            line.get("duration", 0.0), line.get("message", ""), line.get("details", ""),
        ))
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
    stoppers = [threading.Thread(target=stop_grading, args=(process, grace)) for process in processes]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()


def stop_grading(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGINT first, so that pytest tears its fixtures down (Redis, the world, the student's programs);
    then SIGKILL for the whole tree, found while its parent links still hold."""
    try:
        process.send_signal(signal.SIGINT)
        process.wait(grace)
        return
    except subprocess.TimeoutExpired:
        pass
    kill_tree(process.pid)
    process.wait()


def kill_tree(pid: int) -> None:
    """SIGKILL a process, its descendants and their process groups (student programs run in groups of their own)."""
    own_group = os.getpgrp()
    for member in [*procfs.descendants(pid), pid]:
        try:
            group = os.getpgid(member)
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
            os.kill(member, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _die_with_parent() -> None:
    # Should the grading process be killed outright, pytest gets SIGINT and tears its fixtures down
    # instead of grading on for nobody.
    die_with_parent(signal.SIGINT)
