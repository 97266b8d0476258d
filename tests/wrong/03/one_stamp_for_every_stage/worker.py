# Known wrong: the worker reads the clock once, when it takes the job, and stamps every stage with that time.
"""Lecture §3.4 and §3.5: the cook reports each stage of a job in its hash, job:{id}.

    python worker.py
"""

import json
import os
import signal
from datetime import datetime, timezone

import redis

from ticketrail.shop import sync as shop

EMAIL_QUEUE = "jobs:email"
# How long one BRPOP waits before the loop looks at the stop flag again.
WAIT_SECONDS = 1


class BadJob(ValueError):
    """A ticket the kitchen cannot read."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()


def send_confirmation_email(args: dict) -> str:
    order = {"id": args["order_id"], "total": args["order_total"]}
    return shop.send_confirmation_email(args["email"], order)


TASKS = {"send_confirmation_email": send_confirmation_email}


def parse(raw: str) -> dict:
    try:
        job = json.loads(raw)
    except ValueError as error:
        raise BadJob(f"not JSON: {error}") from None
    if not isinstance(job, dict) or not isinstance(job.get("args"), dict):
        raise BadJob("a job is a JSON object with an `args` object")
    if not isinstance(job.get("id"), str):
        raise BadJob("a job has a string `id`")
    return job


def record(r: redis.Redis, job_id: str, status: str, stamp: str, at: str, **fields: str) -> None:
    r.hset(f"job:{job_id}", mapping={"status": status, stamp: at, **fields})


def process(r: redis.Redis, raw: str) -> None:
    try:
        job = parse(raw)
    except BadJob as error:
        print(f"Skipped a bad job ({error}): {raw[:200]!r}")
        return
    job_id = job["id"]
    now = utc_now()  # the job's time
    record(r, job_id, "RECEIVED", "received_at", now)
    print(f"Picked up job {job_id}: {job.get('task')}")
    try:
        work = TASKS[job.get("task")]
    except KeyError:
        record(r, job_id, "FAILURE", "finished_at", now, error=f"no such task: {job.get('task')!r}")
        return
    record(r, job_id, "STARTED", "started_at", now)
    try:
        result = work(job["args"])
    except Exception as error:
        record(r, job_id, "FAILURE", "finished_at", now, error=f"{type(error).__name__}: {error}")
        print(f"Job {job_id} failed: {error!r}")
        return
    record(r, job_id, "SUCCESS", "finished_at", now, result=str(result))
    print(f"Job {job_id} completed: {result}")


class StopFlag:
    """SIGTERM asks the worker to stop once the job in hand is done."""

    def __init__(self) -> None:
        self.raised = False
        signal.signal(signal.SIGTERM, self.raise_flag)
        signal.signal(signal.SIGINT, self.raise_flag)

    def raise_flag(self, signum: int, frame) -> None:
        # Only set the flag: printing here could interrupt a print in progress.
        self.raised = True


def main() -> None:
    stop = StopFlag()
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)
    print("Worker started. Waiting for jobs...")
    while not stop.raised:
        popped = r.brpop([EMAIL_QUEUE], timeout=WAIT_SECONDS)
        if popped is not None:
            process(r, popped[1])
    print("Asked to stop: the job in hand is done, the rest stay on the rail. Bye.")


if __name__ == "__main__":
    main()
