# Known wrong: the idle worker asks for a job again and again with non-blocking RPOP instead of waiting in BRPOP.
"""Lecture §3.3 and §3.5: the cook. A separate program that takes tickets off the rail, one at a time.

    python worker.py
"""

import json
import os
import signal

import redis

from ticketrail.shop import sync as shop

EMAIL_QUEUE = "jobs:email"
# How long one BRPOP waits before the loop looks at the stop flag again.
WAIT_SECONDS = 1


class BadJob(ValueError):
    """A ticket the kitchen cannot read."""


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


def process(raw: str) -> None:
    try:
        job = parse(raw)
    except BadJob as error:
        # One unreadable ticket must not close the kitchen: set it aside and go on.
        print(f"Skipped a bad job ({error}): {raw[:200]!r}")
        return
    print(f"Picked up job {job.get('id')}: {job['task']}")
    try:
        TASKS[job["task"]](job["args"])
    except Exception as error:
        print(f"Job {job.get('id')} failed: {error!r}")
        return
    print(f"Job {job.get('id')} completed")


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
        raw = r.rpop(EMAIL_QUEUE)
        if raw is not None:
            process(raw)
    print("Asked to stop: the job in hand is done, the rest stay on the rail. Bye.")


if __name__ == "__main__":
    main()
