"""The cashier of lecture §5.1, still command style: confirm_order() knows every listener.

Run the whole shop with `ticketrail run 05` (`--env EVENT_BUS=pubsub` for step one), then:

    curl -X POST http://127.0.0.1:8000/orders/42/confirm

EVENT_BUS in the environment picks the step: `pubsub` (step one) or `streams` (step two).
"""

import os

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException

from ticketrail import shop

CHANNEL = "orders"  # step one: PUBLISH the event here
STREAM = "events:orders"  # step two: XADD it here, in the field `event`
EVENT_BUS = os.environ.get("EVENT_BUS", "streams")
if EVENT_BUS not in ("pubsub", "streams"):
    raise SystemExit(f"EVENT_BUS must be pubsub or streams, not {EVENT_BUS!r}")

app = FastAPI()
broker = aioredis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def order_confirmed(order: dict) -> dict:
    """The OrderConfirmed event for this order: type, event_id, order_id, user_email, total, occurred_at."""
    raise NotImplementedError("task 1: build the OrderConfirmed event (README, the contract)")


async def emit(event: dict) -> None:
    """Tell whoever listens that this happened; the cashier does not know who that is."""
    if EVENT_BUS == "pubsub":
        raise NotImplementedError("task 1: publish the event, as JSON, on CHANNEL")
    raise NotImplementedError("task 5: append the event to STREAM, as JSON in the field `event`")


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    await shop.update_order_status(order_id, "confirmed")

    # TODO task 1: this is command style (§5.1). Every new listener means editing this function,
    # and the customer waits for all of them. Emit one OrderConfirmed event instead, answer with
    # its event_id, and let the subscribers in subscribers.py react.
    await shop.send_confirmation_email(order["user_email"], order)
    await shop.notify_warehouse_api(order)
    await shop.update_analytics(order)
    await shop.write_audit_log({"type": "OrderConfirmed", "order_id": order_id})
    return {"status": "confirmed", "order_id": order_id}
