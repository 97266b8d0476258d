"""Hidden graders for exercise 02: write a worker."""

import json
import signal
import time
import uuid
from datetime import datetime, timezone

import pytest

from ticketrail.checks.contract import UNKNOWN_ORDERS, confirm_for_job
from ticketrail.checks.holding import answer_while_held
from ticketrail.checks.jobs import (
    EMAIL_QUEUE,
    EMAIL_TASK,
    assert_make_job_stamps_the_frozen_time,
    job_problems,
    parse_job,
    push_email_job,
)
from ticketrail.checks.latency import ON_THE_RAIL, assert_confirm_within_budget
from ticketrail.checks.ledger import email_calls, sends_per_order, wait_for_emails
from ticketrail.checks.rail import describe_queue, describe_state, queued
from ticketrail.checks.source import imports_of
from ticketrail.checks.workers import (
    any_alive,
    describe_workers,
    happens_within,
    idle_cost,
    start_workers,
    stop_workers,
)
from ticketrail.waiting import Lasting, wait_until
from ticketrail.worldctl import wait_quiet

FROZEN = "2031-07-09T18:45:12.250000+00:00"
# Longer than redis-py's default socket timeout (5 s), which ends a BRPOP that waits forever.
IDLE_SECONDS = 6.0
# How long three freshly started workers get to take a job each.
SHARE_SECONDS = 30.0
# With every email held, a job taken stays taken: a rail empty this long while fewer than three workers send
# means the jobs went to fewer hands, and no other worker will ever find one.
EMPTY_RAIL_SECONDS = 5.0
# How long an idle worker is watched: it should spend it blocked in BRPOP.
IDLE_WINDOW = 3.0


def test_confirm_answers_within_the_latency_budget_with_no_worker_running(system, world, redis_client, budget):
    api = system.start_api()
    # Fast counts once the confirm does the contract's work: a job on the rail, its id in the answer.
    confirm_for_job(api, 999)
    assert len(queued(redis_client)) == 1, (
        f"POST /orders/999/confirm answered with an email_job_id, but {EMAIL_QUEUE} should then hold that one job. "
        + describe_queue(redis_client)
    )
    assert_confirm_within_budget(api, world, budget("confirm"), requests=30, cure=ON_THE_RAIL)


def test_confirm_records_the_order_as_confirmed_before_it_answers(system, world):
    api = system.start_api()
    for order in (131, 132):
        confirm_for_job(api, order)
        answered = time.time()
        confirmed = [h for h in world.order_history(order) if h["status"] == "confirmed"]
        assert confirmed and confirmed[0]["at"] <= answered, (
            f"POST /orders/{order}/confirm answered with a job id, but the database had not recorded order {order} "
            f"as confirmed (its history: {world.order_history(order)}). The confirm reads the order, confirms it "
            '(shop.update_order_status(order_id, "confirmed")), then pushes the job (lecture §3.3).'
        )
    # A write made just after the answer can look made before it when the check notices the answer late: with the
    # write held in the world, an answer that does not wait for it comes all the same.
    early = answer_while_held(api, world, 133, "update_order_status")
    assert early is None, (
        f"POST /orders/133/confirm answered {early.status_code if early else ''} ({early.text[:160] if early else ''}) "
        "while the world held its database write (shop.update_order_status): the answer said the order was "
        "confirmed before the database had recorded it. The confirm reads the order, awaits "
        'shop.update_order_status(order_id, "confirmed"), then pushes the job and answers (lecture §3.3).'
    )


