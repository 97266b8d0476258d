"""Exercise 01's graders are right: full marks for the reference, the bug caught in each wrong one."""

import pytest

from helpers import KIT, WRONG, explain, failed_tests
from ticketrail import audit

BACKENDS = ["server", "embedded"]
LATENCY = "test_confirm_answers_within_the_latency_budget"
NO_WAIT = "test_the_answer_does_not_wait_for_the_side_effects"
UNKNOWN = "test_an_unknown_order_gets_404_and_no_side_effects"
DB_FIRST = "test_the_order_is_confirmed_in_the_db_before_the_answer"
BURST = "test_a_burst_of_concurrent_confirms_stays_within_budget"
# Each known-wrong solution, and the graders meant to catch it: the rules of graders/01/audit.yml.
CAUGHT_BY = audit.load(audit.audit_path(KIT, "01"), "01").caught_by()


@pytest.mark.parametrize("redis", BACKENDS)
def test_the_reference_earns_full_marks(grade, redis):
    result = grade("01", "reference", redis)
    assert result.score == result.max_score, explain(result)


def test_the_starter_earns_nothing(grade):
    result = grade("01", "starter")
    assert result.score == 0, explain(result)


def test_the_starter_fails_the_latency_grader_with_the_timeline(grade):
    result = grade("01", "starter")  # the grading test_the_starter_earns_nothing made: graded once
    latency = next(t for t in result.tests if t.name == LATENCY)
    assert latency.outcome == "failed", explain(result)
    for words in ("The customer waited", "email", "PDF", "§2.1", "Timeline of one request"):
        assert words in latency.message + latency.details, latency.message


# What each known-wrong solution's failure must say, grader by grader: the words name what was observed.
WORDS = {
    "answers_after_the_first_side_effect": {
        NO_WAIT: ["answer came only once the analytics call was let go", "waited for the analytics",
                  "even the quickest"],
    },
    "db_write_in_a_task": {DB_FIRST: ["while the world held its database write", "update_order_status"]},
    "gather_only": {NO_WAIT: ["waited for every side effect, the email included", "asyncio.gather", "slowest one"]},
    "schedules_before_the_lookup": {
        UNKNOWN: ["answered 404 for orders", "warehouse for order 0", "analytics for order 99999",
                  "returns its 404 response instead of raising HTTPException"],
    },
    "checks_the_range_not_the_shop": {UNKNOWN: ["POST /orders/0/confirm answered 500", "orders 1 to 9999"]},
    "forgets_to_await_the_lookup": {LATENCY: ["answered 500", "an error is not one"]},
    "blocks_the_event_loop": {BURST: ["With 20 customers confirming at once", "a blocking call in an async def"]},
}


@pytest.mark.parametrize("wrong", CAUGHT_BY)
def test_each_known_wrong_solution_is_caught_by_its_grader(grade, wrong):
    caught_by = CAUGHT_BY[wrong]
    result = grade("01", WRONG / "01" / wrong, only=caught_by)
    assert caught_by <= failed_tests(result), explain(result)
    # Caught by the check itself, not by a crash of the harness around it.
    assert all(t.outcome == "failed" for t in result.tests if t.name in caught_by), explain(result)
    for grader, words in WORDS.get(wrong, {}).items():
        message = next(t.message for t in result.tests if t.name == grader)
        missing = [word for word in words if word not in message]
        assert not missing, f"{grader} did not say {missing}:\n{message}"


def test_the_words_are_checked_on_graders_the_audit_runs_them_on():
    misplaced = [(wrong, grader) for wrong, graders in WORDS.items() for grader in graders
                 if grader not in CAUGHT_BY.get(wrong, set())]
    assert not misplaced, f"WORDS names graders its audit rules do not: {misplaced}"
