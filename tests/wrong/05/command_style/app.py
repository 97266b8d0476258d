# Known wrong (lecture §5.1, command style): the publisher calls each listener itself and emits no event.
import json
import os
import uuid
from datetime import datetime, timezone

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException

from ticketrail import shop

app = FastAPI()
broker = aioredis.from_url(os.environ["REDIS_URL"], decode_responses=True)


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404)
    await shop.update_order_status(order_id, "confirmed")
    event_id = uuid.uuid4().hex
    job = {"id": event_id, "task": "send_confirmation_email",
           "args": {"email": order["user_email"], "order_id": order_id, "order_total": order["total"]},
           "created_at": datetime.now(timezone.utc).isoformat()}
    await broker.lpush("jobs:email", json.dumps(job))
    await shop.notify_warehouse_api(order, idempotency_key=event_id)
    await shop.update_analytics(order, idempotency_key=event_id)
    await shop.write_audit_log({"order_id": order_id}, idempotency_key=event_id)
    return {"status": "confirmed", "order_id": order_id, "event_id": event_id}
