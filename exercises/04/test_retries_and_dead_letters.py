"""Self-checks for exercise 04. Run them with `pytest exercises/04` from the kit's folder.

They start your app.py under a real uvicorn and your worker.py as separate programs,
with the shop's services at a tenth of the lecture's durations (an email takes 0.3 s)
and the knobs of grading.yml: RETRY_BASE_DELAY=1, MAX_ATTEMPTS=3, LEASE_SECONDS=2.
The checks make the email service fail, hold it, and kill workers; the world's ledger
tells them what really happened.
"""

import time
from datetime import datetime

import pytest

from ticketrail.checks.contract import replay
from ticketrail.checks.jobs import DEAD, EMAIL_QUEUE, EMAIL_TASK, clip_job
from ticketrail.checks.ledger import describe_calls, wait_for_held_call
from ticketrail.checks.rail import Nowhere, dead_entries, dead_entry_of, describe_rail
from ticketrail.checks.retry import POISON_TEXT, JobWatch, Knobs, confirm_order
from ticketrail.checks.workers import cpu_seconds, kill_worker, wakeups
from ticketrail.waiting import wait_until
from ticketrail.worldctl import wait_quiet

FROZEN = "2026-02-14T10:30:00+00:00"


@pytest.mark.task(1)
def test_next_due_waits_the_base_delay_then_doubles(call_student_function):
    frozen = datetime.fromisoformat(FROZEN).timestamp()
    env = {"RETRY_BASE_DELAY": "10", "REDIS_URL": "redis://127.0.0.1:9/0", "TICKETRAIL_WORLD_URL": "http://127.0.0.1:9"}
    for attempts, wanted in ((1, 10.0), (2, 20.0), (3, 40.0)):
        result = call_student_function("worker", "next_due", [attempts], freeze=FROZEN, env=env)
        assert result.ok, f"worker.next_due({attempts}) raised {result.error}: {result.message}"
        value = result.value.timestamp() if isinstance(result.value, datetime) else result.value
        assert isinstance(value, (int, float)), (
            f"worker.next_due({attempts}) returned {result.value!r}; return epoch seconds, like time.time()."
        )
        assert wanted - 1e-3 <= value - frozen <= 1.25 * wanted + 1e-3, (
            f"With RETRY_BASE_DELAY=10 and the clock frozen, next_due({attempts}) returned now + "
            f"{value - frozen:g} s; it should be now + {wanted:g} s (10 × 2^{attempts - 1})."
        )


@pytest.mark.task(2)
def test_a_job_that_fails_once_waits_the_base_delay_and_then_succeeds(system, world, redis_client, exercise):
    knobs = Knobs.of(exercise)
    world.fail(EMAIL_TASK, first=1, error="SMTP server busy")
    system.start_program("worker.py")
    api = system.start_api()
    job = JobWatch(api, redis_client, world, confirm_order(api, 42), 42)
    job.wait_for(["SUCCESS"], 20, "The email failed once, then worked: the job should be retried and succeed.")
    calls = job.calls()
    assert len(calls) == 2, f"Expected 2 email calls (failed, ok).\n{describe_calls(calls)}"
    gap = calls[1].start - calls[0].end
    assert gap >= 0.75 * knobs.delay(1), (
        f"The retry started {gap:.2f} s after the failure; it should wait RETRY_BASE_DELAY = {knobs.delay(1):g} s "
        f"(the job waits in jobs:email:delayed until it is due).\n{describe_calls(calls)}"
    )
    assert "RETRY" in job.history, (
        f"While the job waits for its retry its status is RETRY; the statuses seen were {' → '.join(job.history)}."
    )


@pytest.mark.task(3)
def test_a_job_that_always_fails_ends_dead_on_the_dead_letter_list(system, world, redis_client):
    world.fail(EMAIL_TASK, always=True, error="SMTP down")
    system.start_program("worker.py", MAX_ATTEMPTS="2")
    api = system.start_api()
    job = JobWatch(api, redis_client, world, confirm_order(api, 43), 43)
    status = job.wait_for(["DEAD"], 20, "With MAX_ATTEMPTS=2 and the email always failing, the job should end DEAD.")
    assert status.get("attempts") == 2, f"The dead job's status should say \"attempts\": 2; it said {status}."
    entry = dead_entry_of(redis_client, job.job_id)
    assert entry is not None and entry.get("attempts") == 2 and "SMTP down" in str(entry.get("last_error")), (
        f"The dead job should be on {DEAD} as JSON with \"attempts\": 2 and its \"last_error\".\n"
        + describe_rail(redis_client)
    )


