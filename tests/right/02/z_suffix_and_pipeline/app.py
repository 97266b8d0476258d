"""The cashier: confirm, clip a ticket to the rail in one MULTI, answer with its id."""

import json
import os
import time
import uuid
from datetime import datetime, timezone

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ticketrail import shop

EMAIL_QUEUE = "jobs:email"

app = FastAPI()
rail = aioredis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)


def make_job(task: str, args: dict) -> dict:
    made = datetime.fromtimestamp(time.time(), timezone.utc)
    return {"id": str(uuid.uuid4()), "task": task, "args": args,
            "created_at": made.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


@app.exception_handler(shop.OrderNotFound)
async def order_not_found(request: Request, error: shop.OrderNotFound) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=404)


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    order = await shop.get_order_from_db(order_id)
    await shop.update_order_status(order_id, "confirmed")
    job = make_job("send_confirmation_email",
                   {"email": order["user_email"], "order_id": order_id, "order_total": order["total"]})
    async with rail.pipeline(transaction=True) as pipe:
        pipe.lpush(EMAIL_QUEUE, json.dumps(job))
        await pipe.execute()
    return {"status": "confirmed", "order_id": order_id, "email_job_id": job["id"]}
