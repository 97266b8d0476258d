"""The kitchen of lecture §3.2–3.5. It works — until a pizza burns or a cook faints.

    python worker.py

This is exercise 03's worker: it takes a ticket with BRPOP, records each stage in the
job's hash, and marks a failed job FAILURE for good. Your tasks (see the README) make
it retry with backoff, give up into the dead letters, send each email once in effect,
and lose no job when a worker dies.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import datetime, timezone
from typing import Callable

import redis

from ticketrail.shop import sync as shop

QUEUE = "jobs:email"
DELAYED = "jobs:email:delayed"
DEAD = "jobs:email:dead"

RETRY_BASE_DELAY = float(os.environ.get("RETRY_BASE_DELAY", "2"))
MAX_ATTEMPTS = int(os.environ.get("MAX_ATTEMPTS", "3"))
LEASE_SECONDS = float(os.environ.get("LEASE_SECONDS", "10"))
# The longest this worker blocks on the rail before it looks at the stop flag again.
POLL_SECONDS = 0.5


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: the base delay, doubled each time."""
    # TODO task 1: RETRY_BASE_DELAY after the first failure, twice that after the second, ...
    raise NotImplementedError("task 1: the backoff schedule")


def next_due(attempts: int) -> float:
    """When (epoch seconds, like time.time()) the job may run again after its `attempts`-th failed attempt."""
    # TODO task 1: now plus retry_delay(attempts).
    raise NotImplementedError("task 1: the backoff schedule")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(message: str) -> None:
    print(f"[worker {os.getpid()}] {message}", flush=True)


# --- the tasks ------------------------------------------------------------------------------


def send_confirmation_email(job: dict) -> str:
    args = job["args"]
    order = {"id": args["order_id"], "total": args.get("order_total")}
    # TODO task 5: a job that runs twice (its worker died after sending) must still send one email
    # in effect: give the email service the job's id as idempotency_key.
    return shop.send_confirmation_email(args["email"], order)


TASKS: dict[str, Callable[[dict], object]] = {"send_confirmation_email": send_confirmation_email}


# --- one job --------------------------------------------------------------------------------


def handle(r: redis.Redis, raw: str) -> None:
    try:
        job = json.loads(raw)
        if job["task"] not in TASKS:
            raise ValueError(f"unknown task {job['task']!r}")
    except (ValueError, KeyError, TypeError) as error:
        # TODO task 3: a poison message is set aside on jobs:email:dead, not forgotten.
        log(f"skipped a bad job ({error}): {raw[:80]}")
        return

    key = f"job:{job['id']}"
    r.hset(key, mapping={"status": "RECEIVED", "received_at": utc_now()})
    with r.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"status": "STARTED", "started_at": utc_now()})
        pipe.hincrby(key, "attempts", 1)
        attempts = pipe.execute()[1]
    log(f"picked up job {job['id']}: {job['task']}, attempt {attempts}")

    try:
        result = TASKS[job["task"]](job)
    except Exception as error:
        # TODO task 2: a failed job gets another try later: put it in jobs:email:delayed, scored by
        # next_due(attempts), with status RETRY; the loop moves it back to the rail when due.
        # TODO task 3: after MAX_ATTEMPTS attempts, status DEAD and the job on jobs:email:dead.
        r.hset(key, mapping={"status": "FAILURE", "error": str(error), "finished_at": utc_now()})
        log(f"job {job['id']} failed: {error}")
        return
    r.hset(key, mapping={"status": "SUCCESS", "result": str(result), "error": "", "finished_at": utc_now()})
    log(f"job {job['id']} completed")


# --- the loop -------------------------------------------------------------------------------


def work(r: redis.Redis, stopping: threading.Event) -> None:
    while not stopping.is_set():
        # TODO task 2: move the retries that are due from jobs:email:delayed back onto the rail.
        # TODO task 6: BRPOP keeps the job only in this process's memory: a worker killed now loses it.
        # Take it with BRPOPLPUSH into this worker's processing list, keep a heartbeat, reap the
        # jobs of workers whose heartbeat stopped, and take the job off the list when it is settled.
        popped = r.brpop([QUEUE], timeout=POLL_SECONDS)
        if popped is not None:
            handle(r, popped[1])


def main() -> None:
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())  # finish the current job, then leave
    log(f"started; waiting for jobs on {QUEUE}")
    work(r, stopping)
    log("stopped")


if __name__ == "__main__":
    main()
