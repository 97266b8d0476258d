"""Exercise 03's graders are right: full marks for the reference, the bug caught in each wrong one."""

import shutil
from pathlib import Path

import pytest

from helpers import KIT, WRONG, explain, failed_tests
from ticketrail import audit

BACKENDS = ["server", "embedded"]
PENDING = "test_a_new_job_is_pending_while_no_worker_runs_and_succeeds_once_one_does"
STARTED = "test_the_status_is_started_while_the_email_is_being_sent_then_success_with_a_result"
FAILURE = "test_a_failing_email_ends_in_failure_with_the_error_and_the_worker_lives_on"
FORWARD = "test_stage_timestamps_are_in_order_and_no_status_goes_backwards_with_several_workers"
UNKNOWN = "test_an_unknown_job_id_is_404_not_pending"
LATENCY = "test_the_status_endpoint_answers_within_the_latency_budget"
FROZEN = "test_the_job_creation_time_is_the_current_utc_time_under_frozen_time"


@pytest.mark.parametrize("redis", BACKENDS)
def test_the_reference_earns_full_marks(grade, redis):
    result = grade("03", "reference", redis)
    assert result.score == result.max_score, explain(result)


def test_the_starter_earns_nothing_and_says_which_task_is_not_done(grade):
    result = grade("03", "starter")
    assert result.score == 0, explain(result)
    unknown = next(t for t in result.tests if t.name == UNKNOWN)
    assert unknown.outcome == "failed" and "Task 2 is not done yet" in unknown.message, explain(result)
    pending = next(t for t in result.tests if t.name == PENDING)
    assert pending.outcome == "failed" and "no hash" in pending.message, explain(result)


# Each known-wrong solution, and the graders meant to catch it: the rules of graders/03/audit.yml.
CAUGHT_BY = audit.load(audit.audit_path(KIT, "03"), "03").caught_by()


# What each known-wrong solution's failure must say, grader by grader: the words name what was observed.
WORDS = {
    "jumps_pending_to_success": {STARTED: ["'PENDING', not 'STARTED'", "§3.4"]},
    "failure_kills_worker": {FAILURE: ["died", "FAILURE"]},
    "pending_written_after_push": {FORWARD: ["PENDING", "before", "§3.4"]},
    "unknown_id_pending": {UNKNOWN: ["404", "PENDING"]},
    "status_waits_for_the_job": {LATENCY: ["median", "never wait"]},
    "success_before_email": {FAILURE: ["reached SUCCESS before any email was sent", "FAILURE", "§3.4"]},
    "stamps_in_local_time": {FORWARD: ["received_at", "local zone", "UTC"]},
    "created_at_local_time": {FROZEN: ["local zone", "datetime.now(timezone.utc)"]},
    "retries_after_failure": {
        FAILURE: ["called the email service again (2 calls for this one job)", "FAILURE → SUCCESS",
                  "SUCCESS and FAILURE are final", "exercise 04 adds retries"],
    },
    "local_time_labelled_utc": {
        PENDING: ["created_at is", "h 30 min behind the UTC time it was written at", "labelled UTC"],
        FORWARD: ["received_at is", "America/St_Johns", ".replace(tzinfo=timezone.utc) only relabels it"],
    },
    "one_stamp_for_every_stage": {
        FORWARD: ["finished_at is", "before the email call returned", "reading the clock anew each time"],
    },
}


@pytest.fixture(scope="module")
def wrong_solution(tmp_path_factory):
    """The reference with a known-wrong solution's files laid over it: a wrong one holds only what it gets wrong."""

    def assemble(name: str) -> Path:
        folder = tmp_path_factory.mktemp(f"03-{name}")
        for source in (KIT / "reference" / "03", WRONG / "03" / name):
            for file in source.glob("*.py"):
                shutil.copy(file, folder / file.name)
        return folder

    return assemble


@pytest.mark.parametrize("wrong", CAUGHT_BY)
def test_each_known_wrong_solution_is_caught_by_its_grader(grade, wrong_solution, wrong):
    caught_by = CAUGHT_BY[wrong]
    result = grade("03", wrong_solution(wrong), only=caught_by)
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
