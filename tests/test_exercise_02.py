"""Exercise 02's graders are right: full marks for the reference, the bug caught in each wrong one."""

import shutil
from pathlib import Path

import pytest

from helpers import KIT, WRONG, explain, failed_tests
from ticketrail import audit

BACKENDS = ["server", "embedded"]
LATENCY = "test_confirm_answers_within_the_latency_budget_with_no_worker_running"
SHAPE = "test_confirm_puts_one_job_with_the_contract_shape_on_jobs_email"
MAKE_JOB = "test_make_job_stamps_the_job_with_the_current_utc_time"
NO_WORKER = "test_no_email_is_sent_until_a_worker_runs"
FIFO = "test_one_worker_processes_jobs_first_in_first_out"
THREE_WORKERS = "test_three_workers_send_every_email_exactly_once_and_share_the_work"
IMPORTS = "test_the_api_and_the_worker_do_not_import_each_other"
MALFORMED = "test_a_malformed_job_does_not_stop_the_worker"
SIGTERM = "test_sigterm_lets_a_worker_finish_the_job_in_hand_and_nothing_is_lost"
IDLE = "test_an_idle_worker_keeps_waiting_and_stops_soon_after_sigterm"
UNKNOWN = "test_an_unknown_order_gets_404_and_nothing_is_queued"
CPU = "test_an_idle_worker_blocks_on_the_rail_and_uses_almost_no_cpu"


@pytest.mark.parametrize("redis", BACKENDS)
def test_the_reference_earns_full_marks(grade, redis):
    result = grade("02", "reference", redis)
    assert result.score == result.max_score, explain(result)


def test_the_starter_earns_nothing_and_says_which_task_is_not_done(grade):
    result = grade("02", "starter")
    assert result.score == 0, explain(result)
    make_job = next(t for t in result.tests if t.name == MAKE_JOB)
    assert make_job.outcome == "failed" and "Task 1 is not done yet" in make_job.message, explain(result)
    still_in_the_api = next(t for t in result.tests if t.name == NO_WORKER)
    assert still_in_the_api.outcome == "failed" and "email_job_id" in still_in_the_api.message, explain(result)


# Each known-wrong solution, and the graders meant to catch it: the rules of graders/02/audit.yml.
CAUGHT_BY = audit.load(audit.audit_path(KIT, "02"), "02").caught_by()


# What each known-wrong solution's failure must say, grader by grader: the words name what was observed.
WORDS = {
    "db_write_in_a_task": {"test_confirm_records_the_order_as_confirmed_before_it_answers": [
        "while the world held its database write", "update_order_status"]},
    "lrange_then_del": {THREE_WORKERS: ["more than once", "BRPOP", "§3.5"]},
    # Ended by the empty rail, not by the 30 s deadline.
    "takes_the_whole_rail": {THREE_WORKERS: ["only 1 process", "one job at a time", "the rail had been empty"]},
    "dies_mid_job_on_sigterm": {SIGTERM: ["SIGTERM", "in the middle of the job", "§3.5"]},
    "crashes_when_idle": {IDLE: ["empty rail", "socket_timeout", "timeout=1"]},
    "sigterm_flag_never_wakes": {IDLE: ["still running", "stop flag"]},
    "create_task_in_api": {NO_WORKER: ["no worker running", "worker.py"]},
    "spins_on_rpop": {CPU: ["With the rail empty", "of CPU", "BRPOP", "non-blocking RPOP"]},
    "created_at_local_time": {MAKE_JOB: ["local zone", "UTC", "datetime.now(timezone.utc)"]},
    "local_time_labelled_utc": {
        SHAPE: ["h 30 min behind the UTC time it was written at", "America/St_Johns", "labelled UTC",
                ".replace(tzinfo=timezone.utc) only relabels it"],
    },
    "one_id_for_every_job": {SHAPE: ["both answers gave email_job_id", "a fresh id", "default argument"]},
    "job_id_is_a_uuid_hex": {SHAPE: ["is not written as str(uuid.uuid4()) writes it", "with its dashes"],
                             MAKE_JOB: ["is not written as str(uuid.uuid4()) writes it"]},
    "make_job_is_async": {MAKE_JOB: ["gave back a coroutine", "async def", "without `await`"]},
}


@pytest.fixture(scope="module")
def wrong_solution(tmp_path_factory):
    """The reference with a known-wrong solution's files laid over it: a wrong one holds only what it gets wrong."""

    def assemble(name: str) -> Path:
        folder = tmp_path_factory.mktemp(f"02-{name}")
        for source in (KIT / "reference" / "02", WRONG / "02" / name):
            for file in source.glob("*.py"):
                shutil.copy(file, folder / file.name)
        return folder

    return assemble


@pytest.mark.parametrize("wrong", CAUGHT_BY)
def test_each_known_wrong_solution_is_caught_by_its_grader(grade, wrong_solution, wrong):
    caught_by = CAUGHT_BY[wrong]
    result = grade("02", wrong_solution(wrong), only=caught_by)
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
