"""Self-checks for exercise 02. Run them with `pytest exercises/02` from the kit's folder.

They start your app.py under a real uvicorn and your worker.py as programs of their own,
with a private Redis and the shop's services at a fifth of the lecture's durations (an
email takes 0.6 s).
"""

import json
import signal
import time
import uuid

import pytest

from ticketrail.checks.contract import UNKNOWN_ORDER, confirm_for_job
from ticketrail.checks.jobs import EMAIL_QUEUE, EMAIL_TASK, job_problems, parse_job, parse_time, utc_problem
from ticketrail.checks.latency import ON_THE_RAIL, assert_confirm_within_budget
from ticketrail.checks.ledger import email_calls, sends_per_order, wait_for_emails
from ticketrail.checks.rail import describe_queue, queued
from ticketrail.checks.workers import describe_workers, happens_within, idle_cost, start_workers
from ticketrail.services import order_record
from ticketrail.waiting import wait_until
from ticketrail.worldctl import wait_quiet


@pytest.mark.task(1)
def test_confirm_puts_a_job_on_the_rail_and_answers_with_its_id(system, redis_client):
    api = system.start_api()
    made_from = time.time()
    job_id = confirm_for_job(api, 42)
    raw_jobs = queued(redis_client)
    assert len(raw_jobs) == 1, (
        f"After one confirm and no worker, {EMAIL_QUEUE} should hold one job. {describe_queue(redis_client)}"
    )
    job = parse_job(raw_jobs[0])
    assert job is not None, f"The job on {EMAIL_QUEUE} is not a JSON object: {raw_jobs[0][:200]!r}. Use json.dumps(job)."
    problems = job_problems(job, 42, job_id, (made_from, time.time()))
    assert not problems, f"The job for order 42 does not follow the contract: {'; '.join(problems)}.\nIt was: {raw_jobs[0][:400]}"


@pytest.mark.task(1)
def test_confirm_answers_fast_with_no_worker_running(system, world, budget):
    api = system.start_api()
    assert_confirm_within_budget(api, world, budget("confirm"), requests=10, cure=ON_THE_RAIL)


@pytest.mark.task(1)
def test_make_job_stamps_the_current_time_in_utc(call_student_function, redis_url):
    frozen = "2031-07-09T18:45:12+00:00"
    args = {"email": "customer7@example.com", "order_id": 7, "order_total": order_record(7)["total"]}
    result = call_student_function("app", "make_job", [EMAIL_TASK, args], freeze=frozen, env={"REDIS_URL": redis_url})
    assert result.ok, f"make_job raised {result.error}: {result.message}\n{result.traceback}"
    job = result.value
    assert isinstance(job, dict), f"make_job returned {job!r}, not a dict."
    problem = utc_problem("created_at", job.get("created_at"))
    assert problem is None, f"With the clock frozen at {frozen}: {problem}."
    assert abs((parse_time(job["created_at"]) - parse_time(frozen)).total_seconds()) < 1, (
        f"With the clock frozen at {frozen}, make_job stamped created_at={job['created_at']!r}: read the clock."
    )
    uuid.UUID(str(job.get("id")))  # a ValueError here means the id is not str(uuid.uuid4())


@pytest.mark.task(1)
def test_an_unknown_order_is_404_and_queues_nothing(system, redis_client):
    api = system.start_api()
    response = api.client.post(f"/orders/{UNKNOWN_ORDER}/confirm")
    assert response.status_code == 404, f"POST /orders/{UNKNOWN_ORDER}/confirm answered {response.status_code}."
    assert not queued(redis_client), f"Nothing should be queued for an unknown order. {describe_queue(redis_client)}"


@pytest.mark.task(2)
def test_the_worker_sends_the_emails_and_the_api_sends_none(system, world, redis_client):
    api = system.start_api()
    orders = (51, 52)
    for order in orders:
        confirm_for_job(api, order)
    sent_by_api = [c for c in wait_quiet(world, quiet_for=1.0, timeout=15) if c.service == EMAIL_TASK]
    assert not sent_by_api, (
        "With no worker running an email was sent anyway: the API still sends it itself. "
        "Only worker.py sends emails (lecture §3.5)."
    )
    workers = start_workers(system)
    wait_for_emails(world, orders, timeout=20, workers=workers, r=redis_client)
    taken = [c.order_id for c in sorted(email_calls(world), key=lambda c: c.seq)]
    assert taken == list(orders), f"Orders {list(orders)} were queued in that order, their emails went out as {taken}."


@pytest.mark.task(2)
def test_an_idle_worker_waits_in_brpop_and_uses_almost_no_cpu(system, world, redis_client):
    job_id = confirm_for_job(system.start_api(), 57)
    workers = start_workers(system)
    wait_for_emails(world, [57], timeout=20, workers=workers, r=redis_client)
    window = 3.0
    used, runnable = idle_cost(workers[0], window)
    assert workers[0].alive(), f"The worker stopped while the rail was empty: {describe_workers(workers)}"
    assert used <= 0.15 * window and runnable <= 0.3 * window, (
        f"After job {job_id}, with the rail empty, the worker used {used:.2f} s of CPU in {window:.0f} s and was "
        f"running or ready to run for {runnable:.2f} s of them. Wait for the next job in BRPOP "
        "(brpop([\"jobs:email\"], timeout=1)), which blocks inside Redis, not in a loop of RPOP (lecture §3.5)."
    )


@pytest.mark.task(2)
def test_two_workers_share_the_jobs_and_send_each_email_once(system, world, redis_client):
    api = system.start_api()
    orders = list(range(71, 77))
    for order in orders:
        confirm_for_job(api, order)
    workers = start_workers(system, 2)
    wait_for_emails(world, orders, timeout=25, workers=workers, r=redis_client)
    wait_quiet(world, quiet_for=1.0, timeout=15)
    twice = {o: n for o, n in sends_per_order(world).items() if n > 1}
    assert not twice, f"Some emails were sent more than once: {twice}.\n{describe_workers(workers)}"


@pytest.mark.task(3)
def test_a_bad_ticket_does_not_stop_the_worker(system, world, redis_client):
    redis_client.lpush(EMAIL_QUEUE, "this is not JSON {", json.dumps({"id": "no-args", "task": EMAIL_TASK}))
    api = system.start_api()
    confirm_for_job(api, 91)
    workers = start_workers(system)
    wait_for_emails(world, [91], timeout=20, workers=workers, r=redis_client)
    assert workers[0].alive(), f"The worker exited: {describe_workers(workers)}"


@pytest.mark.task(4)
def test_sigterm_lets_the_worker_finish_the_email_it_is_sending(system, world, redis_client):
    api = system.start_api()
    confirm_for_job(api, 101)
    world.hold(EMAIL_TASK)
    workers = start_workers(system)
    worker = workers[0]
    wait_until(lambda: email_calls(world) or not worker.alive(), timeout=20,
               describe=lambda: "The worker never started sending the email.\n" + describe_workers(workers))
    worker.signal(signal.SIGTERM)
    died = happens_within(lambda: not worker.alive(), 1.0)
    world.release(EMAIL_TASK)
    assert not died, (
        f"On SIGTERM the worker {worker.describe_exit()} while it was still sending the email. "
        "Catch SIGTERM, finish the job in hand, then leave the loop (lecture §3.5)."
    )
    wait_until(lambda: not worker.alive(), timeout=15,
               describe=lambda: "After SIGTERM and the email done, the worker kept running. " + describe_workers(workers))
    assert world.effects(EMAIL_TASK)[101] == 1, "The email for order 101 was not sent once."
