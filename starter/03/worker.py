"""The cook of exercise 02, who now reports each stage of a job in its hash, job:{id} (lecture §3.4).

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
    if job.get("task") not in TASKS:
        raise BadJob(f"no such task: {job.get('task')!r}")
    return job


def process(r: redis.Redis, raw: str) -> None:
    try:
        job = parse(raw)
    except BadJob as error:
        print(f"Skipped a bad job ({error}): {raw[:200]!r}")
        return
    # TODO (task 3): the job is off the rail: record status RECEIVED and received_at in job:{id}.
    print(f"Picked up job {job.get('id')}: {job['task']}")
    # TODO (task 3): the work begins: record STARTED and started_at.
    try:
        result = TASKS[job["task"]](job["args"])
    except Exception as error:
        # TODO (task 4): record FAILURE, the error (str(error)) and finished_at.
        print(f"Job {job.get('id')} failed: {error!r}")
        return
    # TODO (task 3): record SUCCESS, the result (what the email service returned) and finished_at.
    print(f"Job {job.get('id')} completed: {result}")


class StopFlag:
    """SIGTERM asks the worker to stop once the job in hand is done."""

    def __init__(self) -> None:
        self.raised = False
        signal.signal(signal.SIGTERM, self.raise_flag)
        signal.signal(signal.SIGINT, self.raise_flag)

    def raise_flag(self, signum: int, frame) -> None:
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
