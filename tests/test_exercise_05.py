"""Exercise 05's graders are right: full marks for the reference, the bug caught in each wrong one.

A known-wrong solution in tests/wrong/05/<name>/ holds only the files it gets wrong. It is
graded as a submission is: the starter's folder (which holds the given worker.py), the
reference's student files over it, then the wrong files.
"""

import ast
import shutil

import pytest

from ticketrail import config

from helpers import KIT, WRONG, explain, failed_tests

BACKENDS = ["server", "embedded"]

CHANNEL_EVENT = "test_confirm_publishes_one_order_confirmed_event_on_the_orders_channel"
PUBSUB_REACTIONS = "test_with_pubsub_every_subscriber_reacts_once_to_each_event_in_order"
PUBSUB_CAVEAT = "test_with_pubsub_a_subscriber_that_is_down_misses_the_event"
LATENCY = "test_confirm_answers_within_the_latency_budget"
STREAM_EVENT = "test_confirm_appends_one_order_confirmed_event_to_the_stream"
STREAM_REACTIONS = "test_each_subscriber_reacts_once_to_each_event_in_order"
ACKNOWLEDGED = "test_each_subscriber_reads_through_its_own_group_and_acknowledges_every_event"
CATCH_UP = "test_a_subscriber_stopped_while_events_are_published_catches_up_after_a_restart"
CRASH = "test_an_event_read_but_not_acknowledged_when_a_subscriber_crashed_is_recovered_and_handled_once"
EMAIL_QUEUE = "test_the_email_subscriber_hands_each_event_to_the_job_queue"
FIRST_START = "test_a_subscriber_started_for_the_first_time_receives_the_events_emitted_before_it_started"
LATE_SUBSCRIBER = {"test_with_pubsub_a_subscriber_the_publisher_never_heard_of_receives_every_event",
                   "test_a_subscriber_the_publisher_never_heard_of_receives_every_event"}


@pytest.fixture(scope="session")
def wrong_solution(tmp_path_factory):
    def build(name: str):
        folder = tmp_path_factory.getbasetemp() / "wrong-05" / name
        if not folder.exists():
            shutil.copytree(KIT / "starter" / "05", folder, ignore=shutil.ignore_patterns("__pycache__"))
            for student_file in config.load(KIT / "grading.yml").exercise("05").student_files:
                shutil.copy(KIT / "reference" / "05" / student_file, folder / student_file)
            for path in (WRONG / "05" / name).iterdir():
                shutil.copy(path, folder / path.name)
        return folder

    return build


def test_the_reference_runs_the_given_worker_unchanged():
    def code(path):
        module = ast.parse(path.read_text())
        return ast.dump(ast.Module(body=module.body[1:], type_ignores=[]))  # all but the docstring

    assert code(KIT / "reference/05/worker.py") == code(KIT / "starter/05/worker.py"), (
        "reference/05/worker.py and starter/05/worker.py differ in more than their docstring: the email worker "
        "is given to students, so the reference must run the very same code."
    )


@pytest.mark.parametrize("redis", BACKENDS)
def test_the_reference_earns_full_marks(grade, redis):
    result = grade("05", "reference", redis)
    assert result.score == result.max_score, explain(result)


def test_the_starter_earns_nothing_and_says_which_task_is_not_done(grade):
    result = grade("05", "starter")
    assert result.score == 0, explain(result)
    latency = next(t for t in result.tests if t.name == LATENCY)
    assert "The customer waited" in latency.message + latency.details, latency.message
    reacting = next(t for t in result.tests if t.name == PUBSUB_REACTIONS)
    assert "Task 2 is not done yet" in reacting.message + reacting.details, reacting.message


# Each known-wrong solution, the graders that catch it, and words each one's failure must say ("" where the
# grader is enough). graders/05/audit.yml names the same pairs.
CAUGHT_BY: dict[str, dict[str, str]] = {
    "command_style": {LATENCY: "The customer waited", STREAM_EVENT: "", CHANNEL_EVENT: "", STREAM_REACTIONS: "",
                      PUBSUB_REACTIONS: ""},
    "publisher_names_subscribers": {name: "" for name in LATE_SUBSCRIBER},
    "pubsub_in_step_two": {STREAM_EVENT: "", CATCH_UP: "", CRASH: ""},
    "streams_in_step_one": {CHANNEL_EVENT: "", PUBSUB_CAVEAT: ""},
    "no_xack": {ACKNOWLEDGED: "never acknowledged"},
    "shared_group": {ACKNOWLEDGED: ""},
    "no_pending_recovery": {CRASH: "claim it with XAUTOCLAIM"},
    "ack_before_react": {CRASH: "Acknowledging before reacting loses the event"},
    "not_idempotent": {CRASH: "idempotent"},
    "email_sent_by_subscriber": {EMAIL_QUEUE: ""},
    "email_job_local_time": {EMAIL_QUEUE: "the contract says UTC"},
    "group_from_dollar": {FIRST_START: "a group created at `$`"},
    "occurred_at_local_time": {STREAM_EVENT: "the contract says UTC", CHANNEL_EVENT: "the contract says UTC"},
    "event_id_from_order": {STREAM_EVENT: "not a uuid4"},
    "answer_without_event_id": {STREAM_EVENT: "the contract is"},
}


@pytest.mark.parametrize("wrong", sorted(CAUGHT_BY))
def test_each_known_wrong_solution_is_caught_by_its_grader(grade, wrong_solution, wrong):
    caught_by = CAUGHT_BY[wrong]
    result = grade("05", wrong_solution(wrong), only=set(caught_by))
    assert set(caught_by) <= failed_tests(result), explain(result)
    for test in result.tests:
        if test.name in caught_by:
            assert caught_by[test.name] in test.message, (
                f"{test.name} failed for another reason:\n{test.message[:1500]}"
            )
