# Known wrong: the status update runs in a task of its own, and the endpoint pauses 50 ms before it pushes the
# job and answers. The write usually lands first, but nothing makes the answer wait for it.
"""Lecture §3.3: the cashier confirms the order, clips a ticket to the rail, and answers."""

import asyncio
import json
import os
import uuid
from datetime import datetime, timezone

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException

from ticketrail import shop

EMAIL_QUEUE = "jobs:email"

app = FastAPI()
running: set[asyncio.Task] = set()
rail = aioredis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)


def make_job(task: str, args: dict) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "task": task,
        "args": args,
        "created_at": datetime.now(timezone.utc).isoformat(),
    }


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    # the bug: the status update runs in a task of its own; the push below usually takes longer, but nothing makes
    # the answer wait for the write
    write = asyncio.create_task(shop.update_order_status(order_id, "confirmed"))
    running.add(write)
    write.add_done_callback(running.discard)
    await asyncio.sleep(0.05)

    job = make_job("send_confirmation_email", {
        "email": order["user_email"],
        "order_id": order_id,
        "order_total": order["total"],
    })
    await rail.lpush(EMAIL_QUEUE, json.dumps(job))

    return {"status": "confirmed", "order_id": order_id, "email_job_id": job["id"]}
