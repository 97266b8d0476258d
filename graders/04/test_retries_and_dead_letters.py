"""Hidden graders for exercise 04: retries with backoff, dead letters, and no job lost when a worker dies.

The knobs come from grading.yml (`env:`): RETRY_BASE_DELAY, MAX_ATTEMPTS, LEASE_SECONDS.
Timing checks compare the world's ledger against the backoff with lower bounds only:
a loaded machine makes gaps longer, never shorter.
"""

import json
import signal
import time
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest

from ticketrail.checks.contract import replay
from ticketrail.checks.jobs import (DEAD, DELAYED, EMAIL_QUEUE, EMAIL_TASK, PROCESSING, clip_job, delay_job, job_key,
                                    parse_job)
from ticketrail.checks.ledger import describe_calls, email_calls, wait_for_held_call
from ticketrail.checks.rail import (
    DelayedSightings,
    Nowhere,
    dead_entries,
    dead_entry_of,
    delayed_score_of,
    describe_rail,
    holders_of,
    processing_lists,
    wait_for_empty_processing,
)
from ticketrail.checks.retry import POISON_TEXT, JobWatch, Knobs, confirm_order, queued_job_problems
from ticketrail.checks.workers import cpu_seconds, kill_worker, owner_of, process_state, wait_stopped, wakeups
from ticketrail.waiting import wait_until
from ticketrail.worldctl import Call, wait_quiet

FROZEN = "2026-02-14T10:30:00+00:00"
HUNG_UP = "SMTP timeout: the server stopped answering"
BUSY = "SMTP server busy"
NOT_A_JOB = "[4602, 4603]"  # JSON, but a list of order ids, not a job
# Due at once: a promoter that moves them one by one is still at it when the last worker comes back, even on a busy
# machine, so that workers that do not check what their ZREM answered meet in it.
RETRIES = 400


def test_a_confirmed_order_gets_an_email_job_that_succeeds_on_the_first_attempt(system, world, redis_client):
    system.start_program("worker.py")
    api = system.start_api()
    world.hold(EMAIL_TASK)
    job = JobWatch(api, redis_client, world, confirm_order(api, 4101), 4101)
    wait_for_held_call(world, 4101, 15)
    holders = [name for name, items in processing_lists(redis_client).items()
               if any(job.job_id in item for item in items)]
    assert holders, (
        f"While the worker was sending the job's email (the check held the call), the job was on no "
        f"{PROCESSING}* list. Reliable fetch (task 6): BRPOPLPUSH moves the job from {EMAIL_QUEUE} into the worker's "
        "processing list in one step, so a worker that dies mid-email leaves the job where a reaper finds it "
        f"(§3.2).\n{job.describe()}"
    )
    during = job.status() or {}
    assert during.get("status") == "STARTED" and during.get("attempts") == 1, (
        f"While the worker was sending the job's email (the check held the call), GET /jobs/{{id}}/status said "
        f"{during}; a job in a worker's hand is STARTED, with \"attempts\": 1 (the worker adds 1 as it marks the "
        "job STARTED: README, statuses).\n" + job.describe()
    )
    # The worker is busy, so the next order's job waits on the rail as the API left it.
    waiting = JobWatch(api, redis_client, world, confirm_order(api, 4102), 4102)
    problems = queued_job_problems(redis_client, waiting.job_id, 4102)
    assert not problems, (
        f"While the worker was busy, the check confirmed order 4102: its job waits on {EMAIL_QUEUE}, and breaks the "
        f"contract: {'; '.join(problems)}. The API LPUSHes {{\"id\", \"task\": \"{EMAIL_TASK}\", "
        "\"args\": {\"email\", \"order_id\", \"order_total\"}, \"created_at\"} and writes the hash job:{id} with "
        f"status PENDING and attempts 0 (README, the API).\n{describe_rail(redis_client)}"
    )
    world.release(EMAIL_TASK)
    status = job.wait_for(["SUCCESS"], 15, "With one worker running and the email service healthy, the "
                                            "confirmed order's email job should reach SUCCESS within 15 s.")
    waiting.wait_for(["SUCCESS"], 15, "The second order's job, which waited on the rail, should reach SUCCESS too.")
    assert status.get("attempts") == 1, (
        f"The job succeeded on its first try, so GET /jobs/{{id}}/status should say \"attempts\": 1; it said "
        f"{status}. Count an attempt each time a worker starts the job."
    )
    fields = {"job_id", "status", "result", "error", "attempts"}
    assert fields <= set(status) and status["job_id"] == job.job_id, (
        f"GET /jobs/{job.job_id}/status answered {status}; the contract's answer has "
        f"{', '.join(sorted(fields))}, with job_id the job's own id."
    )
    calls = job.calls()
    assert len(calls) == 1 and calls[0].effective, (
        f"One confirm with a healthy email service should make exactly one email call.\n{describe_calls(calls)}"
    )
    wait_for_empty_processing(redis_client, 5, "A finished job must leave the worker's processing list "
                              "(acknowledge it), or a later reap would run it again.")
    unknown = api.client.get(f"/jobs/{uuid.uuid4()}/status")
    assert unknown.status_code == 404, (
        f"GET /jobs/<an id nobody created>/status answered {unknown.status_code} ({unknown.text[:200]}); "
        "an unknown job is 404, not PENDING (Celery's old mistake)."
    )
    no_order = api.client.post("/orders/99999/confirm")
    assert no_order.status_code == 404 and not redis_client.lrange(EMAIL_QUEUE, 0, -1), (
        f"POST /orders/99999/confirm (no such order) answered {no_order.status_code} and left "
        f"{redis_client.llen(EMAIL_QUEUE)} job(s) on {EMAIL_QUEUE}; an unknown order is 404, and no job is queued."
    )


