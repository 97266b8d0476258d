"""Shared by the kit's own tests: grade an implementation once, reuse the result."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from ticketrail import config
from ticketrail.grading.runner import ExerciseResult, run_exercise

from helpers import KIT


@functools.lru_cache(maxsize=None)
def _graded(exercise_id: str, impl: str, redis: str | None) -> ExerciseResult:
    return run_exercise(KIT, config.load(KIT / "grading.yml"), exercise_id, Path(impl), redis=redis)


@pytest.fixture(scope="session")
def grade():
    """grade("01", "reference") or grade("01", WRONG / "01" / "gather_only", redis="embedded")."""

    def run(exercise_id: str, impl: str | Path, redis: str | None = None) -> ExerciseResult:
        if impl in ("starter", "reference"):
            impl = KIT / str(impl) / exercise_id
        return _graded(exercise_id, str(impl), redis)

    return run
