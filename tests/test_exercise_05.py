"""Exercise 05's graders are right: full marks for the reference, the bug caught in each wrong one.

A known-wrong solution in tests/wrong/05/<name>/ holds only the files it gets wrong. It is
graded as a submission is: the starter's folder (which holds the given worker.py), the
reference's student files over it, then the wrong files.
"""

import ast
import shutil

import pytest

from ticketrail import audit, config
from ticketrail.checks.fanout import crash_recovery_advice

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


# Each known-wrong solution, and the graders meant to catch it: the rules of graders/05/audit.yml.
CAUGHT_BY = audit.load(audit.audit_path(KIT, "05"), "05").caught_by()

# What each failure must say, checked on the same grading: caught for its bug, in words of what was observed.
WORDS: dict[str, dict[str, list[str]]] = {
    "command_style": {LATENCY: ["The customer waited"], STREAM_EVENT: ["holds 0 entries"],
                      CHANNEL_EVENT: ["heard 0 message(s)"], STREAM_REACTIONS: ["came from the API"],
                      PUBSUB_REACTIONS: ["came from the API"]},
    "publisher_names_subscribers": {name: ["loyalty for order"] for name in LATE_SUBSCRIBER},
    "pubsub_in_step_two": {STREAM_EVENT: ["holds 0 entries"], CATCH_UP: ["pub/sub channel"],
                           CRASH: ["pub/sub channel"]},
    "streams_in_step_one": {CHANNEL_EVENT: ["heard 0 message(s)"], PUBSUB_CAVEAT: ["SUBSCRIBEs to 'orders'"]},
    "no_xack": {ACKNOWLEDGED: ["never acknowledged"]},
    "shared_group": {ACKNOWLEDGED: ["consumer groups"]},
    "no_pending_recovery": {CRASH: ["still pending", "claim it with XAUTOCLAIM"]},
    # Still pending when the check looks, or (a busy machine delaying that look) claimed after 10 s: either way
    # the words point at the environment.
    "claim_idle_as_constant": {CRASH: ["EVENT_CLAIM_IDLE_MS=1000",
                                       "Read EVENT_CLAIM_IDLE_MS from the environment"]},
    "ack_before_react": {CRASH: ["Acknowledging before reacting loses the event"]},
    "not_idempotent": {CRASH: ["idempotent"]},
    "email_sent_by_subscriber": {EMAIL_QUEUE: ["email subscriber"]},
    "email_job_local_time": {EMAIL_QUEUE: ["the contract says UTC"]},
    "group_from_dollar": {FIRST_START: ["a group created at `$`"]},
    "occurred_at_local_time": {STREAM_EVENT: ["the contract says UTC"], CHANNEL_EVENT: ["the contract says UTC"]},
    "event_id_from_order": {STREAM_EVENT: ["not a uuid4"]},
    "event_without_customer": {STREAM_EVENT: ['"user_email" is None', '"total" is None', "(from the order)"],
                               CHANNEL_EVENT: ['"user_email" is None', '"total" is None']},
    "answer_without_event_id": {STREAM_EVENT: ["the contract is"]},
    "unknown_order_emits": {STREAM_EVENT: ["an event for order 99999", "emits nothing"],
                            CHANNEL_EVENT: ["an event on 'orders' for order 99999", "emits nothing"]},
    "confirm_forgets_the_status": {STREAM_EVENT: ["does not show", "as confirmed", "update_order_status"]},
    "stream_field_named_data": {STREAM_EVENT: ["has the field data and no field `event`"]},
    "warehouse_without_idempotency_key": {
        grader: ["notify_warehouse_api", "idempotency key None"] for grader in (STREAM_REACTIONS, PUBSUB_REACTIONS)},
}


def test_the_words_of_each_failure_belong_to_a_grader_the_audit_names_for_it():
    strays = {wrong: sorted(set(graders) - CAUGHT_BY.get(wrong, set())) for wrong, graders in WORDS.items()}
    assert not any(strays.values()), f"WORDS names graders graders/05/audit.yml does not name for them: {strays}"
    assert set(WORDS) == set(CAUGHT_BY), f"known-wrong solutions without words: {sorted(set(CAUGHT_BY) - set(WORDS))}"


@pytest.mark.parametrize("wrong", sorted(CAUGHT_BY))
def test_each_known_wrong_solution_is_caught_by_its_grader(grade, wrong_solution, wrong):
    caught_by = CAUGHT_BY[wrong]
    result = grade("05", wrong_solution(wrong), only=caught_by)
    assert caught_by <= failed_tests(result), explain(result)
    # Caught by the check itself, not by a crash of the harness around it, and for the bug the solution has.
    for test in result.tests:
        if test.name in caught_by:
            assert test.outcome == "failed", explain(result)
            for word in WORDS.get(wrong, {}).get(test.name, []):
                assert word in test.message, f"{test.name} failed without saying {word!r}:\n{test.message[:2000]}"


def test_an_event_claimed_only_after_the_check_gave_up_is_diagnosed_as_late_not_as_acknowledged_unhandled():
    # Pending or not no longer tells the story once a late claim has acknowledged the entry: the delay does.
    advice = crash_recovery_advice(None, "audit", 6601, claim_idle_ms=1000, handled_late_after=10.4)
    assert "10.4 s after it was read" in advice and "claimable after 1 s" in advice, advice
    assert "Read EVENT_CLAIM_IDLE_MS from the environment" in advice, advice
    assert "acknowledged although" not in advice, advice
