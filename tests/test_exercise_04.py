"""Exercise 04's graders are right: full marks for the reference, the bug caught in each wrong one.

A known-wrong solution in tests/wrong/04/<name>/ holds only the file it gets wrong (worker.py or app.py);
the rest comes from reference/04, as grading takes a student's files over the kit's copy.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import KIT, WRONG, explain, failed_tests
from ticketrail import audit
from ticketrail.redisd import start_redis

BACKENDS = ["server", "embedded"]

RETRIED_WITH_GROWING_GAPS = "test_a_failing_email_is_retried_with_growing_gaps_until_it_succeeds"
DEAD_AFTER_MAX_ATTEMPTS = "test_an_email_that_always_fails_ends_dead_after_exactly_max_attempts"
REPLAY = "test_an_operator_can_replay_a_dead_job_and_it_gets_every_attempt_again"
POISON = "test_a_poison_message_goes_to_the_dead_letters_and_does_not_block_the_queue"
KILLED_MID_EMAIL = "test_a_job_whose_worker_is_killed_mid_email_is_finished_by_another_and_sent_once"
LIVE_LONG_JOB = "test_a_long_job_on_a_live_worker_is_not_taken_by_another_worker"
FROZEN_WORKER = "test_a_frozen_worker_loses_its_job_to_another_and_its_late_failure_changes_nothing"
IDLE = "test_an_idle_worker_waits_on_redis_without_spinning_and_still_moves_a_due_retry_back"
SCHEDULE = "test_the_backoff_schedule_doubles_from_the_base_delay"
IDEMPOTENCY_KEY = "test_every_email_call_carries_the_job_id_as_its_idempotency_key"
FIRST_ATTEMPT = "test_a_confirmed_order_gets_an_email_job_that_succeeds_on_the_first_attempt"
ONCE_HOWEVER_MANY = "test_a_due_retry_goes_back_on_the_rail_once_however_many_workers_find_it"

# Each known-wrong solution, and the graders meant to catch it: the rules of graders/04/audit.yml.
CAUGHT_BY = audit.load(audit.audit_path(KIT, "04"), "04").caught_by()

# What each failure must say, checked on the same grading: caught for its bug, in words of what was observed.
WORDS: dict[str, dict[str, list[str]]] = {
    "retry_at_once": {RETRIED_WITH_GROWING_GAPS: ["a retry started at once"]},
    "retry_sleeps_in_the_worker": {RETRIED_WITH_GROWING_GAPS: ["never seen in jobs:email:delayed",
                                                               "not in the worker's memory"]},
    "delay_from_creation": {RETRIED_WITH_GROWING_GAPS: ["at once", "counts from the failure"]},
    "constant_backoff": {RETRIED_WITH_GROWING_GAPS: ["the wait did not grow"],
                         SCHEDULE: ["RETRY_BASE_DELAY × 2^(attempts − 1)"]},
    "linear_backoff": {SCHEDULE: ["RETRY_BASE_DELAY × 2^(attempts − 1)"]},
    "next_due_as_datetime": {SCHEDULE: ["epoch seconds", "return its .timestamp()"]},
    "failure_while_waiting": {RETRIED_WITH_GROWING_GAPS: ["FAILURE"]},
    "retry_without_error": {RETRIED_WITH_GROWING_GAPS: ['"error": None', "SMTP timeout", "last failure"]},
    "delayed_holds_the_id": {RETRIED_WITH_GROWING_GAPS: ["the job's own JSON"]},
    "promote_without_zrem_check": {ONCE_HOWEVER_MANY: ["went back on the rail more than once", "ZREM answers 1"]},
    "retry_forever": {DEAD_AFTER_MAX_ATTEMPTS: ["was not DEAD"]},
    "one_attempt_too_many": {DEAD_AFTER_MAX_ATTEMPTS: ["one attempt too many"]},
    "dead_letter_without_attempts": {DEAD_AFTER_MAX_ATTEMPTS: ["The dead letter should carry"]},
    "poison_dropped": {POISON: ["should end on jobs:email:dead", "off the rail and dropped it"]},
    "poison_without_raw": {POISON: ['{"raw": "<its text>"']},
    "poison_not_a_job_crashes": {POISON: ["AttributeError", "not a job"]},
    "replay_keeps_attempts": {REPLAY: ["A replay starts the job afresh"]},
    "replay_any_status": {REPLAY: ["409 Conflict"]},
    "replay_refuses_only_success": {REPLAY: ["waiting in RETRY", "answered 404", "409 Conflict"]},
    "replay_leaves_dead_letter": {REPLAY: ["is still on jobs:email:dead"]},
    "knobs_as_constants": {REPLAY: ["Read the knobs from the environment"]},
    "unknown_job_pending": {FIRST_ATTEMPT: ["an unknown job is 404"]},
    "confirm_without_job_id": {FIRST_ATTEMPT: ["email_job_id"]},
    "unknown_order_queued": {FIRST_ATTEMPT: ["an unknown order is 404"]},
    "status_without_attempts": {FIRST_ATTEMPT: ['"attempts": 1']},
    "started_never_recorded": {FIRST_ATTEMPT: ["'status': 'RECEIVED'", "is STARTED"]},
    "pending_hash_without_attempts": {FIRST_ATTEMPT: ["attempts None, not PENDING and 0"]},
    "no_idempotency_key": {IDEMPOTENCY_KEY: ["idempotency"], KILLED_MID_EMAIL: ["idempotency"]},
    "plain_brpop": {KILLED_MID_EMAIL: ["plain BRPOP"], FIRST_ATTEMPT: ["the job was on no jobs:email:processing"]},
    "skips_started_jobs": {KILLED_MID_EMAIL: ["a reaper returned it", "its status is still STARTED", "not drop it"]},
    "heartbeat_ttl_literal": {KILLED_MID_EMAIL: ["is still on jobs:email:processing", "the killed worker's processing "
                                                 "list", "LEASE_SECONDS, read from the environment"]},
    "heartbeat_between_jobs": {LIVE_LONG_JOB: ["took a live worker's job"]},
    "stale_ack": {FROZEN_WORKER: ["lost its lease"]},
    "busy_idle_loop": {IDLE: ["An idle cook waits by the rail"]},
    "block_forever": {IDLE: ["never 0"]},
}


@pytest.fixture(scope="module")
def wrong_solution(tmp_path_factory):
    """The reference with a known-wrong solution's files laid over it."""

    def assemble(name: str) -> Path:
        folder = tmp_path_factory.mktemp(f"04-{name}")
        for source in (KIT / "reference" / "04", WRONG / "04" / name):
            for file in source.glob("*.py"):
                shutil.copy(file, folder / file.name)
        return folder

    return assemble


