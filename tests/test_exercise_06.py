"""Exercise 06's graders are right: full marks for the reference, the bug caught in each wrong one."""

import pytest

from helpers import KIT, WRONG, explain, failed_tests
from ticketrail import audit

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


# Each known-wrong solution, and the graders meant to catch it: the rules of graders/06/audit.yml.
CAUGHT_BY = audit.load(audit.audit_path(KIT, "06"), "06").caught_by()

# What each failure must say, checked on the same grading: caught for its bug, in words of what was observed.
WORDS: dict[str, dict[str, list[str]]] = {
    # Stopped by the still-watch (no scheduler woke up for 5 s), not by the 20 s deadline.
    "sleep_loop": {DAY: ["sleeps 300 s", "no scheduler woke up even once"],
                   TWO: ["sleeps 300 s", "no scheduler woke up even once"]},
    "poll_ignores_environment": {DAY: ["SCHEDULER_POLL_SECONDS=0.02", "read the poll interval from the environment"]},
    "check_then_set": {TWO: ["A GET followed by a SET is not a claim"]},
    "catch_up_every_tick": {CATCH_UP: ["one per missed tick"]},
    "catch_up_for_the_first_missed_tick": {CATCH_UP: ["but for 2026-02-14 10:05:00 UTC", "the latest missed tick",
                                                      "walk forward"]},
    "last_run_in_memory": {CATCH_UP: ["limitation 1"], LOGGED: ["Its log did not say so"]},
    "next_due_by_replacing_fields": {DAY_BOUNDARY: ["timedelta"], MONTH_BOUNDARY: ["timedelta"]},
    "created_at_wall_clock": {DAY: ["created_at is the shop's clock"]},
    "naive_times": {DAY_BOUNDARY: ["a datetime without a time zone"],
                    DAY: ["got no check_service_health job for 00:00", "next = 2026-02-14T03:30:00Z"]},
    "next_due_in_local_time": {DAY_BOUNDARY: ["at the offset -03:30", "UTC datetime"]},
    "next_due_from_wall_clock": {DAY_BOUNDARY: ["compute from the argument"]},
    "due_only_after_the_tick": {DAY: ["a tick is due once the clock reads it"]},
    "scheduled_for_now": {CATCH_UP: ["is no tick", "the moment the scheduler looked"]},
    "first_start_catches_up": {DAY: ["On its very first start a scheduler has missed nothing"]},
    "catch_up_silent": {LOGGED: ["missed"]},
    "missed_line_per_tick": {LOGGED: ["in 11 lines", "print once"]},
    "id_from_tick": {DAY: ["a fresh id"]},
    "rpush_onto_the_rail": {DAY: ["at the right end (RPUSH)", "LPUSHes"]},
}


def test_the_words_of_each_failure_belong_to_a_grader_the_audit_names_for_it():
    strays = {wrong: sorted(set(graders) - CAUGHT_BY.get(wrong, set())) for wrong, graders in WORDS.items()}
    assert not any(strays.values()), f"WORDS names graders graders/06/audit.yml does not name for them: {strays}"
    assert set(WORDS) == set(CAUGHT_BY), f"known-wrong solutions without words: {sorted(set(CAUGHT_BY) - set(WORDS))}"


@pytest.mark.parametrize("wrong", sorted(CAUGHT_BY))
def test_each_known_wrong_solution_is_caught_by_its_grader(grade, wrong):
    caught_by = CAUGHT_BY[wrong]
    result = grade("06", WRONG / "06" / wrong, only=caught_by)
    assert caught_by <= failed_tests(result), explain(result)
    # Caught by the check itself, not by a crash of the harness around it, and for the bug the solution has.
    for test in result.tests:
        if test.name in caught_by:
            assert test.outcome == "failed", explain(result)
            for word in WORDS.get(wrong, {}).get(test.name, []):
                assert word in test.message, f"{test.name} failed without saying {word!r}:\n{test.message[:2000]}"
