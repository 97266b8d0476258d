"""The cashier writes the order book and the rail in one Lua step, and answers the status from the book."""

import json
import os
import time
import uuid
from datetime import datetime, timezone

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException

from ticketrail import shop

EMAIL_QUEUE = "jobs:email"
# KEYS: the hash, the rail. ARGV: the job's JSON, its task, created_at, pending_at.
ENQUEUE = """
redis.call('HSET', KEYS[1], 'status', 'PENDING', 'task', ARGV[2], 'created_at', ARGV[3],
           'result', '', 'error', '', 'pending_at', ARGV[4])
return redis.call('LPUSH', KEYS[2], ARGV[1])
"""

app = FastAPI()
rail = aioredis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)


def utc_now() -> str:
    return datetime.fromtimestamp(time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_job(task: str, args: dict) -> dict:
    return {"id": str(uuid.uuid4()), "task": task, "args": args, "created_at": utc_now()}


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    await shop.update_order_status(order_id, "confirmed")
    job = make_job("send_confirmation_email",
                   {"email": order["user_email"], "order_id": order_id, "order_total": order["total"]})
    await rail.eval(ENQUEUE, 2, f"job:{job['id']}", EMAIL_QUEUE,
                    json.dumps(job), job["task"], job["created_at"], utc_now())
    return {"status": "confirmed", "order_id": order_id, "email_job_id": job["id"]}


@app.get("/jobs/{job_id}/status")
async def get_job_status(job_id: str):
    status, result, error = await rail.hmget(f"job:{job_id}", "status", "result", "error")
    if status is None:
        raise HTTPException(status_code=404, detail=f"Job {job_id} not found")
    return {"job_id": job_id, "status": status, "result": result or None, "error": error or None}