def test_confirm_puts_one_job_with_the_contract_shape_on_jobs_email(system, redis_client):
    api = system.start_api()
    orders = (42, 43)
    made_from = time.time()
    job_ids = {order: confirm_for_job(api, order) for order in orders}
    made_until = time.time()
    assert job_ids[42] != job_ids[43], (
        f"Confirmed orders 42 and 43; both answers gave email_job_id {job_ids[42]!r}. Every job gets a fresh id, "
        "made when make_job runs: a default argument value (job_id=str(uuid.uuid4())) or a module-level id is "
        "made once, when app.py is loaded, and every job then shares it."
    )
    raw_jobs = queued(redis_client)
    assert len(raw_jobs) == len(orders), (
        f"Confirmed orders {orders[0]} and {orders[1]} with no worker running, so {EMAIL_QUEUE} should hold "
        f"exactly 2 jobs, one per confirm. {describe_queue(redis_client)} "
        f"Push each job with LPUSH {EMAIL_QUEUE} (lecture §3.3)."
    )
    jobs = [parse_job(raw) for raw in raw_jobs]
    assert all(jobs), (
        f"Each job on {EMAIL_QUEUE} is one JSON object, made with json.dumps(job). {describe_queue(redis_client)}"
    )
    by_id = {job.get("id"): job for job in jobs}
    by_order = {job["args"].get("order_id"): job for job in jobs if isinstance(job.get("args"), dict)}
    for position, order in enumerate(orders):
        # The ticket this confirm made, else the one in its place on the rail: its problems say what differs.
        job = by_id.get(job_ids[order]) or by_order.get(order) or jobs[position]
        problems = job_problems(job, order, job_ids[order], (made_from, made_until))
        assert not problems, (
            f"The job for order {order} does not follow the contract: {'; '.join(problems)}.\n"
            f"It was: {json.dumps(job)[:400]}\n"
            'The contract: {"id": str(uuid4()), "task": "send_confirmation_email", "args": {"email", '
            '"order_id", "order_total"}, "created_at": ISO-8601 UTC}. Everything the worker needs must be '
            "in the job, because the worker shares no memory with the API (lecture §3.3, misconception 5)."
        )


def test_make_job_stamps_the_job_with_the_current_utc_time(call_student_function, redis_url):
    assert_make_job_stamps_the_frozen_time(call_student_function, redis_url, FROZEN)


def test_no_email_is_sent_until_a_worker_runs(system, world, redis_client):
    api = system.start_api()
    orders = (51, 52, 53)
    for order in orders:
        confirm_for_job(api, order)
    calls = wait_quiet(world, quiet_for=1.0, timeout=15)
    sent = [c for c in calls if c.service == EMAIL_TASK]
    assert not sent, (
        f"Confirmed orders {', '.join(map(str, orders))} with no worker running, yet the world saw "
        f"{len(sent)} email call{'s' if len(sent) > 1 else ''} (from pid {sent[0].caller_pid}; the API's pid "
        f"is {api.child.pid}). The email is still sent inside the API process — by BackgroundTasks, "
        "asyncio.create_task or a direct call. The API only puts a job on the rail; a separate program, "
        "worker.py, sends it (lecture §3.1, §3.5)."
    )
    assert len(queued(redis_client)) == len(orders), (
        f"After {len(orders)} confirms and no worker, {EMAIL_QUEUE} should hold {len(orders)} jobs. "
        + describe_queue(redis_client)
    )
    workers = start_workers(system)
    wait_for_emails(world, orders, timeout=30, workers=workers, r=redis_client)
    stop_workers(workers)


def test_one_worker_processes_jobs_first_in_first_out(system, world, redis_client):
    api = system.start_api()
    orders = [61, 62, 63, 64]
    for order in orders:
        confirm_for_job(api, order)
    workers = start_workers(system)
    wait_for_emails(world, orders, timeout=25, workers=workers, r=redis_client)
    taken = [c.order_id for c in sorted(email_calls(world), key=lambda c: c.seq)]
    assert taken == orders, (
        f"Confirmed orders {orders} in that order, then started one worker. It sent their emails in the "
        f"order {taken}. A ticket rail is first in, first out: the API pushes on one end (LPUSH) and the "
        "worker takes from the other (BRPOP). Taking from the same end makes the first customer wait "
        "for everyone after them (lecture §3.2, guarantee 5)."
    )
    stop_workers(workers)