@pytest.mark.task(3)
def test_an_unreadable_message_goes_to_the_dead_letters_and_the_next_job_still_runs(system, world, redis_client):
    worker = system.start_program("worker.py")
    api = system.start_api()
    redis_client.lpush(EMAIL_QUEUE, POISON_TEXT)
    job = JobWatch(api, redis_client, world, confirm_order(api, 44), 44)
    job.wait_for(["SUCCESS"], 15, f"An unreadable message ({POISON_TEXT!r}) was ahead of this job on the rail.")
    assert worker.alive(), f"The worker {worker.describe_exit()} after the unreadable message."
    nowhere = Nowhere(redis_client, POISON_TEXT)

    def dead_lettered() -> bool:
        if any(POISON_TEXT in e for e in dead_entries(redis_client)):
            return True
        if nowhere.seconds() >= 2:
            pytest.fail(f"The unreadable message was taken off the rail and dropped: it is on no list, not on {DEAD}. "
                        "Set it aside on the dead letters, with its text, so that an operator can see what arrived "
                        f"(README task 3).\n{describe_rail(redis_client)}", pytrace=False)
        return False

    wait_until(dead_lettered, 10,
               lambda: f"The unreadable message should be on {DEAD}, with its text.\n{describe_rail(redis_client)}")


@pytest.mark.task(4)
def test_a_dead_job_can_be_replayed_and_runs_again(system, world, redis_client):
    world.fail(EMAIL_TASK, always=True, error="mailbox full")
    system.start_program("worker.py", MAX_ATTEMPTS="1")
    api = system.start_api()
    job = JobWatch(api, redis_client, world, confirm_order(api, 45), 45)
    job.wait_for(["DEAD"], 15, "With MAX_ATTEMPTS=1 and the email failing, the job should be DEAD after one attempt.")
    world.heal(EMAIL_TASK)
    answer = replay(api, job.job_id)
    assert answer.status_code == 200, (
        f"POST /jobs/{job.job_id}/replay answered {answer.status_code}: {answer.text[:300]}"
    )
    job.wait_for(["SUCCESS"], 15, "The replayed job should run again and succeed.")


@pytest.mark.task(5)
def test_the_email_carries_the_job_id_as_its_idempotency_key(system, world, redis_client):
    system.start_program("worker.py")
    api = system.start_api()
    job = JobWatch(api, redis_client, world, confirm_order(api, 46), 46)
    job.wait_for(["SUCCESS"], 15, "The email job should succeed.")
    keys = [c.idempotency_key for c in job.calls()]
    assert keys == [job.job_id], (
        f"The email was sent with idempotency keys {keys}; pass idempotency_key=job[\"id\"] ({job.job_id})."
    )


@pytest.mark.task(6)
def test_a_job_whose_worker_is_killed_mid_email_is_finished_by_another_worker(system, world, redis_client, exercise):
    knobs = Knobs.of(exercise)
    first = system.start_program("worker.py", name="worker 1")
    api = system.start_api()
    world.hold(EMAIL_TASK)
    job = JobWatch(api, redis_client, world, confirm_order(api, 47), 47)
    wait_for_held_call(world, 47, 15)
    kill_worker(first)
    world.release(EMAIL_TASK)
    system.start_program("worker.py", name="worker 2")
    nowhere = Nowhere(redis_client, job.job_id)

    def lost() -> None:
        if nowhere.seconds() >= knobs.lease + 2:
            pytest.fail(
                f"Worker 1 was killed (SIGKILL) in the middle of the email, and since then its job has been on no "
                f"list of the rail for {knobs.lease + 2:g} s: not on {EMAIL_QUEUE}, any jobs:email:processing* list, "
                "the delayed set or the dead letters. Taken with plain BRPOP, it lived only in the dead worker's "
                "memory and nothing can bring it back. Take it with BRPOPLPUSH into the worker's processing list, "
                "and let a reaper return the "
                f"jobs of workers whose heartbeat stopped (README task 6, §3.2).\n{job.describe()}", pytrace=False)

    # The heartbeat expires within a lease of the kill, and a reaper runs at least once per lease (README).
    job.wait_for(["SUCCESS"], 3 * knobs.lease + 8, (
        "Worker 1 was killed (SIGKILL) in the middle of the email. Its job should return to the rail when its lease "
        "runs out, and worker 2 should finish it (§3.2)."
    ), also=lost)
    wait_quiet(world, 1.0, 10)
    sent = sum(c.effective for c in job.calls())
    assert sent == 1, f"The customer got {sent} emails.\n{describe_calls(job.calls())}"


@pytest.mark.task(7)
def test_an_idle_worker_uses_almost_no_cpu(system, world, redis_client):
    worker = system.start_program("worker.py")
    job_id = clip_job(redis_client, 48)
    wait_until(lambda: redis_client.hget(f"job:{job_id}", "status") == "SUCCESS", 15,
               lambda: f"The worker should finish one job first.\n{describe_rail(redis_client)}")
    cpu_before, woken_before = cpu_seconds(worker), wakeups(worker)
    time.sleep(3.0)  # the measurement window itself
    used, woken = cpu_seconds(worker) - cpu_before, wakeups(worker) - woken_before
    assert worker.alive(), f"The worker {worker.describe_exit()} while idle."
    assert used <= 0.3, f"With nothing to do the worker used {used:.2f} s of CPU in 3 s: it spins instead of blocking."
    assert woken <= 600, (
        f"With nothing to do the worker woke up {woken / 3:.0f} times a second: it polls instead of blocking on Redis."
    )
