# Known wrong: times are the local clock's reading labelled UTC: .replace(tzinfo=timezone.utc) attaches
# +00:00 to datetime.now(), which is hours off UTC in a zone such as St John's.
"""Lecture §3.4: every ticket is also written in the order book, so the customer can ask
"is my pizza ready?" with the job id."""

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


def utc_now() -> str:
    return datetime.now().replace(tzinfo=timezone.utc).isoformat()


def make_job(task: str, args: dict) -> dict:
    return {"id": str(uuid.uuid4()), "task": task, "args": args, "created_at": utc_now()}


async def enqueue(queue: str, job: dict) -> None:
    # The hash first, in the same transaction as the push: a worker can never take a job
    # whose record does not exist yet, and its RECEIVED is never overwritten by PENDING.
    async with rail.pipeline(transaction=True) as pipe:
        pipe.hset(f"job:{job['id']}", mapping={
            "status": "PENDING",
            "task": job["task"],
            "created_at": job["created_at"],
            "result": "",
            "error": "",
            "pending_at": utc_now(),
        })
        pipe.lpush(queue, json.dumps(job))
        await pipe.execute()


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    await shop.update_order_status(order_id, "confirmed")

    job = make_job("send_confirmation_email", {
        "email": order["user_email"],
        "order_id": order_id,
        "order_total": order["total"],
    })
    await enqueue(EMAIL_QUEUE, job)

    return {"status": "confirmed", "order_id": order_id, "email_job_id": job["id"]}


@app.get("/jobs/{job_id}/status")
async def get_job_status(job_id: str):
    record = await rail.hgetall(f"job:{job_id}")
    if not record:
        raise HTTPException(status_code=404, detail=f"Job {job_id} not found")
    return {
        "job_id": job_id,
        "status": record["status"],
        "result": record.get("result") or None,
        "error": record.get("error") or None,
    }
