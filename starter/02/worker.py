"""The cook (lecture §3.3, §3.5): a separate program that takes tickets off the rail.

    python worker.py

It does not import app.py and knows nothing about HTTP: it knows Redis and the shop's
services, nothing else.
"""

import json
import os

import redis

from ticketrail.shop import sync as shop

EMAIL_QUEUE = "jobs:email"


def send_confirmation_email(args: dict) -> str:
    """The work one job asks for. The world needs the order id inside the order it is given."""
    order = {"id": args["order_id"], "total": args["order_total"]}
    return shop.send_confirmation_email(args["email"], order)


def process(raw: str) -> None:
    """Handle one job exactly as it came off the rail (a JSON string).

    TODO (task 2): parse the job and send the email with its args.
    TODO (task 3): a ticket the kitchen cannot read (not JSON, no args, an unknown task,
    args that make the email fail) must not stop the worker: print what was wrong and return.
    """
    job = json.loads(raw)
    raise NotImplementedError(f"process: task 2 of exercise 02 (got job {job.get('id')})")


def main() -> None:
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)
    print("Worker started. Waiting for jobs...")
    # TODO (task 2): loop: wait for the next job on EMAIL_QUEUE with BRPOP, and process it.
    # TODO (task 4): on SIGTERM, finish the job in hand, then leave the loop.
    raise NotImplementedError("main: task 2 of exercise 02")


if __name__ == "__main__":
    main()
