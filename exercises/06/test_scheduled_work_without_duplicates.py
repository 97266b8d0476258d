"""Self-checks for exercise 06. Run them with `pytest exercises/06` from the kit's folder.

They start your scheduler.py (one or two of them) and move the shop's clock under it.
Between moves the clock is held: your scheduler waits inside sync.now() until the
check moves it, so two hours of the shop's time pass in a second or two.
"""

import pytest

from ticketrail.checks.schedule import (
    CLEANUP_ENTRY,
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


@pytest.mark.task(1)
def test_next_due_finds_the_next_tick_across_midnight(call_student_function):
    assert_next_due(call_student_function, [
        (HEALTH_ENTRY, utc(2026, 2, 14, 23, 57, 30), utc(2026, 2, 15, 0, 0)),
        (CLEANUP_ENTRY, utc(2026, 2, 14, 3, 0), utc(2026, 2, 15, 3, 0)),
    ])


@pytest.mark.task(2)
def test_one_scheduler_enqueues_every_tick_from_2_to_4_and_the_cleanup_at_3(system, world, redis_client):
    with ClockedSchedulers(system, world, redis_client, start=utc(2026, 2, 14, 1, 57, 30)) as run:
        run.start(1)
        simulate(run, ticks(utc(2026, 2, 14, 2, 0), utc(2026, 2, 14, 4, 0)))


@pytest.mark.task(3)
def test_two_schedulers_enqueue_each_tick_once(system, world, redis_client):
    with ClockedSchedulers(system, world, redis_client, start=utc(2026, 2, 14, 9, 57, 30)) as run:
        run.start(2)
        simulate(run, ticks(utc(2026, 2, 14, 10, 0), utc(2026, 2, 14, 11, 0)))


@pytest.mark.task(4)
def test_after_an_hour_down_a_scheduler_catches_up_once_and_says_so(system, world, redis_client):
    with ClockedSchedulers(system, world, redis_client, start=utc(2026, 2, 14, 9, 57, 30)) as run:
        caught_up = down_for_an_hour(run, utc(2026, 2, 14, 10, 0), utc(2026, 2, 14, 11, 2, 30))
    assert_one_catch_up_run(caught_up)
    assert_catch_up_logged(caught_up)