def test_three_workers_send_every_email_exactly_once_and_share_the_work(system, world, redis_client):
    orders = list(range(71, 80))
    for order in orders:
        push_email_job(redis_client, order)
    # Each email is held open until three workers are sending at once: however slowly the workers
    # start, every one of them finds jobs left on the rail.
    world.hold(EMAIL_TASK)
    workers = start_workers(system, 3)

    def sending() -> set:
        return {c.caller_pid for c in email_calls(world) if c.outcome == "running"}

    empty_rail = Lasting(lambda: not redis_client.llen(EMAIL_QUEUE))

    def rail_emptied() -> bool:
        return empty_rail.seconds() >= EMPTY_RAIL_SECONDS

    began = time.monotonic()
    try:
        happens_within(lambda: len(sending()) >= 3 or not any_alive(workers) or rail_emptied(), SHARE_SECONDS)
        busy, waited, rail_was_empty = sending(), time.monotonic() - began, rail_emptied()
    finally:
        world.release(EMAIL_TASK)
    wait_for_emails(world, orders, timeout=30, workers=workers, r=redis_client)
    wait_quiet(world, quiet_for=1.0, timeout=30)
    sends = sends_per_order(world)
    twice = {order: n for order, n in sends.items() if n > 1}
    assert not twice, (
        f"With {len(orders)} jobs on the rail and three workers, some emails were sent more than once: "
        + ", ".join(f"order {o} {n} times" for o, n in sorted(twice.items())[:8])
        + ". Two workers read the same ticket before either removed it. Take a job and remove it in one "
        "step — BRPOP gives each job to exactly one waiting worker (lecture §3.5, scaling workers).\n"
        + describe_workers(workers)
    )
    assert len(busy) >= 3, (
        f"Three workers started with {len(orders)} jobs on the rail, and the email service held every email "
        f"open. After {waited:.0f} s, only {len(busy)} process{'es were' if len(busy) != 1 else ' was'} "
        "sending one; the other workers found nothing to do"
        + (f" (the rail had been empty for {EMPTY_RAIL_SECONDS:.0f} s: all {len(orders)} jobs were taken). "
           if rail_was_empty else ". ")
        + "A worker takes one job at a time and leaves "
        "the rest on the rail for the others: more cooks, more pizzas (lecture §3.5).\n"
        + describe_workers(workers)
    )
    stop_workers(workers)


def test_the_api_and_the_worker_do_not_import_each_other(impl_dir, system, world, redis_client):
    for name in ("app.py", "worker.py"):
        assert (impl_dir / name).is_file(), f"{name} is missing: exercise 02 has two programs, app.py and worker.py."
    api_imports, worker_imports = imports_of(impl_dir / "app.py"), imports_of(impl_dir / "worker.py")
    assert "worker" not in api_imports, (
        "app.py imports worker.py. The cashier does not cook: the API only pushes a job onto the rail, and "
        "the code that does the work lives in the worker's process alone. Any import of the worker runs its "
        "code inside the API (lecture §3.2, guarantee 1: decoupling)."
    )
    assert "app" not in worker_imports, (
        "worker.py imports app.py, which builds the whole FastAPI app inside the worker. The worker is a "
        "separate program that knows only Redis and the shop's services (lecture §3.5)."
    )
    # Two programs that share only the rail: the API's job is the worker's email.
    api = system.start_api()
    confirm_for_job(api, 121)
    workers = start_workers(system)
    wait_for_emails(world, [121], timeout=30, workers=workers, r=redis_client)
    stop_workers(workers)


