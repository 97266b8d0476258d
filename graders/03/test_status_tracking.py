"""Hidden graders for exercise 03: add status tracking."""

import itertools
import uuid
from datetime import datetime

from ticketrail.checks_queue import (
    EMAIL_TASK,
    happens_within,
    FINAL,
    RANK,
    StatusSampler,
    any_alive,
    confirm_for_job,
    describe_job,
    describe_state,
    describe_workers,
    email_calls,
    job_hash,
    parse_job,
    parse_time,
    queued,
    stage_problems,
    start_workers,
    status_of,
    stop_workers,
    utc_problem,
)
from ticketrail.latency import measure
from ticketrail.services import order_record
from ticketrail.waiting import wait_until
from ticketrail.worldctl import wait_quiet

FROZEN = "2031-07-09T18:45:12.250000+00:00"
SMTP_ERROR = "SMTP server said 421: try again later"


def read_status(api, job_id):
    """The status the endpoint gives for a job the API made; anything but a 200 with a status fails at once."""
    __tracebackhide__ = True
    response = status_of(api, job_id)
    assert response.status_code == 200, (
        f"GET /jobs/{job_id}/status answered {response.status_code}: {response.text[:300]}. "
        "For a job the API made it answers 200 with the job's status (lecture §3.4)."
    )
    body = response.json()
    assert isinstance(body, dict) and "status" in body, (
        f"GET /jobs/{job_id}/status answered {body!r}; the contract is "
        '{"job_id": ..., "status": ..., "result": ..., "error": ...} (lecture §3.4).'
    )
    return body["status"]


def assert_status_answer(api, job_id, status, result=None, error=None):
    __tracebackhide__ = True
    response = status_of(api, job_id)
    assert response.status_code == 200, (
        f"GET /jobs/{job_id}/status answered {response.status_code}: {response.text[:300]}. "
        "For a job the API made it answers 200 with the job's status (lecture §3.4)."
    )
    body = response.json()
    expected = {"job_id": job_id, "status": status, "result": result, "error": error}
    assert body == expected, (
        f"GET /jobs/{job_id}/status answered {body}; expected {expected}. The answer has exactly these "
        "four keys; an empty result or error is null (lecture §3.4)."
    )


def wait_for_final(api, r, world, workers, job_id, timeout=30):
    """Wait until the job is SUCCESS or FAILURE, and return which; fail early once every worker has exited."""
    __tracebackhide__ = True

    def settled():
        status = read_status(api, job_id)
        return status if status in FINAL or not any_alive(workers) else None

    status = wait_until(settled, timeout, lambda: (
        f"After {timeout} s job {job_id} had not reached SUCCESS or FAILURE; GET /jobs/{job_id}/status "
        f"says {read_status(api, job_id)!r}.\n" + describe_state(r, world, workers, [job_id])
    ))
    assert status in FINAL, (
        f"Every worker exited while job {job_id} was {status}.\n" + describe_state(r, world, workers, [job_id])
    )
    return status


def test_a_new_job_is_pending_while_no_worker_runs_and_succeeds_once_one_does(system, world, redis_client):
    api = system.start_api()
    orders = (201, 202)
    job_ids = [confirm_for_job(api, order) for order in orders]
    tickets = {job.get("id"): job for job in map(parse_job, queued(redis_client)) if job}
    for job_id in job_ids:
        fields = job_hash(redis_client, job_id)
        assert fields, (
            f"Confirmed an order; its answer named job {job_id}, but Redis has no hash job:{job_id}. The API "
            "writes the job's record, status PENDING, before it pushes the job (lecture §3.4, enqueue_job)."
        )
        wrong = [f"{key}={fields.get(key)!r} (expected {value!r})" for key, value in
                 {"status": "PENDING", "task": EMAIL_TASK}.items() if fields.get(key) != value]
        wrong += [f"{key}={fields[key]!r} (expected empty)" for key in ("result", "error") if fields.get(key)]
        ticket = tickets.get(job_id, {})
        if fields.get("created_at") != ticket.get("created_at"):
            wrong.append(f"created_at={fields.get('created_at')!r}, but the job on the rail says "
                         f"{ticket.get('created_at')!r}: copy the job's own created_at")
        if utc_problem("pending_at", fields.get("pending_at")):
            wrong.append(utc_problem("pending_at", fields.get("pending_at")))
        assert not wrong, (
            f"With no worker running, job:{job_id} has {'; '.join(wrong)}.\n{describe_job(redis_client, job_id)}\n"
            "A new job's hash: status PENDING, its task, its created_at, an empty result and error, and "
            "pending_at, the time it went on the rail (lecture §3.4)."
        )
        assert_status_answer(api, job_id, "PENDING")
    calls = wait_quiet(world, quiet_for=1.0, timeout=15)
    moved = {job_id: job_hash(redis_client, job_id).get("status") for job_id in job_ids}
    assert set(moved.values()) == {"PENDING"} and not [c for c in calls if c.service == EMAIL_TASK], (
        f"No worker was running, yet the jobs moved on: {moved}; {world.summary([EMAIL_TASK])}. Only the "
        "worker takes a job off the rail and reports RECEIVED, STARTED, SUCCESS (lecture §3.5)."
    )
    workers = start_workers(system)
    for order, job_id in zip(orders, job_ids):
        status = wait_for_final(api, redis_client, world, workers, job_id)
        response = status_of(api, job_id).json()
        assert status == "SUCCESS" and response.get("result"), (
            f"Once a worker ran, the job for order {order} ended with {response}. The email was sent, so the "
            "job is SUCCESS, with a result: what send_confirmation_email returned (lecture §3.4).\n"
            + describe_job(redis_client, job_id)
        )


