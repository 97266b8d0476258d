"""Hidden graders for exercise 06: scheduled work without duplicates."""

from collections import Counter

import pytest

from ticketrail.checks.schedule import (
    CLEANUP,
    CLEANUP_ENTRY,
    HEALTH,
    HEALTH_ENTRY,
    ClockedSchedulers,
    assert_catch_up_logged,
    assert_next_due,
    assert_one_catch_up_run,
    down_for_an_hour,
    simulate,
    ticks,
    utc,
)

# Between two ticks: whether or not a scheduler counts the moment it starts as due, its first run is 00:00.
EVE = utc(2026, 2, 13, 23, 57, 30)
DAY = ticks(utc(2026, 2, 14, 0, 0), utc(2026, 2, 14, 23, 55))
BEFORE_TEN = utc(2026, 2, 14, 9, 57, 30)
DOWN_AT, BACK_AT, NEXT_TICK = utc(2026, 2, 14, 10, 0), utc(2026, 2, 14, 11, 2, 30), utc(2026, 2, 14, 11, 5)


def test_next_due_crosses_a_day_boundary(call_student_function):
    assert_next_due(call_student_function, [
        (HEALTH_ENTRY, utc(2026, 2, 14, 23, 57, 30), utc(2026, 2, 15, 0, 0)),
        (HEALTH_ENTRY, utc(2026, 2, 14, 23, 55), utc(2026, 2, 15, 0, 0)),
        (CLEANUP_ENTRY, utc(2026, 2, 14, 3, 0), utc(2026, 2, 15, 3, 0)),
        (CLEANUP_ENTRY, utc(2026, 2, 14, 2, 59, 59), utc(2026, 2, 14, 3, 0)),
    ])


def test_next_due_crosses_a_month_boundary(call_student_function):
    assert_next_due(call_student_function, [
        (HEALTH_ENTRY, utc(2026, 2, 28, 23, 58), utc(2026, 3, 1, 0, 0)),
        (CLEANUP_ENTRY, utc(2026, 1, 31, 4, 0), utc(2026, 2, 1, 3, 0)),
        (HEALTH_ENTRY, utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1, 0, 0)),
    ])


@pytest.mark.slow
def test_over_a_simulated_day_the_health_check_runs_288_times_and_the_cleanup_once_at_3am(
        system, world, redis_client):
    with ClockedSchedulers(system, world, redis_client, start=EVE) as run:
        run.start(1)
        simulate(run, DAY)
    counts = Counter(job.task for job in run.jobs)
    assert counts == {HEALTH: 288, CLEANUP: 1}, (
        f"Over the simulated day jobs:maintenance got {dict(counts)}; the schedule makes that "
        f"{{{HEALTH!r}: 288, {CLEANUP!r}: 1}}."
    )


@pytest.mark.slow
def test_two_schedulers_together_enqueue_every_tick_exactly_once(system, world, redis_client):
    with ClockedSchedulers(system, world, redis_client, start=EVE) as run:
        run.start(2)
        simulate(run, DAY)


def test_a_scheduler_down_for_an_hour_enqueues_one_catch_up_run_not_twelve(system, world, redis_client):
    with ClockedSchedulers(system, world, redis_client, start=BEFORE_TEN) as run:
        caught_up = down_for_an_hour(run, DOWN_AT, BACK_AT)
        job = assert_one_catch_up_run(caught_up)
        # Caught up once, it keeps to the schedule from the next tick on.
        run.step(NEXT_TICK, {(HEALTH, DOWN_AT), (HEALTH, job.tick), (HEALTH, NEXT_TICK)})


def test_the_catch_up_run_is_announced_in_the_scheduler_log(system, world, redis_client):
    with ClockedSchedulers(system, world, redis_client, start=BEFORE_TEN) as run:
        assert_catch_up_logged(down_for_an_hour(run, DOWN_AT, BACK_AT))