def test_every_email_call_carries_the_job_id_as_its_idempotency_key(system, world, redis_client):
    system.start_program("worker.py")
    api = system.start_api()
    jobs = {order: confirm_order(api, order) for order in (4201, 4202)}
    for order, job_id in jobs.items():
        JobWatch(api, redis_client, world, job_id, order).wait_for(
            ["SUCCESS"], 15, "Both email jobs should reach SUCCESS within 15 s.")
    for order, job_id in jobs.items():
        keys = [c.idempotency_key for c in email_calls(world, order)]
        assert keys and all(key == job_id for key in keys), (
            f"The email for job {job_id} was sent with idempotency keys {keys}; every email call should carry "
            "the job id: shop.send_confirmation_email(email, order, idempotency_key=job[\"id\"]). A job that "
            "runs twice (its worker died after sending, before acknowledging) then still sends one email in "
            "effect: the email service recognises the key and does not send again."
        )


def test_a_failing_email_is_retried_with_growing_gaps_until_it_succeeds(system, world, redis_client, exercise):
    knobs = Knobs.of(exercise)
    # The first attempt hangs before it fails: a due time counted from anything earlier than the failure (the job's
    # creation, the attempt's start) has passed by then, and only one counted from the failure still makes it wait.
    hang = 1.2 * knobs.delay(1)
    world.hold(EMAIL_TASK, then_fail=HUNG_UP)
    for n in (1, 2):  # two workers find each due retry: it must go back on the rail once
        system.start_program("worker.py", name=f"worker {n}")
    api = system.start_api()
    job = JobWatch(api, redis_client, world, confirm_order(api, 4301), 4301)
    wait_for_held_call(world, 4301, 15)
    job.hold_steady(hang, lambda: None if len(job.calls()) == 1 else (
        f"While the job's first email call hung (the check held it for {hang:.1f} s, less than LEASE_SECONDS="
        f"{knobs.lease:g}), a second call for the same job started: a live worker's job was run again."))
    # One request ends the hang and sets the next fault: the hung call fails with HUNG_UP, the next one with BUSY.
    world.fail(EMAIL_TASK, first=1, error=BUSY)
    errors: list[tuple[int, str, object]] = []  # (failed attempts so far, the last one's error, the status's error)

    def look_while_it_waits() -> None:
        if not job.last or job.last.get("status") != "RETRY":
            return
        failed = [c for c in job.calls() if c.outcome == "failed"]
        if failed:
            errors.append((len(failed), str(failed[-1].error), job.last.get("error")))

    timeout = 15 + 3 * (knobs.delay(1) + knobs.delay(2))
    # The due times the worker wrote, not the gaps a busy machine stretches, say whether the wait grew.
    with DelayedSightings(redis_client, job.job_id) as delayed:
        status = job.wait_for(["SUCCESS"], timeout, (
            f"The first email call hung for {hang:.1f} s and failed ({HUNG_UP!r}), the second failed ({BUSY!r}), then "
            f"the service worked. With MAX_ATTEMPTS={knobs.max_attempts} the job should be retried and reach SUCCESS "
            f"on its third attempt, within {timeout:.0f} s."
        ), also=look_while_it_waits)
    sightings = delayed.seen

    calls = job.calls()
    assert [c.outcome for c in calls] == ["failed", "failed", "ok"], (
        "With two workers running, the email should have been tried three times: failed, failed, ok. A due retry "
        "goes back on the rail once, however many workers find it (only the worker whose ZREM removed it pushes "
        "it).\n" + describe_calls(calls)
    )
    gaps = [calls[n].start - calls[n - 1].end for n in (1, 2)]
    for n, gap in enumerate(gaps, start=1):
        wanted = knobs.delay(n)
        assert gap >= 0.75 * wanted, (
            f"Attempt {n + 1} started {gap:.2f} s after attempt {n} failed; the backoff says to wait "
            f"RETRY_BASE_DELAY × 2^{n - 1} = {wanted:.2f} s. {backoff_advice(calls, gaps, knobs)}\n"
            + describe_calls(calls)
        )
    # The due times the worker wrote come before the sampled statuses: a busy machine stretches the gaps above and
    # may hide a short RETRY from the status polls, but it cannot move a score.
    dues: dict[int, float] = {}  # failed attempts so far → how long after the last failure the retry was due
    for score, seen, member in sightings:
        held = parse_job(member)
        assert held is not None and held.get("id") == job.job_id and "args" in held, (
            f"While the job waited, {DELAYED} held it as the member {member!r}. The member is the job's own JSON "
            "(id, task, args, created_at), as it came off the rail, so that the worker that finds it due pushes "
            "it back as it is (README, the keys)."
        )
        failed = [c for c in calls if c.end is not None and c.end <= seen]
        if not failed:
            continue
        n = len(failed)
        due, wanted = score - failed[-1].end, knobs.delay(n)
        dues.setdefault(n, due)
        grew = "" if n < 2 or n - 1 not in dues or due > 1.2 * dues[n - 1] else (
            f" After attempt {n - 1} it was due {dues[n - 1]:.2f} s after the failure: the wait did not grow. The delay "
            "doubles with each failed attempt: RETRY_BASE_DELAY × 2^(attempts − 1), with attempts the number of "
            "attempts made so far (read it from the job's hash).")
        passed = "" if due >= 0.25 * wanted else (
            " So the retry was free to start at once, hammering a service that is already failing: a due time "
            "counted from the job's creation or from the attempt's start may have passed by the time it fails.")
        assert 0.75 * wanted <= due <= 1.5 * wanted + 2.0, (
            f"After attempt {n} failed the job waited in {DELAYED} with score {score:.2f}, {due:.2f} s after the "
            f"failure; the due time should be the failure time + {wanted:.2f} s (time.time() + the delay). The delay "
            f"counts from the failure.{passed}{grew}"
        )
    assert status.get("attempts") == 3, f"After three attempts the status should say \"attempts\": 3; it said {status}."
    assert "RETRY" in job.history or sightings, (
        f"A failed job waits for its next attempt with status RETRY, in {DELAYED} scored by its due time (lecture "
        f"§3.4), for the whole delay: {knobs.delay(1):.2f} s after the first failure. This job was never seen waiting: "
        f"its status was never RETRY, and a look at {DELAYED} every 10 ms never found it (attempt 2 started "
        f"{gaps[0]:.2f} s after attempt 1 failed). It waited elsewhere, in a worker's memory that dies with the "
        f"worker, or it left {DELAYED} at once because its due time had passed already. The delay counts from the "
        "failure: the due time is time.time() + the delay, taken once the attempt has failed (a due time counted "
        "from the job's creation has passed by the time a long attempt fails). Put the job in "
        f"{DELAYED} scored by it, and write status RETRY in the same step.\n" + job.describe()
    )
    assert "RETRY" in job.history, (
        f"While a failed job waits for its next attempt its status is RETRY (lecture §3.4); the statuses seen "
        f"were {' → '.join(job.history)}."
    )
    for failed, wanted, seen in errors:
        assert wanted in str(seen or ""), (
            f"While the job waited for attempt {failed + 1} its status was RETRY with \"error\": {seen!r}, but "
            f"attempt {failed} had failed with {wanted!r}. The hash keeps the last failure in `error`: write it with "
            "the status RETRY, in the same step, at every failed attempt (README, statuses), so whoever looks at "
            "a waiting job sees why it waits."
        )
    assert sightings, (
        f"The job's status was RETRY, but the job was never seen in {DELAYED} while it waited. Keep waiting "
        "retries in that sorted set, scored by their due time (epoch seconds), not in the worker's memory: a "
        "worker that dies while it sleeps on a retry loses it.\n" + describe_rail(redis_client)
    )


