"""Exercise 06's graders are right: full marks for the reference, the bug caught in each wrong one."""

import pytest

from helpers import WRONG, explain, failed_tests

BACKENDS = ["server", "embedded"]
DAY = "test_over_a_simulated_day_the_health_check_runs_288_times_and_the_cleanup_once_at_3am"
TWO = "test_two_schedulers_together_enqueue_every_tick_exactly_once"
CATCH_UP = "test_a_scheduler_down_for_an_hour_enqueues_one_catch_up_run_not_twelve"
LOGGED = "test_the_catch_up_run_is_announced_in_the_scheduler_log"
DAY_BOUNDARY = "test_next_due_crosses_a_day_boundary"
MONTH_BOUNDARY = "test_next_due_crosses_a_month_boundary"


@pytest.mark.parametrize("redis", BACKENDS)
def test_the_reference_earns_full_marks(grade, redis):
    result = grade("06", "reference", redis)
    assert result.score == result.max_score, explain(result)


def test_the_starter_earns_nothing_and_says_which_task_is_not_done(grade):
    result = grade("06", "starter")
    assert result.score == 0, explain(result)
    by_name = {t.name: t for t in result.tests}
    assert "Task 1 is not done yet" in by_name[DAY_BOUNDARY].message, explain(result)
    assert "sync.now()" in by_name[DAY].message and "§1.3" in by_name[DAY].message, explain(result)


# Each known-wrong solution, the graders that catch it, and words each one's failure must say.
# graders/06/audit.yml names the same pairs.
CAUGHT_BY: dict[str, dict[str, str]] = {
    "sleep_loop": {DAY: "sleeps 300 s", TWO: ""},
    "check_then_set": {TWO: "A GET followed by a SET is not a claim"},
    "catch_up_every_tick": {CATCH_UP: "one per missed tick"},
    "last_run_in_memory": {CATCH_UP: "limitation 1", LOGGED: ""},
    "next_due_by_replacing_fields": {DAY_BOUNDARY: "", MONTH_BOUNDARY: "timedelta"},
    "created_at_wall_clock": {DAY: "created_at is the shop's clock"},
    "naive_times": {DAY_BOUNDARY: "a datetime without a time zone", DAY: ""},
    "next_due_from_wall_clock": {DAY_BOUNDARY: "compute from the argument"},
    "due_only_after_the_tick": {DAY: ""},
    "scheduled_for_now": {CATCH_UP: "its scheduled_for is one of them"},
    "first_start_catches_up": {DAY: "On its very first start a scheduler has missed nothing"},
    "catch_up_silent": {LOGGED: "missed"},
    "id_from_tick": {DAY: "a fresh id"},
}


@pytest.mark.parametrize("wrong", sorted(CAUGHT_BY))
def test_each_known_wrong_solution_is_caught_by_its_grader(grade, wrong):
    caught_by = CAUGHT_BY[wrong]
    result = grade("06", WRONG / "06" / wrong, only=set(caught_by))
    assert set(caught_by) <= failed_tests(result), explain(result)
    for test in result.tests:
        if test.name in caught_by:
            assert caught_by[test.name] in test.message, (
                f"{test.name} failed for another reason:\n{test.message[:1500]}"
            )