def test_the_status_is_started_while_the_email_is_being_sent_then_success_with_a_result(system, world, redis_client):
    world.hold(EMAIL_TASK)
    api = system.start_api()
    workers = start_workers(system)
    job_id = confirm_for_job(api, 211)
    wait_until(
        lambda: any(c.held for c in email_calls(world)) or not workers[0].alive(),
        timeout=30,
        describe=lambda: "The worker never started sending the email.\n"
                         + describe_state(redis_client, world, workers, [job_id]),
    )
    assert workers[0].alive(), f"The worker exited: {describe_workers(workers)}"
    try:
        wait_until(lambda: read_status(api, job_id) == "STARTED", timeout=10, describe=lambda: (
            f"While the worker was sending the email of job {job_id} (the world held the call open), "
            f"GET /jobs/{job_id}/status said {read_status(api, job_id)!r}, not 'STARTED'.\n"
            f"{describe_job(redis_client, job_id)}\nA customer asking \"is my pizza ready?\" should hear "
            "\"the cook is making it\": write RECEIVED as soon as the job is off the rail and STARTED just "
            "before the work begins, not only the outcome at the end (lecture §3.4)."
        ))
        missing = [stamp for stamp in ("received_at", "started_at") if not job_hash(redis_client, job_id).get(stamp)]
        assert not missing, (
            f"The job is STARTED, but its hash has no {' or '.join(missing)}: stamp each stage as it happens.\n"
            + describe_job(redis_client, job_id)
        )
    finally:
        world.release(EMAIL_TASK)
    status = wait_for_final(api, redis_client, world, workers, job_id)
    fields = job_hash(redis_client, job_id)
    assert status == "SUCCESS" and fields.get("result"), (
        f"After the email went out, job {job_id} is {status} with result {fields.get('result')!r}. A sent "
        "email makes the job SUCCESS, with what send_confirmation_email returned as its result (§3.4)."
    )
    sent = [f"msg-{c.seq}" for c in email_calls(world) if c.order_id == 211 and c.outcome == "ok"]
    assert fields["result"] in sent, (
        f"Job {job_id} is SUCCESS with result {fields['result']!r}, but send_confirmation_email returned "
        f"{' or '.join(map(repr, sent)) or 'nothing yet'}: the message id of the email it sent. Store what the "
        "call returned, str(result), not a text of your own (lecture §3.4)."
    )
    assert_status_answer(api, job_id, "SUCCESS", result=fields["result"])


