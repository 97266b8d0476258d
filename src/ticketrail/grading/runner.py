"""Run one exercise's hidden graders against one implementation, in a pytest process of its own.

The points are counted here, from grading.yml and the JSON lines the plugin writes as
each test ends; never from an exit code or a file the student's programs can touch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ticketrail.config import ExerciseSpec, GradingConfig


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
    status: str  # graded, timeout, ungradable
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
                grading_yml: Path | None = None, student_user: str | None = None) -> list[str]:
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
    return argv


def run_exercise(
    kit_root: Path,
    config: GradingConfig,
    exercise_id: str,
    impl: Path | str,
    redis: str | None = None,
    student_user: str | None = None,
    timeout: float | None = None,
) -> ExerciseResult:
    """Grade `impl` for one exercise. Tests that finished before a timeout keep their points."""
    spec = config.exercise(exercise_id)
    timeout = timeout or spec.exercise_timeout
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ticketrail-grade-") as scratch:
        report = Path(scratch) / "report.jsonl"
        report.touch()
        argv = pytest_argv(kit_root, exercise_id, impl, redis, report, config.path, student_user)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REDIS_URL", "TICKETRAIL_"))}
        process = subprocess.Popen(argv, cwd=kit_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
            status = "graded"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            status = "timeout"
        lines = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    text = output.decode("utf-8", "replace")
    result = score(spec, lines, status)
    result.duration = time.monotonic() - started
    if status == "timeout":
        result.note = f"the graders did not finish within {timeout:.0f} s; tests that finished kept their points"
    elif any(line.get("outcome") == "collect_error" for line in lines) or (
        process.returncode not in (0, 1) and not any(line.get("name") for line in lines)
    ):
        result.status = "ungradable"
        result.note = f"the grading run itself failed (pytest exit {process.returncode}):\n{text[-3000:]}"
    return result


def score(spec: ExerciseSpec, lines: list[dict], status: str = "graded") -> ExerciseResult:
    by_name = {line["name"]: line for line in lines if line.get("name")}
    collect_errors = [line for line in lines if line.get("outcome") == "collect_error"]
    tests = []
    for name, test in spec.tests.items():
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
