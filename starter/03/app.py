"""The cashier of exercise 02, who now also keeps an order book (lecture §3.4).

Every job gets a record, the Redis hash job:{id}, so that a customer can ask "is my pizza
ready?" with the id they were given. Run it with `ticketrail run 03`, then:

    curl -X POST http://127.0.0.1:8000/orders/42/confirm
    curl http://127.0.0.1:8000/jobs/<email_job_id>/status
"""

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


async def enqueue(queue: str, job: dict) -> None:
    # TODO (task 1): before the job goes on the rail, write its record, the hash job:{id}:
    # status "PENDING", task, created_at (the job's own), result "", error "", and
    # pending_at (utc_now()). Why before, and not after? Think of an idle worker (§3.4).
    await rail.lpush(queue, json.dumps(job))


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
    """TODO (task 2): answer {"job_id", "status", "result", "error"} from the hash job:{job_id},
    with null for an empty result or error, and 404 when there is no such job."""
    raise NotImplementedError("get_job_status: task 2 of exercise 03")