def test_a_failing_email_ends_in_failure_with_the_error_and_the_worker_lives_on(system, world, redis_client):
    world.fail(EMAIL_TASK, always=True, error=SMTP_ERROR)
    api = system.start_api()
    workers = start_workers(system)
    job_id = confirm_for_job(api, 221)
    wait_until(
        lambda: read_status(api, job_id) in FINAL or not workers[0].alive(),
        timeout=30,
        describe=lambda: (f"The email service failed ({SMTP_ERROR!r}); 30 s later job {job_id} was still "
                          f"{read_status(api, job_id)!r}. A failed job is FAILURE, with the error (§3.4).\n"
                          + describe_state(redis_client, world, workers, [job_id])),
    )
    if read_status(api, job_id) == "SUCCESS":
        fields = job_hash(redis_client, job_id)
        finished = parse_time(fields.get("finished_at"))
        finished_at = finished.timestamp() if finished is not None and finished.tzinfo else None
        before = [c for c in email_calls(world) if finished_at is not None and c.start <= finished_at]
        happens_within(lambda: [c for c in email_calls(world) if c.outcome != "running"], 3.0)
        if finished_at is not None and not before:
            later = [c for c in email_calls(world) if c.start > finished_at]
            raise AssertionError(
                f"Job {job_id} reached SUCCESS before any email was sent"
                + (f": the worker called the email service {1000 * (later[0].start - finished_at):.0f} ms after "
                   "writing SUCCESS, and the call failed" if later else ", and no email call followed") + ". "
                f"The email service was set to fail ({SMTP_ERROR!r}), so the job should have ended FAILURE. A status "
                "says what has happened: write SUCCESS once the email call has returned, and FAILURE with the "
                "error when it raised (lecture §3.4).\n" + describe_job(redis_client, job_id)
            )
        raise AssertionError(
            f"The email service was set to fail ({SMTP_ERROR!r}), yet job {job_id} ended SUCCESS. An email call "
            "that raised is a FAILURE, with str(error) in the hash (lecture §3.4).\n"
            + describe_job(redis_client, job_id) + "\n" + world.summary([EMAIL_TASK])
        )
    failed_calls = [c for c in email_calls(world) if c.outcome == "failed"]
    assert failed_calls, "The email service was set to fail, but the worker never called it.\n" + world.summary()
    assert workers[0].alive(), (
        f"The email service failed and the worker died with it: {describe_workers(workers)}\n"
        "One dropped pizza must not close the kitchen: catch the exception around the work, record "
        "FAILURE with the error, and take the next job (lecture §3.4, §3.5)."
    )
    fields = job_hash(redis_client, job_id)
    assert fields.get("status") == "FAILURE" and SMTP_ERROR in fields.get("error", ""), (
        f"The email service failed with {SMTP_ERROR!r}. Job {job_id} should be FAILURE with that error, "
        f"but {describe_job(redis_client, job_id)}. Record str(error) in the hash's error field."
    )
    assert_status_answer(api, job_id, "FAILURE", error=fields["error"])
    world.heal(EMAIL_TASK)
    next_job = confirm_for_job(api, 222)
    status = wait_for_final(api, redis_client, world, workers, next_job)
    assert status == "SUCCESS", (
        f"After a failed job the email service healed, but the next job ended {status}.\n"
        + describe_job(redis_client, next_job)
    )


def test_stage_timestamps_are_in_order_and_no_status_goes_backwards_with_several_workers(system, world, redis_client):
    api = system.start_api()
    workers = start_workers(system, 3)
    with StatusSampler(redis_client) as sampler:
        first = confirm_for_job(api, 231)
        sampler.add(first)
        wait_for_final(api, redis_client, world, workers, first)
        job_ids = [first]
        for order in range(232, 241):
            job_id = confirm_for_job(api, order)
            sampler.add(job_id)
            job_ids.append(job_id)
        wait_until(sampler.all_final, timeout=45, describe=lambda: (
            "After 45 s not every job had reached SUCCESS or FAILURE. Statuses seen so far:\n"
            + _histories(sampler.seen) + "\n" + describe_state(redis_client, world, workers)
        ))
        wait_quiet(world, quiet_for=0.5, timeout=10)
    stop_workers(workers)
    unknown = {job_id: h for job_id, h in sampler.seen.items() if any(s not in RANK for s in h)}
    assert not unknown, (
        "Some jobs had a status outside the lifecycle, or no hash right after the API answered:\n"
        + _histories(unknown) + "\nThe statuses are PENDING, RECEIVED, STARTED, SUCCESS and FAILURE, in "
        "capitals, and the API writes the hash before it answers (lecture §3.4)."
    )
    backwards = sampler.backwards()
    assert not backwards, (
        f"Read every job's status every few milliseconds ({sampler.samples} rounds) while three workers "
        "ran them. Some went backwards:\n" + _histories(backwards) + "\nA status only moves forward: "
        "PENDING → RECEIVED → STARTED → SUCCESS or FAILURE. Going back usually means two writers race: "
        "write the PENDING record before the job is on the rail, never after (lecture §3.4)."
    )
    out_of_order = {job_id: stage_problems(job_hash(redis_client, job_id)) for job_id in job_ids}
    out_of_order = {job_id: problems for job_id, problems in out_of_order.items() if problems}
    assert not out_of_order, (
        "Each finished job's hash should hold created_at ≤ pending_at ≤ received_at ≤ started_at ≤ "
        "finished_at, all ISO-8601 times in UTC with their offset. Not so for:\n"
        + "\n".join(f"  job {job_id}: {'; '.join(problems)}" for job_id, problems in list(out_of_order.items())[:5])
        + "\nA time out of order means a stage was written late, or by the wrong program: the API writes "
        "PENDING before it pushes the job; the worker writes the rest as each happens (lecture §3.4)."
    )
    failed = [job_id for job_id in job_ids if job_hash(redis_client, job_id).get("status") != "SUCCESS"]
    assert not failed, "Every email was sent, yet some jobs did not end SUCCESS:\n" + "\n".join(
        describe_job(redis_client, job_id) for job_id in failed[:5])


