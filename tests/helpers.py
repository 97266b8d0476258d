"""Helpers for the kit's own tests (importable because pyproject puts tests/ on the path)."""

from __future__ import annotations

from pathlib import Path

from ticketrail.grading.runner import ExerciseResult

KIT = Path(__file__).resolve().parent.parent
WRONG = KIT / "tests" / "wrong"


def failed_tests(result: ExerciseResult) -> set[str]:
    return {t.name for t in result.tests if not t.passed}


def explain(result: ExerciseResult) -> str:
    lines = [f"{result.exercise} {result.status} {result.score}/{result.max_score} {result.note}"]
    lines += [f"  {t.outcome:8} {t.name}: {t.message[:300]}" for t in result.tests]
    return "\n".join(lines)