def backoff_advice(calls: list[Call], gaps: list[float], knobs: Knobs) -> str:
    """What the observed gaps between attempts look like, next to the doubling schedule."""
    seen = ", ".join(f"{gap:.2f} s" for gap in gaps)
    at_once = [n for n, gap in enumerate(gaps, start=1) if gap < 0.25 * knobs.delay(n)]
    if at_once:
        n = at_once[0]
        ran = calls[n - 1].end - calls[n - 1].start
        return (f"The gaps were {seen}: a retry started at once after its failure, although attempt {n} had run "
                f"{ran:.2f} s before it failed. Retrying at once hammers a service that is already failing. The delay "
                "counts from the failure: the due time is time.time() + the delay, taken once the attempt has failed "
                "(a due time counted from the job's creation or from the attempt's start may have passed already). "
                f"Put the job in {DELAYED} scored by that due time, and move it back to the queue only when due "
                "(§3.4).")
    if gaps[1] < 1.5 * gaps[0]:
        # A busy machine stretches any gap by a few tenths of a second: how much the wait grew is given as seen,
        # and the words do not hang on it.
        grew = "stayed the same" if gaps[1] <= 1.2 * gaps[0] else f"grew by {gaps[1] / gaps[0] - 1:.0%}"
        return (f"The gaps were {seen}: the job waited, but the wait did not grow as the schedule says (it "
                f"{grew}; it should double). The delay doubles with each failed attempt: "
                "RETRY_BASE_DELAY × 2^(attempts − 1), with attempts the number of attempts made so far (read it "
                "from the job's hash).")
    return (f"The gaps were {seen}: shorter than the schedule. The delay counts from the failure: the due time is "
            "time.time() + the delay, taken when the attempt has failed.")


