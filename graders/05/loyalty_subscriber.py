"""The loyalty-points subscriber of lecture §5.1, "added in April": the kit's, not the student's.

The graders start it to show that the student's publisher is closed for modification:
it has never heard of this subscriber, yet every OrderConfirmed event reaches it. It
knows the exercise's contract only: the channel `orders` (pub/sub) or the stream
`events:orders` read through a consumer group of its own, `loyalty`.

    python loyalty_subscriber.py --bus pubsub|streams      (REDIS_URL, TICKETRAIL_WORLD_URL set)
"""

from __future__ import annotations

import argparse
import json
import os

import redis

from ticketrail.shop import sync as shop

CHANNEL = "orders"
STREAM = "events:orders"
GROUP = "loyalty"


def react(raw: object, where: str) -> None:
    try:
        event = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        event = None
    if not isinstance(event, dict):
        print(f"[loyalty] {where}: not a JSON event: {raw!r:.200}")
        return
    key = event.get("event_id")
    shop.add_loyalty_points(event, idempotency_key=key if isinstance(key, str) else None)
    print(f"[loyalty] {where}: points added for order {event.get('order_id')}")


def listen(client: redis.Redis) -> None:
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(CHANNEL)
    print(f"[loyalty] listening on channel {CHANNEL!r}")
    for message in pubsub.listen():
        react(message["data"], "message")


def consume(client: redis.Redis) -> None:
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
    print(f"[loyalty] reading stream {STREAM!r} in group {GROUP!r}")
    while True:
        for _, entries in client.xreadgroup(GROUP, "loyalty-1", {STREAM: ">"}, count=10, block=1000) or []:
            for entry_id, fields in entries:
                react(fields.get("event"), f"entry {entry_id}")
                client.xack(STREAM, GROUP, entry_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bus", choices=("pubsub", "streams"), required=True)
    options = parser.parse_args()
    client = redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    if options.bus == "pubsub":
        listen(client)
    else:
        consume(client)


if __name__ == "__main__":
    main()
