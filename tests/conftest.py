"""Shared by the kit's own tests: grade an implementation once, reuse the result."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from ticketrail import config
from ticketrail.grading.runner import ExerciseResult, run_exercise

from helpers import KIT

# Started first, each on a worker of its own under --dist loadfile: started last, one would end the run alone.
LONGEST_FILES = ("test_attacks.py", "test_grading_sample_class.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in LONGEST_FILES)  # stable: each file's tests stay together


@functools.lru_cache(maxsize=None)
def _graded(exercise_id: str, impl: str, redis: str | None, only: tuple[str, ...]) -> ExerciseResult:
    return run_exercise(KIT, config.load(KIT / "grading.yml"), exercise_id, Path(impl), redis=redis, only=only)


@pytest.fixture(scope="session")
def grade():
    """grade("01", "reference"), or grade("01", WRONG / "01" / "gather_only", only={"test_x"}).

    `only` runs just the graders a known-wrong solution is aimed at: a full run of every
    grader on every wrong solution would not fit the kit's test budget.
    """

    def run(exercise_id: str, impl: str | Path, redis: str | None = None, only=()) -> ExerciseResult:
        if impl in ("starter", "reference"):
            impl = KIT / str(impl) / exercise_id
        return _graded(exercise_id, str(impl), redis, tuple(sorted(only)))

    return run
