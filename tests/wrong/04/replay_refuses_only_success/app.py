# Known wrong: the replay refuses only a job that already succeeded; any other job is looked up on the
# dead letters, and one that is not there (a job waiting in RETRY) is answered 404 instead of 409.
"""The cashier of lecture §3.3–3.4: confirm, clip an email ticket to the rail, answer; report and replay jobs."""

import json
import os
import uuid
from datetime import datetime, timezone

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException
from redis.exceptions import WatchError

from ticketrail import shop

QUEUE = "jobs:email"
DEAD = "jobs:email:dead"
JOB_FIELDS = ("id", "task", "args", "created_at")

app = FastAPI()
redis = aioredis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    await shop.update_order_status(order_id, "confirmed")

    job = {
        "id": str(uuid.uuid4()),
        "task": "send_confirmation_email",
        "args": {"email": order["user_email"], "order_id": order_id, "order_total": order["total"]},
        "created_at": utc_now(),
    }
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(f"job:{job['id']}", mapping={
            "status": "PENDING", "task": job["task"], "created_at": job["created_at"],
            "attempts": 0, "result": "", "error": "", "pending_at": job["created_at"],
        })
        pipe.lpush(QUEUE, json.dumps(job))
        await pipe.execute()
    return {"status": "confirmed", "order_id": order_id, "email_job_id": job["id"]}


@app.get("/jobs/{job_id}/status")
async def job_status(job_id: str):
    job = await redis.hgetall(f"job:{job_id}")
    if not job:
        raise HTTPException(status_code=404, detail=f"Job {job_id} not found")
    return {
        "job_id": job_id,
        "status": job.get("status"),
        "result": job.get("result") or None,
        "error": job.get("error") or None,
        "attempts": int(job.get("attempts") or 0),
    }


def _dead_entry_of(entries: list[str], job_id: str) -> str | None:
    for entry in entries:
        try:
            if json.loads(entry).get("id") == job_id:
                return entry
        except (ValueError, AttributeError):
            continue
    return None


@app.post("/jobs/{job_id}/replay")
async def replay_job(job_id: str):
    """The manager takes a ticket off the dead-letter spike and clips it back on the rail (§3.4)."""
    key = f"job:{job_id}"
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                # Two operators replaying at once must not put the job on the rail twice.
                await pipe.watch(key, DEAD)
                status = await pipe.hget(key, "status")
                if status is None:
                    raise HTTPException(status_code=404, detail=f"Job {job_id} not found")
                if status == "SUCCESS":  # the bug: only a finished job is refused
                    raise HTTPException(status_code=409, detail=f"Job {job_id} already succeeded")
                entry = _dead_entry_of(await pipe.lrange(DEAD, 0, -1), job_id)
                if entry is None:
                    raise HTTPException(status_code=404, detail=f"Job {job_id} is not on {DEAD}")
                job = {name: value for name, value in json.loads(entry).items() if name in JOB_FIELDS}
                pipe.multi()
                pipe.lrem(DEAD, 1, entry)
                pipe.hset(key, mapping={"status": "PENDING", "attempts": 0, "error": "", "pending_at": utc_now()})
                pipe.lpush(QUEUE, json.dumps(job))
                await pipe.execute()
                return {"job_id": job_id, "status": "PENDING"}
            except WatchError:
                continue
