"""The listeners of lecture §4.3 and §5.1: each hears OrderConfirmed and reacts on its own.

    python subscribers.py --name analytics      # email, warehouse, analytics or audit

EVENT_BUS in the environment picks the step: `pubsub` listens on the channel `orders`,
`streams` reads the stream `events:orders` through a consumer group named after the subscriber.
"""

import argparse
import os
import sys
from typing import Callable

import redis

from ticketrail.shop import sync as shop

CHANNEL = "orders"
STREAM = "events:orders"
EMAIL_QUEUE = "jobs:email"
EVENT_BUS = os.environ.get("EVENT_BUS", "streams")
# An entry read but not acknowledged for this long belongs to a consumer that died (task 6).
CLAIM_IDLE_MS = int(os.environ.get("EVENT_CLAIM_IDLE_MS", "10000"))

broker = redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


# --- the reactions: one per subscriber --------------------------------------------------
# TODO task 6: an event can arrive twice after a crash. Pass idempotency_key=event["event_id"]
# to each shop call, so the second time has no second effect.


def enqueue_email(event: dict) -> None:
    """Pub/sub for fan-out, the job queue for reliable work (§4.4): the email worker sends it."""
    raise NotImplementedError("task 3: push a send_confirmation_email job onto jobs:email")


def notify_warehouse(event: dict) -> None:
    shop.notify_warehouse_api(event)


def track_analytics(event: dict) -> None:
    shop.update_analytics(event)


def write_audit(event: dict) -> None:
    shop.write_audit_log(event)


SUBSCRIBERS: dict[str, Callable[[dict], None]] = {
    "email": enqueue_email,
    "warehouse": notify_warehouse,
    "analytics": track_analytics,
    "audit": write_audit,
}


# --- step one: pub/sub ----------------------------------------------------------------------


def listen_pubsub(name: str, react: Callable[[dict], None]) -> None:
    """Subscribe to CHANNEL and call react(event) for every event heard, forever."""
    raise NotImplementedError("task 2: subscribe to the channel and react to each event")


# --- step two: a stream with one consumer group per subscriber -------------------------------


def consume_stream(name: str, react: Callable[[dict], None]) -> None:
    """Read STREAM through the consumer group `name`, react, acknowledge; recover what a crash left."""
    raise NotImplementedError("task 5: read the stream through a consumer group named after the subscriber")


def main() -> None:
    parser = argparse.ArgumentParser(description="Start one subscriber of OrderConfirmed.")
    parser.add_argument("--name", required=True, choices=sorted(SUBSCRIBERS))
    options = parser.parse_args()
    react = SUBSCRIBERS[options.name]
    if EVENT_BUS == "pubsub":
        listen_pubsub(options.name, react)
    elif EVENT_BUS == "streams":
        consume_stream(options.name, react)
    else:
        sys.exit(f"EVENT_BUS must be pubsub or streams, not {EVENT_BUS!r}")


if __name__ == "__main__":
    main()