def test_a_due_retry_goes_back_on_the_rail_once_however_many_workers_find_it(system, world, redis_client):
    workers = [system.start_program("worker.py", name=f"worker {n}") for n in range(1, 5)]
    world.hold(EMAIL_TASK)
    for n in range(len(workers)):
        clip_job(redis_client, 5101 + n)
    wait_for_held_call(world, None, 20, count=len(workers))  # every worker is in an email call
    retries = {delay_job(redis_client, order, due=time.time() - 1): order for order in range(5201, 5201 + RETRIES)}
    # The held calls end together, so the workers come back to the rail at the same instant and find the same due
    # retries. The calls they make next are held, so every copy of a retry stays where it can be counted.
    world.release(EMAIL_TASK)
    world.hold(EMAIL_TASK)

    def settled() -> bool:
        return not redis_client.zcard(DELAYED) and len(
            [c for c in email_calls(world) if c.held and c.outcome == "running"]) >= len(workers)

    wait_until(settled, 10, lambda: (
        f"The check put {RETRIES} retries, all due, in {DELAYED} while the {len(workers)} workers were busy, then let "
        "the workers go (holding the email calls they made next). Within 10 s every due retry should have left "
        f"{DELAYED}, and each worker should be sending the email of one.\n{describe_rail(redis_client)}\n"
        + describe_calls(email_calls(world))
    ), interval=0.05)
    # A copy is on the rail, or in a worker's hand: on its processing list and in a held call (in the call alone for
    # a worker that keeps the job in memory).
    queued = Counter(job_id for item in redis_client.lrange(EMAIL_QUEUE, 0, -1) for job_id in retries if job_id in item)
    listed = Counter(job_id for items in processing_lists(redis_client).values() for item in items
                     for job_id in retries if job_id in item)
    calls = Counter(c.order_id for c in email_calls(world) if c.held and c.outcome == "running")
    copies = Counter({job_id: queued[job_id] + max(listed[job_id], calls[order]) for job_id, order in retries.items()})
    twice = {retries[job_id]: n for job_id, n in copies.items() if n > 1}
    world.heal(EMAIL_TASK)
    assert not twice, (
        f"The check put {RETRIES} retries, all due, in {DELAYED} while {len(workers)} workers were busy, then let "
        "the workers go at the same instant, so that they found the due retries together. Then the rail and the "
        "processing lists and the workers' email calls held "
        + ", ".join(f"order {order}'s job {n} times" for order, n in sorted(twice.items())[:3])
        + f" ({len(twice)} of the {RETRIES} retries more than once): a due retry went back on the rail more than "
        "once, and would run as often. Only the worker whose ZREM removed the member (ZREM answers 1) may push "
        "it; or move the due jobs with ZREM and RPUSH in one MULTI after WATCH, or in a Lua script (README, the "
        f"worker; RQ #1831).\n{describe_rail(redis_client)}"
    )
    missing = sorted(order for job_id, order in retries.items() if not copies[job_id])
    assert not missing, (
        f"The due retries left {DELAYED}, but the jobs of orders {missing[:5]} are on neither {EMAIL_QUEUE} nor a "
        f"processing list, nor in an email call: moving a due retry back onto the rail must not lose it.\n"
        + describe_rail(redis_client)
    )


def test_an_email_that_always_fails_ends_dead_after_exactly_max_attempts(system, world, redis_client, exercise):
    knobs = Knobs.of(exercise)
    world.fail(EMAIL_TASK, always=True, error="SMTP down: 554 relay refused")
    system.start_program("worker.py")
    api = system.start_api()
    job = JobWatch(api, redis_client, world, confirm_order(api, 4401), 4401)
    timeout = 15 + 2 * sum(knobs.delay(n) for n in range(1, knobs.max_attempts))
    should = (
        f"The email service always fails. After MAX_ATTEMPTS={knobs.max_attempts} attempts the job should give "
        f"up: status DEAD, and the job on {DEAD} (lecture §3.4: \"third pizza also dropped; manager is called\")."
    )

    def not_past_the_last_attempt() -> None:
        # One attempt too many is judged once the job is DEAD (below); more than that is a worker that keeps going.
        if len(job.calls()) > knobs.max_attempts + 1:
            pytest.fail(f"{should} This worker went on to attempt {len(job.calls())}, past MAX_ATTEMPTS="
                        f"{knobs.max_attempts}, and its job was not DEAD: it has no last attempt.\n{job.describe()}",
                        pytrace=False)

    status = job.wait_for(["DEAD"], timeout, f"{should} Within {timeout:.0f} s it was not DEAD.",
                          also=not_past_the_last_attempt)

    at_death = len(job.calls())

    def tried_again() -> str | None:
        calls, now = job.calls(), job.status()
        if len(calls) > at_death:
            return f"After the job was DEAD the worker tried the email again (call {len(calls)})."
        if now is None or now.get("status") != "DEAD":
            return f"The job was DEAD, then its status became {now}: a dead job stays dead until an operator replays it."
        return None

    job.hold_steady(knobs.delay(1) + 0.5, tried_again)
    calls = job.calls()
    extra = len(calls) - knobs.max_attempts
    assert extra == 0, (
        f"MAX_ATTEMPTS={knobs.max_attempts} counts every attempt, the first one included; the world saw "
        f"{len(calls)} email calls before the job was DEAD: "
        + (f"{'one attempt' if extra == 1 else f'{extra} attempts'} too many. Compare the attempts made so far "
           f"(counted as the attempt starts) with MAX_ATTEMPTS: the attempt that brings the count to "
           f"{knobs.max_attempts} is the last." if extra > 0 else
           f"{'one attempt' if extra == -1 else f'{-extra} attempts'} too few.")
        + f"\n{describe_calls(calls)}"
    )
    assert status.get("attempts") == knobs.max_attempts and "SMTP down" in str(status.get("error")), (
        f"A dead job's status should show its attempts ({knobs.max_attempts}) and its last error (the service said "
        f"\"SMTP down: 554 relay refused\"); GET /jobs/{{id}}/status said {status}."
    )
    entry = dead_entry_of(redis_client, job.job_id)
    assert entry is not None, (
        f"The job is DEAD but no entry on {DEAD} has its id. Push the job there as JSON, with its attempts and "
        f"last error, so an operator can see it and replay it.\n{describe_rail(redis_client)}"
    )
    assert entry.get("attempts") == knobs.max_attempts and "SMTP down" in str(entry.get("last_error")), (
        f"The dead letter should carry \"attempts\": {knobs.max_attempts} and the \"last_error\" from the "
        f"email service; it is {entry}."
    )
    stuck = [name for name, holds in [(EMAIL_QUEUE, redis_client.lrange(EMAIL_QUEUE, 0, -1)),
                                      (DELAYED, redis_client.zrange(DELAYED, 0, -1)),
                                      *processing_lists(redis_client).items()]
             if any(job.job_id in item for item in holds)]
    assert not stuck, f"The dead job is still on {', '.join(stuck)}: it would run again.\n{describe_rail(redis_client)}"


