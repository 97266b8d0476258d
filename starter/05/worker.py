"""The email worker of exercise 02, given: it takes jobs from jobs:email and sends each email.

    python worker.py

A job is {"id", "task", "args": {"email", "order_id", "order_total"}, "created_at"}. The job's
id goes to the email service as the idempotency key, so a job that arrives twice sends one email.
"""

import json
import os
import signal

import redis

from ticketrail.shop import sync as shop

QUEUE = "jobs:email"


def send(job: dict) -> None:
    args = job["args"]
    order = {"id": args["order_id"], "total": args["order_total"]}
    shop.send_confirmation_email(args["email"], order, idempotency_key=job["id"])


def main() -> None:
    broker = redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    print("Worker started. Waiting for jobs...")
    while not stopping:
        popped = broker.brpop([QUEUE], timeout=1)
        if popped is None:
            continue
        try:
            job = json.loads(popped[1])
            send(job)
            print(f"Job {job['id']} done: email to {job['args']['email']}")
        except (ValueError, KeyError, TypeError) as error:
            print(f"Dropped a malformed job ({error!r}): {popped[1]!r:.200}")
        except shop.ShopError as error:
            # Exercise 04 retries this with backoff; here it is only reported.
            print(f"Job failed: {error}")


if __name__ == "__main__":
    main()