def test_an_unknown_job_id_is_404_not_pending(system, redis_client):
    api = system.start_api()
    known = confirm_for_job(api, 251)
    assert_status_answer(api, known, "PENDING")
    unknown = str(uuid.uuid4())
    response = status_of(api, unknown)
    assert response.status_code == 404, (
        f"GET /jobs/{unknown}/status, for an id no job ever had, answered {response.status_code}: "
        f"{response.text[:200]}. \"Never heard of it\" is 404. Answering PENDING for anything (Celery's "
        "default) sends a customer with a mistyped order number waiting forever (lecture §3.4: "
        "hgetall returns an empty dict for a missing key)."
    )


def test_the_status_endpoint_answers_within_the_latency_budget(system, budget):
    api = system.start_api()
    job_ids = [confirm_for_job(api, order) for order in (261, 262, 263)]
    read_status(api, job_ids[0])
    limit = budget("status")
    counter = itertools.count()
    result = measure(lambda key: status_of(api, job_ids[key % len(job_ids)]), lambda: next(counter), limit,
                     requests=30)
    failed = [s for r in result.rounds for s in r if s.status != 200]
    assert not failed, f"{len(failed)} status requests failed, e.g. HTTP {failed[0].status}."
    assert result.passed, (
        f"GET /jobs/{{id}}/status for jobs still PENDING (no worker running) took: {result.describe()}. "
        "\"Is my pizza ready?\" gets an answer at once — PENDING is an answer. Read the hash and answer; "
        "never wait for the job to finish in the request: the client polls again later (lecture §3.4)."
    )


def test_the_job_creation_time_is_the_current_utc_time_under_frozen_time(call_student_function, redis_url, system,
                                                                          redis_client):
    # make_job comes from exercise 02; this counts once the job's created_at also reaches its hash (task 1).
    api = system.start_api()
    job_id = confirm_for_job(api, 271)
    ticket = next((job for job in map(parse_job, queued(redis_client)) if job and job.get("id") == job_id), {})
    copied = job_hash(redis_client, job_id).get("created_at")
    assert copied and copied == ticket.get("created_at"), (
        f"Task 1 is not done yet: the job on the rail says created_at={ticket.get('created_at')!r}, and its hash "
        f"job:{job_id} says {copied!r}. The API writes the hash with the job's own created_at, copied from the "
        f"job, before it pushes the job (lecture §3.4).\n{describe_job(redis_client, job_id)}"
    )
    args = {"email": "customer7@example.com", "order_id": 7, "order_total": order_record(7)["total"]}
    result = call_student_function("app", "make_job", [EMAIL_TASK, args], freeze=FROZEN,
                                   env={"REDIS_URL": redis_url})
    assert result.ok, (
        f"Called make_job({EMAIL_TASK!r}, {args}) in app.py with the clock frozen at {FROZEN}; "
        f"it raised {result.error}: {result.message}\n{result.traceback}"
    )
    job = result.value
    assert isinstance(job, dict), f"make_job(...) returned {job!r}; it should return the job as a dict."
    problem = utc_problem("created_at", job.get("created_at"))
    assert problem is None, (
        f"With the clock frozen at {FROZEN}, make_job returned created_at={job.get('created_at')!r}: {problem}."
    )
    stamp = parse_time(job["created_at"])
    assert abs((stamp - datetime.fromisoformat(FROZEN)).total_seconds()) < 1, (
        f"With the clock frozen at {FROZEN}, make_job stamped created_at={job['created_at']!r}: read the "
        "clock, datetime.now(timezone.utc), when the job is made."
    )


def _histories(seen: dict[str, list[str]], limit: int = 6) -> str:
    lines = [f"  job {job_id}: {' → '.join(history)}" for job_id, history in list(seen.items())[:limit]]
    if len(seen) > limit:
        lines.append(f"  … and {len(seen) - limit} more")
    return "\n".join(lines)