def test_an_operator_can_replay_a_dead_job_and_it_gets_every_attempt_again(system, world, redis_client, exercise):
    world.fail(EMAIL_TASK, always=True, error="mailbox full")
    max_attempts = 2
    system.start_program("worker.py", MAX_ATTEMPTS=str(max_attempts))
    api = system.start_api()
    job = JobWatch(api, redis_client, world, confirm_order(api, 4501), 4501)

    def replay_while_it_waits() -> None:
        # Once, the first time the job is seen waiting for its retry: a job that is not DEAD is not replayed.
        if job.last and job.last.get("status") == "RETRY" and not waiting:
            waiting.append(replay(api, job.job_id))
            if waiting[0].status_code != 409:
                pytest.fail(
                    f"POST /jobs/{job.job_id}/replay on a job waiting in RETRY for its next attempt answered "
                    f"{waiting[0].status_code} ({waiting[0].text[:200]}). The job exists and is not DEAD: the answer "
                    "is 409 Conflict, whatever its status (README, the contract: replay); replaying it would run it "
                    f"twice.\n{job.describe()}", pytrace=False)

    waiting: list = []
    job.wait_for(["DEAD"], 30, f"With MAX_ATTEMPTS={max_attempts} and the email always failing, the job should be "
                               f"DEAD after {max_attempts} attempts.", also=replay_while_it_waits)
    unknown = api.client.post(f"/jobs/{uuid.uuid4()}/replay")
    assert unknown.status_code == 404, (
        f"POST /jobs/<an id nobody created>/replay answered {unknown.status_code}; an unknown job is 404."
    )
    before = len(job.calls())
    assert before == max_attempts, (
        f"The worker was started with MAX_ATTEMPTS={max_attempts} (the other checks use "
        f"{Knobs.of(exercise).max_attempts}) and made {before} email calls before the job was DEAD. Read the "
        "knobs from the environment when the worker starts, not from constants in the code (README, the "
        f"environment).\n{describe_calls(job.calls())}"
    )
    answer = replay(api, job.job_id)
    assert answer.status_code == 200, (
        f"POST /jobs/{job.job_id}/replay on a DEAD job answered {answer.status_code} ({answer.text[:200]}); "
        "it should put the job back on the rail and answer 200."
    )
    body = answer.json()
    assert body == {"job_id": job.job_id, "status": "PENDING"}, (
        f"POST /jobs/{job.job_id}/replay answered {body}; the contract's answer is "
        f'{{"job_id": "{job.job_id}", "status": "PENDING"}}.'
    )

    def dead_again() -> dict | None:
        status = job.status()
        return status if status and status.get("status") == "DEAD" and len(job.calls()) > before else None

    status = wait_until(dead_again, 30, lambda: (
        f"The email still failed after the replay, so the replayed job should run MAX_ATTEMPTS={max_attempts} "
        f"more times and be DEAD again.\n{job.describe()}"
    ), interval=0.02)
    wait_quiet(world, 1.0, 10)
    again = len(job.calls()) - before
    status = job.status() or status
    assert again == max_attempts and status.get("attempts") == max_attempts, (
        f"After the replay the email failed again. The replayed job made {again} attempt"
        f"{'' if again == 1 else 's'} before it was DEAD again, and its status says \"attempts\": "
        f"{status.get('attempts')}; with MAX_ATTEMPTS={max_attempts} it should make {max_attempts} and say "
        f"{max_attempts}. "
        + ("A replay starts the job afresh: set its attempts to 0 in the same transaction that puts it back on "
           "the rail (README, the contract: replay)." if again < max_attempts else
           "The replayed job got more attempts than MAX_ATTEMPTS: a replay sets attempts to 0, and the worker "
           "counts from there (README, the contract: replay).")
        + f"\n{describe_calls(job.calls())}"
    )
    world.heal(EMAIL_TASK)
    answer = replay(api, job.job_id)
    assert answer.status_code == 200, (
        f"The job was DEAD again, and a second POST /jobs/{job.job_id}/replay answered {answer.status_code} "
        f"({answer.text[:200]}); every DEAD job can be replayed."
    )
    status = job.wait_for(["SUCCESS"], 15, "After the email service healed, the replayed job should run again and "
                                           "reach SUCCESS.")
    assert status.get("attempts") == 1, (
        f"The job was replayed and succeeded on its first attempt since, so its status should say \"attempts\": 1; "
        f"it said {status}. A replay sets attempts to 0; the worker counts from there."
    )
    assert dead_entry_of(redis_client, job.job_id) is None, (
        f"The replayed job succeeded but is still on {DEAD}: take it off when you replay it.\n"
        + describe_rail(redis_client)
    )
    conflict = replay(api, job.job_id)
    assert conflict.status_code == 409, (
        f"POST /jobs/{job.job_id}/replay on a job that already succeeded answered {conflict.status_code}; only a "
        "DEAD job is replayed, anything else is 409 Conflict (or the email could be sent again)."
    )
    wait_quiet(world, 1.0, 10)
    sent = sum(c.effective for c in job.calls())
    assert sent == 1, f"The replayed job should send one email; it sent {sent}.\n{describe_calls(job.calls())}"