def test_a_malformed_job_does_not_stop_the_worker(system, world, redis_client):
    bad_jobs = [
        "this is not JSON {",
        "[1, 2, 3]",
        json.dumps({"id": str(uuid.uuid4()), "task": EMAIL_TASK}),
        json.dumps({"id": str(uuid.uuid4()), "task": "bake_a_calzone", "args": {}, "created_at": _now()}),
        json.dumps({"id": str(uuid.uuid4()), "task": EMAIL_TASK, "args": {"order_id": 90}, "created_at": _now()}),
    ]
    redis_client.lpush(EMAIL_QUEUE, *bad_jobs)
    push_email_job(redis_client, 91)
    workers = start_workers(system)
    worker = workers[0]
    try:
        wait_for_emails(world, [91], timeout=30, workers=workers, r=redis_client)
    except AssertionError as error:
        raise AssertionError(
            f"Put these malformed jobs on {EMAIL_QUEUE}, then a good one for order 91: "
            f"{', '.join(repr(b[:60]) for b in bad_jobs)}. The worker should log each bad one and go on "
            f"to the next; the good job's email was not sent.\n{error}\nWrap the handling of one job in "
            "try/except, so one unreadable ticket does not close the kitchen (lecture §3.5)."
        ) from None
    assert worker.alive(), f"The worker exited after the bad jobs: {describe_workers(workers)}"
    push_email_job(redis_client, 92)
    wait_for_emails(world, [92], timeout=30, workers=workers, r=redis_client)
    stop_workers(workers)


def test_sigterm_lets_a_worker_finish_the_job_in_hand_and_nothing_is_lost(system, world, redis_client):
    orders = (101, 102)
    for order in orders:
        push_email_job(redis_client, order)
    world.hold(EMAIL_TASK)
    workers = start_workers(system)
    worker = workers[0]
    held = wait_until(
        lambda: [c for c in email_calls(world) if c.held and c.outcome == "running"] or not worker.alive(),
        timeout=30,
        describe=lambda: "The worker never started sending an email.\n" + describe_state(redis_client, world, workers),
    )
    assert worker.alive(), f"The worker exited before sending anything: {describe_workers(workers)}"
    in_hand = held[0].order_id
    worker.signal(signal.SIGTERM)
    terminated = time.time()
    died_early = happens_within(lambda: not worker.alive(), 1.0)
    world.release(EMAIL_TASK)
    assert not died_early, (
        f"Sent SIGTERM while the worker was sending the email for order {in_hand} (the world held the call "
        f"open). {time.time() - terminated:.2f} s later the worker had stopped ({worker.describe_exit()}), in the "
        "middle of the job. SIGTERM is how a deployment or `docker stop` asks a worker to stop; the polite worker "
        "catches it (signal.signal), finishes the job in hand, then exits (lecture §3.5)."
    )
    wait_until(lambda: not worker.alive(), timeout=15, describe=lambda: (
        f"Sent SIGTERM while the worker was sending the email for order {in_hand}, then let the email finish. "
        "15 s later the worker was still running. After the job in hand, check the stop flag and leave the "
        "loop; give BRPOP a timeout so the loop gets to look at the flag.\n" + describe_state(redis_client, world, workers)
    ))
    exited = time.time()
    call = next(c for c in email_calls(world) if c.seq == held[0].seq)
    assert call.end is not None and call.end <= exited, (
        f"The worker exited before the email for order {in_hand} was done, in the middle of the job. On "
        "SIGTERM, finish the job in hand first, then leave the loop (lecture §3.5)."
    )
    left = {job.get("args", {}).get("order_id") for job in map(parse_job, queued(redis_client)) if job}
    sent = world.effects(EMAIL_TASK)
    lost = [order for order in orders if not sent[order] and order not in left]
    assert not lost, (
        f"After the worker stopped, the job for order{'s' if len(lost) > 1 else ''} "
        f"{', '.join(map(str, lost))} was neither sent nor still on {EMAIL_QUEUE}: it was lost. A stopping "
        "worker leaves the jobs it has not taken on the rail.\n" + describe_state(redis_client, world, workers)
    )
    fresh = start_workers(system)
    wait_for_emails(world, orders, timeout=30, workers=fresh, r=redis_client)
    wait_quiet(world, quiet_for=0.7, timeout=15)
    sends = sends_per_order(world)
    assert all(sends[order] == 1 for order in orders), (
        f"After the stop and a fresh worker, the emails were sent {dict((o, sends[o]) for o in orders)} times "
        "per order; each should go out exactly once.\n" + describe_state(redis_client, world, workers + fresh)
    )
    stop_workers(fresh)


