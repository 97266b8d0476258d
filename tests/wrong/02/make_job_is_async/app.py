# Known wrong: make_job is an async def (like everything else in the app), awaited by the endpoint.
"""Lecture §3.3: the cashier confirms the order, clips a ticket to the rail, and answers."""

import json
import os
import uuid
from datetime import datetime, timezone

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException

from ticketrail import shop

EMAIL_QUEUE = "jobs:email"

app = FastAPI()
rail = aioredis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)


async def make_job(task: str, args: dict) -> dict:
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
    await shop.update_order_status(order_id, "confirmed")

    job = await make_job("send_confirmation_email", {
        "email": order["user_email"],
        "order_id": order_id,
        "order_total": order["total"],
    })
    await rail.lpush(EMAIL_QUEUE, json.dumps(job))

    return {"status": "confirmed", "order_id": order_id, "email_job_id": job["id"]}