def test_a_poison_message_goes_to_the_dead_letters_and_does_not_block_the_queue(system, world, redis_client):
    worker = system.start_program("worker.py")
    api = system.start_api()
    unknown_task = {"id": f"poison-{uuid.uuid4()}", "task": "bake_a_birthday_cake", "args": {},
                    "created_at": datetime.now(timezone.utc).isoformat()}
    redis_client.lpush(EMAIL_QUEUE, POISON_TEXT)
    redis_client.lpush(EMAIL_QUEUE, NOT_A_JOB)
    redis_client.lpush(EMAIL_QUEUE, json.dumps(unknown_task))
    job = JobWatch(api, redis_client, world, confirm_order(api, 4601), 4601)
    job.wait_for(["SUCCESS"], 15, (
        f"Three poison messages were ahead of this job on the rail: the text {POISON_TEXT!r} (not JSON), the JSON "
        f"list {NOT_A_JOB} (JSON, but not a job), and a job with the unknown task {unknown_task['task']!r}. The "
        "worker should set them aside and go on."
    ))
    assert worker.alive(), f"The worker {worker.describe_exit()} after the poison messages; it should survive them."

    watched = {"the unreadable text": Nowhere(redis_client, POISON_TEXT),
               "the JSON that is not a job": Nowhere(redis_client, NOT_A_JOB),
               "the job with the unknown task": Nowhere(redis_client, unknown_task["id"])}

    def all_buried() -> bool:
        entries = dead_entries(redis_client)
        if (any(POISON_TEXT in e for e in entries) and any(NOT_A_JOB in e for e in entries)
                and dead_entry_of(redis_client, unknown_task["id"]) is not None):
            return True
        dropped = [what for what, nowhere in watched.items() if nowhere.seconds() >= 2]
        if dropped:
            pytest.fail(f"The worker took {' and '.join(dropped)} off the rail and dropped it: for 2 s it has been on "
                        f"no list of the rail. Every poison message should end on {DEAD}, where an operator can "
                        f"look at it (README task 3).\n{describe_rail(redis_client)}", pytrace=False)
        return False

    wait_until(all_buried, 10, lambda: (
        f"The three poison messages should end on {DEAD}, where an operator can look at them: the unreadable one "
        f"and the one that is not a job with their text, the unknown task as its job.\n{describe_rail(redis_client)}"
    ))
    for entry in dead_entries(redis_client):
        if POISON_TEXT in entry or NOT_A_JOB in entry or unknown_task["id"] in entry:
            letter = parse_job(entry)
            assert letter is not None and letter.get("last_error"), (
                f"Every dead letter is a JSON object with a \"last_error\" saying why it died; this one is {entry!r}."
            )
    unreadable = next(parse_job(e) for e in dead_entries(redis_client) if POISON_TEXT in e)
    assert unreadable.get("raw") == POISON_TEXT and unreadable.get("attempts") == 0, (
        f"The unreadable message's dead letter is {unreadable}; the contract writes it as "
        f'{{"raw": "<its text>", "attempts": 0, "last_error": "…"}}, so an operator sees exactly what arrived.'
    )
    wait_for_empty_processing(redis_client, 5, "Poison messages must leave the processing list too, or a reap "
                              "would put them back on the rail.")


def test_a_job_whose_worker_is_killed_mid_email_is_finished_by_another_and_sent_once(
        system, world, redis_client, exercise):
    knobs = Knobs.of(exercise)
    workers = [system.start_program("worker.py", name=f"worker {n}") for n in (1, 2)]
    api = system.start_api()
    world.hold(EMAIL_TASK)
    jobs = {order: confirm_order(api, order) for order in (4701, 4702, 4703)}
    first = wait_for_held_call(world, None, 20, count=2)[0]  # both workers are in an email call
    victim = owner_of(workers, first.caller_pid)
    assert victim is not None, (
        f"The held email call came from pid {first.caller_pid}, which is neither worker's process (pids "
        f"{[w.pid for w in workers]}); the check cannot tell which worker to kill."
    )
    job = JobWatch(api, redis_client, world, jobs[first.order_id], first.order_id)
    held_in = [key for key in holders_of(redis_client, job.job_id) if key.startswith(PROCESSING)]
    kill_worker(victim)
    killed_at = time.time()
    world.release(EMAIL_TASK)
    # The heartbeat expires within a lease of the kill, and a reaper runs at least once per lease (README).
    back_within = 3 * knobs.lease + 2
    wait_until(lambda: [c for c in job.calls() if c.start > killed_at], back_within, lambda: killed_job_advice(
        job, victim.name, held_in, time.time() - killed_at, knobs), interval=0.05)
    for order, job_id in jobs.items():
        JobWatch(api, redis_client, world, job_id, order).wait_for(["SUCCESS"], 20, (
            f"{victim.name} was killed while it sent the email of job {job.job_id}; another worker took that job "
            "again. Every job should reach SUCCESS, whichever worker runs it."
        ))
    wait_quiet(world, 1.0, 10)
    for order, job_id in jobs.items():
        calls = email_calls(world, order)
        sent = sum(c.effective for c in calls)
        assert sent == 1, (
            f"The world received {sent} emails for job {job_id}. The killed worker's call reached the email service "
            "before it died, so the job ran again; without the job id as idempotency key the service cannot tell "
            f"it is the same email (pass idempotency_key=job[\"id\"]).\n{describe_calls(calls)}"
        )


