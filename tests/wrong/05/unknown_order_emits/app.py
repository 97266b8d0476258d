# Known wrong: the event is emitted before the endpoint knows the order exists; an unknown order still
# gets its 404, but every subscriber has heard of an order that is not there.
"""Lecture §5.1: confirming an order emits OrderConfirmed. Who reacts is none of the cashier's business.

    EVENT_BUS=pubsub   step one: PUBLISH the event on the channel `orders`
    EVENT_BUS=streams  step two: XADD it to the stream `events:orders`
"""

import json
import os
import uuid
from datetime import datetime, timezone

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException

from ticketrail import shop

CHANNEL = "orders"
STREAM = "events:orders"
EVENT_BUS = os.environ.get("EVENT_BUS", "streams")
if EVENT_BUS not in ("pubsub", "streams"):
    raise SystemExit(f"EVENT_BUS must be pubsub or streams, not {EVENT_BUS!r}")

app = FastAPI()
broker = aioredis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def order_confirmed(order: dict) -> dict:
    return {
        "type": "OrderConfirmed",
        "event_id": uuid.uuid4().hex,
        "order_id": order["id"],
        "user_email": order["user_email"],
        "total": order["total"],
        "occurred_at": datetime.now(timezone.utc).isoformat(),
    }


async def emit(event: dict) -> None:
    payload = json.dumps(event)
    if EVENT_BUS == "pubsub":
        await broker.publish(CHANNEL, payload)
    else:
        await broker.xadd(STREAM, {"event": payload})


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        order = None
    event = order_confirmed(order or {"id": order_id, "user_email": None, "total": None})
    await emit(event)  # the bug: emitted before the 404
    if order is None:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    await shop.update_order_status(order_id, "confirmed")
    return {"status": "confirmed", "order_id": order_id, "event_id": event["event_id"]}
