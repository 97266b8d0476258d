"""Self-checks for exercise 03. Run them with `pytest exercises/03` from the kit's folder.

They start your app.py under a real uvicorn and your worker.py as a program of its own,
with a private Redis and the shop's services at a fifth of the lecture's durations (an
email takes 0.6 s).
"""

import uuid

import pytest

from ticketrail.checks.contract import confirm_for_job, status_of
from ticketrail.checks.jobs import EMAIL_TASK, FINISHED, describe_job, job_hash
from ticketrail.checks.ledger import email_calls
from ticketrail.checks.rail import describe_state
from ticketrail.checks.status import stage_problems
from ticketrail.checks.workers import describe_workers, start_workers
from ticketrail.waiting import wait_until


def answer(api, job_id) -> dict:
    __tracebackhide__ = True
    response = status_of(api, job_id)
    assert response.status_code == 200, (
        f"GET /jobs/{job_id}/status answered {response.status_code}: {response.text[:300]}"
    )
    return response.json()


@pytest.mark.task(1)
def test_a_confirmed_order_has_a_pending_job_record(system, redis_client):
    api = system.start_api()
    job_id = confirm_for_job(api, 201)
    fields = job_hash(redis_client, job_id)
    assert fields, f"There is no hash job:{job_id}: the API writes it before pushing the job (lecture §3.4)."
    assert fields.get("status") == "PENDING", f"A job no worker has taken is PENDING. {describe_job(redis_client, job_id)}"
    for name in ("task", "created_at", "pending_at"):
        assert fields.get(name), f"job:{job_id} has no {name}. {describe_job(redis_client, job_id)}"


@pytest.mark.task(2)
def test_the_status_endpoint_answers_for_a_pending_job(system):
    api = system.start_api()
    job_id = confirm_for_job(api, 202)
    body = answer(api, job_id)
    expected = {"job_id": job_id, "status": "PENDING", "result": None, "error": None}
    assert body == expected, f"GET /jobs/{job_id}/status answered {body}; expected {expected}."


@pytest.mark.task(2)
def test_an_unknown_job_id_is_404(system):
    api = system.start_api()
    unknown = str(uuid.uuid4())
    response = status_of(api, unknown)
    assert response.status_code == 404, (
        f"GET /jobs/{unknown}/status answered {response.status_code} for an id no job ever had; expected 404."
    )


@pytest.mark.task(3)
def test_the_job_is_started_during_the_email_and_success_after(system, world, redis_client):
    world.hold(EMAIL_TASK)
    api = system.start_api()
    workers = start_workers(system)
    job_id = confirm_for_job(api, 211)
    try:
        wait_until(lambda: email_calls(world) or not workers[0].alive(), timeout=20,
                   describe=lambda: "The worker never sent the email.\n" + describe_state(redis_client, world, workers))
        wait_until(lambda: answer(api, job_id)["status"] == "STARTED", timeout=5, describe=lambda: (
            f"While the email was being sent, the status was {answer(api, job_id)['status']!r}, not 'STARTED'. "
            f"{describe_job(redis_client, job_id)}"
        ))
    finally:
        world.release(EMAIL_TASK)
    wait_until(lambda: answer(api, job_id)["status"] in FINISHED, timeout=15,
               describe=lambda: f"The job never finished. {describe_job(redis_client, job_id)}")
    body = answer(api, job_id)
    assert body["status"] == "SUCCESS" and body["result"], f"After the email was sent the status answer was {body}."
    problems = stage_problems(job_hash(redis_client, job_id))
    assert not problems, f"The stage times of job {job_id}: {'; '.join(problems)}. {describe_job(redis_client, job_id)}"


@pytest.mark.task(4)
def test_a_failed_email_makes_the_job_failure_and_the_worker_goes_on(system, world, redis_client):
    world.fail(EMAIL_TASK, always=True, error="SMTP server said 421")
    api = system.start_api()
    workers = start_workers(system)
    job_id = confirm_for_job(api, 221)
    wait_until(lambda: answer(api, job_id)["status"] in FINISHED or not workers[0].alive(), timeout=15,
               describe=lambda: f"The failed job never finished. {describe_job(redis_client, job_id)}")
    assert workers[0].alive(), f"The worker died with the email: {describe_workers(workers)}"
    body = answer(api, job_id)
    assert body["status"] == "FAILURE" and "SMTP server said 421" in (body["error"] or ""), (
        f"The email failed with 'SMTP server said 421'; the status answer was {body}."
    )