def killed_job_advice(job: JobWatch, victim: str, held_in: list[str], waited: float, knobs: Knobs) -> str:
    """Why a killed worker's job did not run again, from where it was when the worker died and where it is now."""
    head = (f"{victim} was killed with SIGKILL while it sent the email of job {job.job_id}. {waited:.1f} s later no "
            f"worker had called the email service for that job again; with LEASE_SECONDS={knobs.lease:g} its "
            "heartbeat expires within a lease, a reaper (run at least once per lease) returns the job to the rail, "
            "and the other worker takes it: \"Worker crashes? → Unfinished job returns to queue\" (§3.2). ")
    now = holders_of(job.r, job.job_id)
    status = (job.status() or {}).get("status")
    if not held_in:
        why = ("When the worker died the job was on no jobs:email:processing* list: taken with plain BRPOP, it lived "
               "only in the dead worker's memory. Take it with BRPOPLPUSH into a processing list, and let a reaper "
               "return the jobs of workers whose heartbeat stopped.")
    elif set(held_in) & set(now):
        kept = ", ".join(sorted(set(held_in) & set(now)))
        why = (f"The job is still on {kept}, the killed worker's processing list: "
               "nothing returned it. Give the heartbeat key a TTL of LEASE_SECONDS, read from the environment (not a "
               "number in the code), renew it while the worker lives, and let every worker's reaper move the jobs "
               "of workers whose heartbeat expired back to jobs:email.")
    elif EMAIL_QUEUE in now:
        why = f"The job is back on {EMAIL_QUEUE}, but the other worker did not take it."
    elif now:
        why = (f"The job left the killed worker's list and is now on {', '.join(now)}, yet it made no email call: "
               "the worker that holds it does not run it.")
    else:
        why = (f"The job left the killed worker's processing list (a reaper returned it) and is on no list now, yet "
               f"no worker ran it again: its status is still {status}. When a worker dies mid-job, the job goes from "
               "STARTED to RECEIVED again as another worker takes it (README, statuses). A worker that finds a job "
               "still marked STARTED must run it (the dead worker marked it), not drop it.")
    return f"{head}{why}\n{job.describe()}"


@pytest.mark.slow
def test_a_long_job_on_a_live_worker_is_not_taken_by_another_worker(system, world, redis_client, exercise):
    knobs = Knobs.of(exercise)
    first = system.start_program("worker.py", name="worker 1")
    api = system.start_api()
    world.hold(EMAIL_TASK)
    job = JobWatch(api, redis_client, world, confirm_order(api, 4801), 4801)
    wait_for_held_call(world, 4801, 15)
    system.start_program("worker.py", name="worker 2")
    window = 3 * knobs.lease

    def look() -> str | None:
        calls = job.calls()
        if len(calls) > 1:
            return (f"While worker 1 was alive and still sending the job's email (the check held it for "
                    f"{window:g} s, 3 × LEASE_SECONDS), another email call for the same job came from pid "
                    f"{calls[1].caller_pid}. A reaper took a live worker's job (RQ #2061, Celery #7009): keep the "
                    "lease alive with a heartbeat that beats while the job runs (a thread), and reap only workers "
                    "whose heartbeat expired.")
        if any(job.job_id in item for item in redis_client.lrange(EMAIL_QUEUE, 0, -1)):
            return (f"Worker 1 was alive and still working on the job, yet the job was put back on {EMAIL_QUEUE}: "
                    "a reaper took a live worker's job. Reap only workers whose heartbeat expired.")
        if not any(job.job_id in item for items in processing_lists(redis_client).values() for item in items):
            return on_no_list
        return None

    on_no_list = (f"While worker 1 was still sending the job's email, the job was on no {PROCESSING}* list: had "
                  "worker 1 died then, nobody could have found the job again. A job stays on its worker's "
                  "processing list until its outcome is recorded (task 6).")

    def taken() -> str | None:
        # The calls, the queue and the lists are read one after the other: a reaper's move from a processing list
        # to the queue can fall between two reads and hide the job from both. Only a second look that finds it on
        # no list again is a job that left its list.
        found = look()
        return look() if found is on_no_list else found

    job.hold_steady(window, taken)
    assert first.alive(), f"Worker 1 {first.describe_exit()} while it waited for the email service."
    world.release(EMAIL_TASK)
    job.wait_for(["SUCCESS"], 15, "Once the email service answered, worker 1 should finish the job.")
    wait_quiet(world, 1.0, 10)
    calls = job.calls()
    assert len(calls) == 1, (
        f"The long job ran {len(calls)} times; a live worker's job must run once.\n{describe_calls(calls)}"
    )


def test_a_frozen_worker_loses_its_job_to_another_and_its_late_failure_changes_nothing(
        system, world, redis_client, exercise):
    knobs = Knobs.of(exercise)
    frozen = system.start_program("worker.py", name="worker 1")
    api = system.start_api()
    world.hold(EMAIL_TASK, then_fail="SMTP timeout")
    job = JobWatch(api, redis_client, world, confirm_order(api, 4901), 4901)
    held = wait_for_held_call(world, 4901, 15)[0]
    frozen.signal(signal.SIGSTOP)
    try:
        wait_stopped(frozen)
        # The frozen worker's call goes on and fails; the answer waits in its socket until it thaws.
        world.heal(EMAIL_TASK)
        wait_until(lambda: [c for c in job.calls() if c.seq == held.seq and c.outcome == "failed"], 10,
                   lambda: "The frozen worker's email call should have failed.\n" + describe_calls(job.calls()))
        system.start_program("worker.py", name="worker 2")
        should = (
            f"Worker 1 froze (SIGSTOP) in the middle of the email. Its heartbeat stopped with it, so after "
            f"LEASE_SECONDS={knobs.lease:g} its job should go to worker 2 and succeed; a job must not stay "
            "STARTED forever behind a worker that stopped (RQ #2015, arq #343)."
        )
        nowhere = Nowhere(redis_client, job.job_id)

        def held_only_by_the_frozen_worker() -> None:
            if nowhere.seconds() >= knobs.lease + 2:
                pytest.fail(f"{should} But for {knobs.lease + 2:g} s the job has been on no list of the rail: "
                            "taken with plain BRPOP, it lives only in the frozen worker's memory, where no other "
                            "worker can take it over. Take it with BRPOPLPUSH into the worker's processing list, "
                            f"which a reaper empties once the worker's heartbeat has expired.\n{job.describe()}",
                            pytrace=False)

        job.wait_for(["SUCCESS"], 3 * knobs.lease + 20, should, also=held_only_by_the_frozen_worker)
    finally:
        frozen.signal(signal.SIGCONT)
    wait_until(lambda: process_state(frozen.pid) != "T", 5, lambda: "Worker 1 did not resume after SIGCONT.")
    seen = len(job.calls())

    def stale_write() -> str | None:
        now = job.status()
        if now is None or now.get("status") != "SUCCESS":
            return (f"After worker 2 finished the job, worker 1 thawed and its late answer (the failed email) changed "
                    f"the job: its status became {now}. A worker that lost its lease must not record anything: "
                    "acknowledge and record in one transaction that first checks the job is still on your own "
                    "processing list (WATCH it, then MULTI) (BullMQ #439).")
        if len(job.calls()) > seen:
            return "After worker 2 finished the job, worker 1 thawed and the job ran again."
        return None

    job.hold_steady(knobs.delay(1) + 0.5, stale_write)
    sent = sum(c.effective for c in job.calls())
    assert sent == 1, f"The world received {sent} emails for the job.\n{describe_calls(job.calls())}"


