# Known wrong: the warehouse subscriber calls the warehouse without the event's id as idempotency key:
# an event handled twice (after a crash before XACK) notifies the warehouse twice.
"""The listeners of lecture §4.3 and §5.1: each hears OrderConfirmed and reacts on its own.

    python subscribers.py --name analytics      # email, warehouse, analytics or audit

EVENT_BUS in the environment picks the step: `pubsub` listens on the channel `orders`,
`streams` reads the stream `events:orders` through a consumer group named after the subscriber.
"""

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from typing import Callable

import redis

from ticketrail.shop import sync as shop

CHANNEL = "orders"
STREAM = "events:orders"
EMAIL_QUEUE = "jobs:email"
EVENT_BUS = os.environ.get("EVENT_BUS", "streams")
# An entry read but not acknowledged for this long belongs to a consumer that died: claim it.
CLAIM_IDLE_MS = int(os.environ.get("EVENT_CLAIM_IDLE_MS", "10000"))
BLOCK_MS = min(1000, CLAIM_IDLE_MS)

broker = redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


# --- the reactions: one per subscriber --------------------------------------------------


def enqueue_email(event: dict) -> None:
    """Pub/sub for fan-out, the job queue for reliable work (§4.4): the email worker sends it."""
    job = {
        # The event's id as the job's id: an event handled twice makes the same job, and the
        # worker's idempotency key (the job id) turns that into one email.
        "id": event["event_id"],
        "task": "send_confirmation_email",
        "args": {"email": event["user_email"], "order_id": event["order_id"], "order_total": event["total"]},
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
    broker.lpush(EMAIL_QUEUE, json.dumps(job))


def notify_warehouse(event: dict) -> None:
    shop.notify_warehouse_api(event)  # the bug: no idempotency key


def track_analytics(event: dict) -> None:
    shop.update_analytics(event, idempotency_key=event["event_id"])


def write_audit(event: dict) -> None:
    shop.write_audit_log(event, idempotency_key=event["event_id"])


SUBSCRIBERS: dict[str, Callable[[dict], None]] = {
    "email": enqueue_email,
    "warehouse": notify_warehouse,
    "analytics": track_analytics,
    "audit": write_audit,
}


def parse(raw: str | None) -> dict | None:
    try:
        event = json.loads(raw or "")
    except ValueError:
        return None
    return event if isinstance(event, dict) and event.get("type") == "OrderConfirmed" else None


# --- step one: pub/sub ----------------------------------------------------------------------


def listen_pubsub(name: str, react: Callable[[dict], None]) -> None:
    pubsub = broker.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(CHANNEL)
    print(f"[{name}] listening on channel {CHANNEL!r}")
    for message in pubsub.listen():
        event = parse(message["data"])
        if event is None:
            print(f"[{name}] ignored a message that is not an OrderConfirmed event: {message['data']!r:.100}")
            continue
        try:
            react(event)
            print(f"[{name}] reacted to order {event['order_id']}")
        except shop.ShopError as error:
            # Best effort: pub/sub has nowhere to keep the event for a second try.
            print(f"[{name}] failed on order {event['order_id']}: {error}")


# --- step two: a stream with one consumer group per subscriber -------------------------------


def consume_stream(name: str, react: Callable[[dict], None]) -> None:
    group, consumer = name, f"{name}-{os.getpid()}"
    try:
        # Id 0: a group made now still gets every event already in the stream.
        broker.xgroup_create(STREAM, group, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
    print(f"[{name}] reading stream {STREAM!r} as {consumer} in group {group!r}")
    while True:
        # First what a crashed consumer of this group read and never acknowledged (XPENDING shows them).
        claimed = broker.xautoclaim(STREAM, group, consumer, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=10)
        for entry_id, fields in claimed[1]:
            if fields is not None:
                handle(name, react, entry_id, fields)
        for _, entries in broker.xreadgroup(group, consumer, {STREAM: ">"}, count=10, block=BLOCK_MS) or []:
            for entry_id, fields in entries:
                handle(name, react, entry_id, fields)


def handle(name: str, react: Callable[[dict], None], entry_id: str, fields: dict) -> None:
    event = parse(fields.get("event"))
    if event is None:
        print(f"[{name}] skipped entry {entry_id}: not an OrderConfirmed event: {fields!r:.100}")
    else:
        try:
            react(event)
        except shop.ShopError as error:
            # Not acknowledged, so it stays pending and is claimed again after CLAIM_IDLE_MS.
            print(f"[{name}] failed on order {event['order_id']} (entry {entry_id}), will retry: {error}")
            return
        print(f"[{name}] reacted to order {event['order_id']} (entry {entry_id})")
    broker.xack(STREAM, name, entry_id)


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
