"""Hidden graders for exercise 03: add status tracking."""

import itertools
import time
import uuid

from ticketrail.checks.contract import confirm_for_job, status_of
from ticketrail.checks.jobs import (
    EMAIL_TASK,
    FINISHED,
    RANK,
    assert_make_job_stamps_the_frozen_time,
    describe_job,
    job_hash,
    parse_job,
    parse_time,
)
from ticketrail.checks.ledger import email_calls
from ticketrail.checks.rail import describe_state, queued
from ticketrail.checks.status import Seen, StatusSampler, left_a_final_state, stage_problems
from ticketrail.checks.workers import any_alive, describe_workers, start_workers, stop_workers
from ticketrail.latency import measure
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


def timed_confirm(api, order):
    """Confirm an order: (its job id, when the request was sent, when the answer came)."""
    __tracebackhide__ = True
    sent = time.time()
    job_id = confirm_for_job(api, order)
    return job_id, sent, time.time()


def seen(world, order, sent, answered):
    """What the check saw of one job from outside, to hold its stage stamps against."""
    calls = tuple(c for c in email_calls(world) if c.order_id == order)
    return Seen(sent=sent, answered=answered, calls=calls, read=time.time())


def wait_for_final(api, r, world, workers, job_id, timeout=30):
    """Wait until the job is SUCCESS or FAILURE, and return which; fail early once every worker has exited."""
    __tracebackhide__ = True

    def settled():
        status = read_status(api, job_id)
        return status if status in FINISHED or not any_alive(workers) else None

    status = wait_until(settled, timeout, lambda: (
        f"After {timeout} s job {job_id} had not reached SUCCESS or FAILURE; GET /jobs/{job_id}/status "
        f"says {read_status(api, job_id)!r}.\n" + describe_state(r, world, workers, [job_id])
    ))
    assert status in FINISHED, (
        f"Every worker exited while job {job_id} was {status}.\n" + describe_state(r, world, workers, [job_id])
    )
    return status


