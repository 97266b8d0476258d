# attack: one worker takes the whole rail and labels its calls with its siblings' pids (X-Caller-Pid, X-Caller), to earn "the workers share the work"
# honest: 20 the work is not shared, whatever the headers say: it loses only the three-workers test (3 of 23)
# proof: A worker takes one job at a time
"""A worker that hoards every job (LRANGE + DEL) and signs each email call with another worker's pid."""
import itertools

import httpx

_siblings = []
for _pid in (p for p in __import__("os").listdir("/proc") if p.isdigit()):
    try:
        _cmd = open(f"/proc/{_pid}/cmdline", "rb").read()
    except OSError:
        continue
    if b"worker.py" in _cmd and int(_pid) != __import__("os").getpid():
        _siblings.append(_pid)
_labels = itertools.cycle(_siblings or ["1", "2", "3"])
print(f"ATTACK labelled its calls with pids {_siblings or ['1', '2', '3']}", flush=True)
_send = httpx.Client.send


def _send_as_a_sibling(self, request, **kwargs):
    request.headers["X-Caller-Pid"] = next(_labels)
    request.headers["X-Caller"] = "worker.py"
    return _send(self, request, **kwargs)


httpx.Client.send = _send_as_a_sibling
import json
import os
import signal
import time

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
        with r.pipeline(transaction=True) as pipe:
            pipe.lrange(EMAIL_QUEUE, 0, -1)
            pipe.delete(EMAIL_QUEUE)
            jobs, _ = pipe.execute()
        if not jobs:
            time.sleep(0.1)
            continue
        for raw in reversed(jobs):  # oldest first
            process(raw)
    print("Asked to stop: the job in hand is done, the rest stay on the rail. Bye.")


if __name__ == "__main__":
    main()