def test_an_idle_worker_waits_on_redis_without_spinning_and_still_moves_a_due_retry_back(
        system, world, redis_client):
    worker = system.start_program("worker.py")
    job_id = clip_job(redis_client, 5001)
    wait_until(lambda: redis_client.hget(job_key(job_id), "status") == "SUCCESS", 15, lambda: (
        f"The check put a job on the rail (as the API does) and waited 15 s for the worker to finish it, "
        f"before watching the worker idle. Its hash: {redis_client.hgetall(f'job:{job_id}')}\n"
        + describe_rail(redis_client)
    ))
    window = 3.0
    cpu_before, woken_before = cpu_seconds(worker), wakeups(worker)
    time.sleep(window)  # the measurement window itself: what does an idle worker cost?
    used, woken = cpu_seconds(worker) - cpu_before, wakeups(worker) - woken_before
    assert worker.alive(), f"The worker {worker.describe_exit()} while it had nothing to do."
    advice = ("An idle cook waits by the rail; he does not pace around it. Block on Redis with BRPOPLPUSH and a "
              "timeout of about a second (not a loop of non-blocking RPOPLPUSH, nor BLMOVE, which does not block "
              "on the embedded fake Redis); promote due retries and reap between waits.")
    assert used <= 0.1 * window, (
        f"With nothing to do, the worker used {used:.2f} s of CPU in {window:.0f} s ({100 * used / window:.0f} % of "
        f"a core). {advice}"
    )
    assert woken <= 200 * window, (
        f"With nothing to do, the worker woke up {woken / window:.0f} times a second (context switches of its "
        f"threads); a worker blocked on Redis wakes a few times. {advice}"
    )
    retry_id = delay_job(redis_client, 5002, due=time.time())
    promoted_within = 5.0
    wait_until(lambda: delayed_score_of(redis_client, retry_id) is None, promoted_within, lambda: (
        f"The check put a retry that was already due in {DELAYED} while the worker idled, and waited "
        f"{promoted_within:.0f} s for it to be moved back onto {EMAIL_QUEUE}; it is still there. A worker blocked on "
        "the rail must come round between waits to promote due retries: give BRPOPLPUSH a timeout of a second "
        f"or less, never 0 (which waits for ever) (task 7).\n{describe_rail(redis_client)}"
    ))
    wait_until(lambda: redis_client.hget(job_key(retry_id), "status") == "SUCCESS", 15, lambda: (
        f"The due retry left {DELAYED}, but did not reach SUCCESS within 15 s: its hash is "
        f"{redis_client.hgetall(f'job:{retry_id}')}.\n{describe_rail(redis_client)}"
    ))


def test_the_backoff_schedule_doubles_from_the_base_delay(call_student_function):
    frozen = datetime.fromisoformat(FROZEN).timestamp()
    env = {"MAX_ATTEMPTS": "5", "REDIS_URL": "redis://127.0.0.1:9/0", "TICKETRAIL_WORLD_URL": "http://127.0.0.1:9"}
    for base, attempts in ((10.0, 1), (10.0, 2), (10.0, 3), (0.5, 4)):
        result = call_student_function("worker", "next_due", [attempts], freeze=FROZEN,
                                       env={**env, "RETRY_BASE_DELAY": f"{base:g}"})
        call = f"With RETRY_BASE_DELAY={base:g} and the clock frozen at {FROZEN}, worker.next_due({attempts})"
        assert result.ok, f"{call} raised {result.error}: {result.message}\n{result.traceback}"
        value = result.value
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (
            f"{call} returned {value!r}; the contract is the due time in epoch seconds, a float like time.time() "
            "(README, the worker): it is the score of the job in jobs:email:delayed."
            + (" A datetime is the right moment in the wrong form: return its .timestamp()."
               if isinstance(value, datetime) else "")
        )
        delay, wanted = value - frozen, base * 2 ** (attempts - 1)
        assert wanted - 1e-3 <= delay <= 1.25 * wanted + 1e-3, (
            f"{call} returned now + {delay:g} s; the schedule is now + RETRY_BASE_DELAY × 2^(attempts − 1) = "
            f"now + {wanted:g} s (a little jitter on top is fine, up to a quarter of the delay). Read the base "
            "delay from the environment and double it with each failed attempt."
        )
