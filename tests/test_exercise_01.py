"""Exercise 01's graders are right: full marks for the reference, the bug caught in each wrong one."""

import pytest

from helpers import WRONG, explain, failed_tests

BACKENDS = ["server", "embedded"]
LATENCY = "test_confirm_answers_within_the_latency_budget"


@pytest.mark.parametrize("redis", BACKENDS)
def test_the_reference_earns_full_marks(grade, redis):
    result = grade("01", "reference", redis)
    assert result.score == result.max_score, explain(result)


def test_the_starter_fails_the_latency_grader_with_the_timeline(grade):
    result = grade("01", "starter", only={LATENCY})  # the whole starter: `ticketrail validate`
    assert result.score < result.max_score, explain(result)
    latency = next(t for t in result.tests if t.name == LATENCY)
    assert latency.outcome == "failed", explain(result)
    for words in ("The customer waited", "email", "PDF", "§2.1", "Timeline of one request"):
        assert words in latency.message + latency.details, latency.message


@pytest.mark.parametrize("wrong, caught_by", [
    ("gather_only", {"test_confirm_answers_within_the_latency_budget",
                     "test_the_answer_does_not_wait_for_the_side_effects"}),
    ("side_effects_dropped", {"test_every_side_effect_happens_exactly_once_soon_after"}),
    ("side_effects_twice", {"test_every_side_effect_happens_exactly_once_soon_after"}),
    ("confirm_after_answer", {"test_the_order_is_confirmed_in_the_db_before_the_answer"}),
    ("no_404", {"test_an_unknown_order_gets_404_and_no_side_effects"}),
])
def test_each_known_wrong_solution_is_caught_by_its_grader(grade, wrong, caught_by):
    result = grade("01", WRONG / "01" / wrong, only=caught_by)
    assert caught_by <= failed_tests(result), explain(result)
