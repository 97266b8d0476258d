"""Shared by the kit's own tests: grade an implementation once, reuse the result."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from ticketrail import config
from ticketrail.grading.runner import ExerciseResult, run_exercise

from helpers import KIT

# The files that take longest, longest first: 10 minutes for the attack batch down to about 15 s for the last named,
# in CI with six files at a time; the rest take under 10 s. Under --dist loadfile a worker takes the
# next file in this order, so the long ones start first and the short ones fill the end, where a long file would
# keep one worker busy while the others have nothing left to take.
LONGEST_FIRST = (
    "test_attacks.py", "test_exercise_05.py", "test_exercise_04.py", "test_grading_sample_class.py",
    "test_correct_alternatives.py", "test_exercise_02.py", "test_exercise_06.py", "test_exercise_01.py",
    "test_grading.py", "test_exercise_03.py", "test_gradescope.py", "test_student_tools.py", "test_release.py",
    "test_start_crash.py", "test_kit.py", "test_shards.py", "test_self_check_verdicts.py", "test_report.py",
    "test_recipes.py",
)


def pytest_configure(config: pytest.Config) -> None:
    # xdist hands out files by their number of tests, most first, unless told not to: not the order of their
    # time (the correct alternatives, fourteen full gradings, came after a dozen files of quick tests).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's tests stay together


# Each grading of the suite runs its tests one after the other, as a batch's gradings do when several run at once:
# the suite's files already keep the cores busy, and a grading's tests side by side cost a pytest worker, a world
# and a Redis each (a third more CPU for the grading of 03, measured: 15.3 s against 9.7 s).
SIDE_BY_SIDE = 1


@functools.lru_cache(maxsize=None)
def _graded(exercise_id: str, impl: str, redis: str | None, only: tuple[str, ...]) -> ExerciseResult:
    return run_exercise(KIT, config.load(KIT / "grading.yml"), exercise_id, Path(impl), redis=redis, only=only,
                        side_by_side=SIDE_BY_SIDE)


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
