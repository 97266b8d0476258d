# Known wrong: no SIGTERM handler (the lecture's §3.3 loop), so a stop kills the worker mid-job.
import json
import os

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


def main() -> None:
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)
    print("Worker started. Waiting for jobs...")
    while True:
        popped = r.brpop([EMAIL_QUEUE], timeout=WAIT_SECONDS)
        if popped is not None:
            process(popped[1])


if __name__ == "__main__":
    main()