def test_a_new_job_is_pending_while_no_worker_runs_and_succeeds_once_one_does(system, world, redis_client):
    api = system.start_api()
    orders = (201, 202)
    confirmed = [timed_confirm(api, order) for order in orders]
    job_ids = [job_id for job_id, _, _ in confirmed]
    tickets = {job.get("id"): job for job in map(parse_job, queued(redis_client)) if job}
    for job_id, sent, answered in confirmed:
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
        wrong += stage_problems(fields, Seen(sent, answered, calls=(), read=time.time()),
                                names=("created_at", "pending_at"))
        assert not wrong, (
            f"With no worker running, job:{job_id} is not what the contract says: {'; '.join(wrong)}.\n"
            f"{describe_job(redis_client, job_id)}\n"
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
        assert_status_answer(api, job_id, "STARTED")  # no result, no error, while the email is on its way
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
    # The email service fails once, then works again: the job it failed is FAILURE for good, the next one succeeds.
    world.fail(EMAIL_TASK, first=1, error=SMTP_ERROR)
    api = system.start_api()
    workers = start_workers(system)
    with StatusSampler(redis_client) as sampler:
        job_id, sent, answered = timed_confirm(api, 221)
        sampler.add(job_id)
        wait_until(
            lambda: read_status(api, job_id) in FINISHED or not workers[0].alive(),
            timeout=30,
            describe=lambda: (f"The email service failed ({SMTP_ERROR!r}); 30 s later job {job_id} was still "
                              f"{read_status(api, job_id)!r}. A failed job is FAILURE, with the error (§3.4).\n"
                              + describe_state(redis_client, world, workers, [job_id])),
        )
        # A worker that goes on after the failure (a retry, code after the except) calls or writes again soon.
        wait_quiet(world, quiet_for=1.0, timeout=15)
        fields = job_hash(redis_client, job_id)
        assert_the_failure_was_final(redis_client, world, job_id, sampler.history(job_id), fields)
        failed_calls = [c for c in email_calls(world) if c.outcome == "failed"]
        assert failed_calls, "The email service was set to fail, but the worker never called it.\n" + world.summary()
        assert workers[0].alive(), (
            f"The email service failed and the worker died with it: {describe_workers(workers)}\n"
            "One dropped pizza must not close the kitchen: catch the exception around the work, record "
            "FAILURE with the error, and take the next job (lecture §3.4, §3.5)."
        )
        assert fields.get("status") == "FAILURE" and SMTP_ERROR in fields.get("error", ""), (
            f"The email service failed with {SMTP_ERROR!r}. Job {job_id} should be FAILURE with that error, "
            f"but {describe_job(redis_client, job_id)}. Record str(error) in the hash's error field."
        )
        problems = stage_problems(fields, seen(world, 221, sent, answered))
        assert not problems, (
            f"Job {job_id} ended FAILURE, but its stamps are wrong: {'; '.join(problems)}.\n"
            f"{describe_job(redis_client, job_id)}\nA failed job's hash holds every stage it went through, "
            "finished_at included: when the failed call had returned (lecture §3.4)."
        )
        assert_status_answer(api, job_id, "FAILURE", error=fields["error"])
        world.heal(EMAIL_TASK)
        next_job = confirm_for_job(api, 222)
        status = wait_for_final(api, redis_client, world, workers, next_job)
        assert status == "SUCCESS", (
            f"After a failed job the email service worked again, but the next job ended {status}.\n"
            + describe_job(redis_client, next_job)
        )
        history = sampler.history(job_id)
    assert history[-1:] == ["FAILURE"] and not left_a_final_state(history), (
        f"Job {job_id} had ended FAILURE; while the next job ran, its status went {' → '.join(history)}. "
        "FAILURE is final: nothing writes the job's status again (lecture §3.4).\n" + describe_job(redis_client, job_id)
    )


def assert_the_failure_was_final(r, world, job_id, history, fields):
    """The email call for job 221 failed once: the job is FAILURE, and stays so. Else, say what the worker did."""
    __tracebackhide__ = True
    if fields.get("status") != "SUCCESS" and not left_a_final_state(history):
        return
    calls = sorted((c for c in email_calls(world) if c.order_id == 221), key=lambda c: c.start)
    went = " → ".join(history)
    finished = parse_time(fields.get("finished_at"))
    finished_at = finished.timestamp() if finished is not None and finished.tzinfo else None
    if fields.get("status") == "SUCCESS" and finished_at is not None and not [c for c in calls if c.start <= finished_at]:
        later = [c for c in calls if c.start > finished_at]
        what = (f": the worker called the email service {1000 * (later[0].start - finished_at):.0f} ms after writing "
                "SUCCESS, and the call failed" if later else ", and no email call followed")
        raise AssertionError(
            f"Job {job_id} reached SUCCESS before any email was sent{what}. The email service was set to fail "
            f"({SMTP_ERROR!r}), so the job should have ended FAILURE. A status says what has happened: write "
            "SUCCESS once the email call has returned, and FAILURE with the error when it raised (lecture §3.4).\n"
            + describe_job(r, job_id)
        )
    if len(calls) > 1:
        what = (f"the first email call failed ({SMTP_ERROR!r}), and the worker called the email service again "
                f"({len(calls)} calls for this one job), so its status went {went}")
        advice = ("In this exercise a job whose email call raised is FAILURE, with the error, for good: the "
                  "worker does not try again (exercise 04 adds retries, with a schedule and a limit)")
    elif "FAILURE" in history or fields.get("error"):
        what = (f"the email call failed ({SMTP_ERROR!r}) and was not made again; FAILURE was written (the hash "
                f"holds its error), and then SUCCESS over it (its status went {went})")
        advice = ("Once FAILURE is written, the job is over: leave the job's code there (return from the except), "
                  "so nothing after it writes another status")
    else:
        what = f"the email call failed ({SMTP_ERROR!r}), yet the job ended SUCCESS (its status went {went})"
        advice = "An email call that raised makes the job FAILURE, with str(error) in the hash"
    raise AssertionError(
        f"Job {job_id}: {what}. SUCCESS and FAILURE are final. {advice} (lecture §3.4).\n"
        + describe_job(r, job_id) + "\n" + world.summary([EMAIL_TASK])
    )


def test_stage_timestamps_are_in_order_and_no_status_goes_backwards_with_several_workers(system, world, redis_client):
    api = system.start_api()
    workers = start_workers(system, 3)
    confirmed = {}
    with StatusSampler(redis_client) as sampler:
        first, sent, answered = timed_confirm(api, 231)
        sampler.add(first)
        confirmed[first] = (231, sent, answered)
        wait_for_final(api, redis_client, world, workers, first)
        for order in range(232, 241):
            job_id, sent, answered = timed_confirm(api, order)
            sampler.add(job_id)
            confirmed[job_id] = (order, sent, answered)
        job_ids = list(confirmed)
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
    out_of_order = {job_id: stage_problems(job_hash(redis_client, job_id),
                                           seen(world, *confirmed[job_id]))
                    for job_id in job_ids}
    out_of_order = {job_id: problems for job_id, problems in out_of_order.items() if problems}
    assert not out_of_order, (
        "Each finished job's hash should hold created_at ≤ pending_at ≤ received_at ≤ started_at ≤ "
        "finished_at, all ISO-8601 times in UTC with their offset, each written when its stage happened. "
        "Not so for:\n"
        + "\n".join(f"  job {job_id}: {'; '.join(problems)}" for job_id, problems in list(out_of_order.items())[:3])
        + (f"\n  … and {len(out_of_order) - 3} more jobs" if len(out_of_order) > 3 else "")
        + "\nThe API writes PENDING before it pushes the job; the worker stamps each stage as it happens, "
        "reading the clock anew each time (lecture §3.4)."
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
    assert_make_job_stamps_the_frozen_time(call_student_function, redis_url, FROZEN)


def _histories(seen: dict[str, list[str]], limit: int = 6) -> str:
    lines = [f"  job {job_id}: {' → '.join(history)}" for job_id, history in list(seen.items())[:limit]]
    if len(seen) > limit:
        lines.append(f"  … and {len(seen) - limit} more")
    return "\n".join(lines)