# read, recvfrom, poll, select, pselect6, ppoll: redis-py waits for an answer in one of these
RECEIVING = {"x86_64": {0, 45, 7, 23, 270, 271}, "aarch64": {63, 207, 72, 73}}


def waiting_for_an_answer(pid: int, deadline: float) -> bool:
    """Whether `pid` came to sit in a read of its socket within `deadline` s: it has sent its command."""
    give_up = time.monotonic() + deadline
    calls = RECEIVING[os.uname().machine]
    while time.monotonic() < give_up:
        number = Path(f"/proc/{pid}/syscall").read_text().split()[0]
        if number.isdigit() and int(number) in calls:
            return True
        time.sleep(0.01)
    return False


def test_a_worker_killed_while_waiting_on_the_embedded_redis_takes_no_job_after_the_flush():
    """fakeredis serves a dead client's BRPOPLPUSH until it times out; the flush between tests must end it."""
    handle = start_redis("embedded")
    try:
        with handle.client() as r:
            ghost = None
            for _ in range(5):  # until the kill lands while the command waits: the fault must really happen
                waiter = subprocess.Popen(
                    [sys.executable, "-c", f"import redis; r = redis.Redis.from_url({handle.url!r}); r.ping(); "
                                           "print('ready', flush=True); r.brpoplpush('q', 'p', timeout=60)"],
                    stdout=subprocess.PIPE, text=True)
                assert waiter.stdout.readline().strip() == "ready"
                assert waiting_for_an_answer(waiter.pid, deadline=10), (
                    f"the client never sent its BRPOPLPUSH and sat waiting for the answer (/proc says: "
                    f"{Path(f'/proc/{waiter.pid}/syscall').read_text().strip()})")
                waiter.kill()
                waiter.wait()
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline and len(r.client_list()) > 1:
                    time.sleep(0.05)
                ghost = len(r.client_list()) > 1  # still served: the dead client's wait goes on
                if ghost:
                    break
            assert ghost, "the killed client's BRPOPLPUSH was never left waiting: the check proved nothing"
            handle.flush()
            r.lpush("q", "the next test's first job")
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                assert r.lrange("q", 0, -1) == ["the next test's first job"], (
                    f"after the flush a dead client's BRPOPLPUSH still took the job: p holds {r.lrange('p', 0, -1)}"
                )
                time.sleep(0.05)
    finally:
        handle.stop()


@pytest.mark.parametrize("redis", BACKENDS)
def test_the_reference_earns_full_marks(grade, redis):
    result = grade("04", "reference", redis)
    assert result.score == result.max_score, explain(result)


def test_the_starter_earns_nothing_and_is_told_which_task_is_not_done(grade):
    result = grade("04", "starter")
    assert result.score == 0, explain(result)
    schedule = next(t for t in result.tests if t.name == SCHEDULE)
    assert "Task 1 is not done yet" in schedule.message, schedule.message
    # The starter takes jobs with plain BRPOP: the frozen worker's job is on no list, said then, not at the deadline.
    frozen = next(t for t in result.tests if t.name == FROZEN_WORKER)
    assert "has been on no list of the rail" in frozen.message, frozen.message


def test_the_words_of_each_failure_belong_to_a_grader_the_audit_names_for_it():
    strays = {wrong: sorted(set(graders) - CAUGHT_BY.get(wrong, set())) for wrong, graders in WORDS.items()}
    assert not any(strays.values()), f"WORDS names graders graders/04/audit.yml does not name for them: {strays}"
    assert set(WORDS) == set(CAUGHT_BY), f"known-wrong solutions without words: {sorted(set(CAUGHT_BY) - set(WORDS))}"


@pytest.mark.parametrize("wrong", sorted(CAUGHT_BY))
def test_each_known_wrong_solution_is_caught_by_its_grader(grade, wrong_solution, wrong):
    caught_by = CAUGHT_BY[wrong]
    result = grade("04", wrong_solution(wrong), only=caught_by)
    assert caught_by <= failed_tests(result), explain(result)
    # Caught by the check itself, not by a crash of the harness around it, and for the bug the solution has.
    for test in result.tests:
        if test.name in caught_by:
            assert test.outcome == "failed", explain(result)
            for word in WORDS.get(wrong, {}).get(test.name, []):
                assert word in test.message, f"{test.name} failed without saying {word!r}:\n{test.message[:2000]}"