@pytest.mark.slow
def test_an_idle_worker_keeps_waiting_and_stops_soon_after_sigterm(system, world, redis_client):
    push_email_job(redis_client, 111)
    workers = start_workers(system)
    worker = workers[0]
    wait_for_emails(world, [111], timeout=30, workers=workers, r=redis_client)
    idle_from = time.time()
    exited = happens_within(lambda: not worker.alive(), IDLE_SECONDS)
    assert not exited, (
        f"After its first job the worker waited on an empty rail, and {time.time() - idle_from:.1f} s later it "
        f"had stopped ({worker.describe_exit()}). The last lines it printed:\n{worker.log_tail(8)}\n"
        "A cook with nothing to do waits by the rail. redis-py stops reading a socket after 5 s "
        "(socket_timeout), and BRPOP with timeout=0 waits longer than that: wait in short rounds, "
        "brpop(..., timeout=1), in a loop (lecture §3.5)."
    )
    worker.signal(signal.SIGTERM)
    wait_until(lambda: not worker.alive(), timeout=10, describe=lambda: (
        "Sent SIGTERM to a worker waiting for work on an empty rail; 10 s later it was still running. "
        "A BRPOP that waits forever never lets the loop look at the stop flag again: wait a second at a "
        "time (brpop(..., timeout=1)) and check the flag between waits (lecture §3.5).\n"
        + describe_workers(workers)
    ))


def test_an_unknown_order_gets_404_and_nothing_is_queued(system, world, redis_client):
    api = system.start_api()
    # The 404 counts once a known order's confirm does its part: one job on the rail.
    confirm_for_job(api, 141)
    assert len(queued(redis_client)) == 1, (
        f"POST /orders/141/confirm answered with a job id, but {EMAIL_QUEUE} should then hold that one job. "
        + describe_queue(redis_client)
    )
    for unknown in UNKNOWN_ORDERS:
        response = api.client.post(f"/orders/{unknown}/confirm")
        assert response.status_code == 404, (
            f"POST /orders/{unknown}/confirm answered {response.status_code} ({response.text[:200]}); "
            f"order {unknown} does not exist (the shop has orders 1 to 9999), so the answer is 404. "
            "shop.get_order_from_db raises shop.OrderNotFound for any order it does not have: turn it into an "
            "HTTPException."
        )
        assert len(queued(redis_client)) == 1, (
            f"For order {unknown}, which does not exist, the API still put a job on the rail. "
            f"{describe_queue(redis_client)} Find the order first; make and push the job only once it exists and "
            "is confirmed."
        )


def test_an_idle_worker_blocks_on_the_rail_and_uses_almost_no_cpu(system, world, redis_client):
    push_email_job(redis_client, 151)
    workers = start_workers(system)
    worker = workers[0]
    wait_for_emails(world, [151], timeout=30, workers=workers, r=redis_client)
    wait_quiet(world, quiet_for=0.5, timeout=10)
    used, runnable = idle_cost(worker, IDLE_WINDOW)
    assert worker.alive(), f"The worker stopped while the rail was empty: {describe_workers(workers)}"
    stop_workers(workers)
    advice = ("A cook with nothing to do waits by the rail; he does not pace around it. BRPOP blocks inside Redis "
              "until a job arrives or its timeout runs out: brpop([\"jobs:email\"], timeout=1) in a loop. A loop of "
              "non-blocking RPOP (or LLEN, LRANGE) asks again and again and burns a core (lecture §3.3, §3.5).")
    assert used <= 0.1 * IDLE_WINDOW and runnable <= 0.2 * IDLE_WINDOW, (
        f"With the rail empty, the worker used {used:.2f} s of CPU in {IDLE_WINDOW:.0f} s "
        f"({100 * used / IDLE_WINDOW:.0f} % of a core) and was running or ready to run for {runnable:.2f} s of "
        f"them. {advice}"
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
