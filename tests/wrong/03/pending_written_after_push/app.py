# Known wrong: pushes the job, confirms the order, and only then writes PENDING, over the worker's RECEIVED/STARTED.
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
    return datetime.now(timezone.utc).isoformat()


def make_job(task: str, args: dict) -> dict:
    return {"id": str(uuid.uuid4()), "task": task, "args": args, "created_at": utc_now()}


async def record_pending(job: dict) -> None:
    await rail.hset(f"job:{job['id']}", mapping={
        "status": "PENDING",
        "task": job["task"],
        "created_at": job["created_at"],
        "result": "",
        "error": "",
        "pending_at": utc_now(),
    })


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    job = make_job("send_confirmation_email", {
        "email": order["user_email"],
        "order_id": order_id,
        "order_total": order["total"],
    })
    await rail.lpush(EMAIL_QUEUE, json.dumps(job))
    await shop.update_order_status(order_id, "confirmed")
    await record_pending(job)

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
