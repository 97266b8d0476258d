"""The class as every export sees it: each student's record under grading.yml's current points and
visibility, so that changing those needs no regrading."""

from __future__ import annotations

from dataclasses import replace

from ticketrail.config import ExerciseSpec, GradingConfig
from ticketrail.grading.records import Record
from ticketrail.grading.runner import ExerciseResult, TestResult
from ticketrail.grading.submissions import Identity, identity

SCORED = ("graded", "timeout", "missing")  # an exercise in any other state has no score yet, not a 0

STATUS_WORDS = {
    "missing": "files missing",
    "timeout": "stopped at the time limit; the checks that finished kept their points",
    "ungradable": "the grading run could not reach a verdict",
    "rejected": "the submission could not be opened safely",
}


def points(value: float) -> str:
    return f"{value:g}"


def rescored(spec: ExerciseSpec, result: ExerciseResult) -> ExerciseResult:
    recorded = {test.name: test for test in result.tests}
    tests = []
    for name, test_spec in spec.tests.items():
        test = recorded.get(name) or TestResult(name, "not_run", 0.0, test_spec.points, test_spec.visibility,
                                                message="this test did not run")
        tests.append(replace(test, score=test_spec.points if test.passed else 0.0, max_score=test_spec.points,
                             visibility=test_spec.visibility))
    return replace(result, title=spec.title, tests=tests)


class ClassView:
    def __init__(self, config: GradingConfig, students: list[str], records: dict[str, Record | None],
                 exercise_ids: list[str]) -> None:
        self.config = config
        self.students = students
        self.records = records
        self.exercise_ids = exercise_ids

    def identity(self, student: str) -> Identity:
        return identity(student)

    def result(self, student: str, exercise_id: str) -> ExerciseResult | None:
        record = self.records.get(student)
        if record is None or exercise_id not in record.exercises:
            return None
        return rescored(self.config.exercise(exercise_id), record.exercises[exercise_id].result)

    def score(self, student: str, exercise_id: str) -> float | None:
        result = self.result(student, exercise_id)
        return result.score if result is not None and result.status in SCORED else None

    def max_score(self, exercise_id: str) -> float:
        return self.config.exercise(exercise_id).max_points

    def maximum(self) -> float:
        return sum(self.max_score(eid) for eid in self.exercise_ids)

    def total(self, student: str) -> float | None:
        scores = [self.score(student, eid) for eid in self.exercise_ids]
        return None if any(score is None for score in scores) else sum(scores)

    def status(self, student: str) -> str:
        """What is not plain about the student's grading, exercises grouped: "02, 03 missing; 05 timeout"."""
        record = self.records.get(student)
        grouped: dict[str, list[str]] = {}
        for eid in self.exercise_ids:
            result = self.result(student, eid)
            if result is None:
                grouped.setdefault("not graded", []).append(eid)
            elif result.status != "graded":
                grouped.setdefault(result.status, []).append(eid)
        notes = [f"{', '.join(ids)} {status}" for status, ids in grouped.items()]
        if record is not None and record.problems:
            count = len(record.problems)
            notes.append(f"{count} problem{'s' if count > 1 else ''} with the submission")
        if self.identity(student).late:
            notes.append("late")
        return "; ".join(notes) or "ok"
