"""The cook: takes a ticket into a processing list, and moves its status on with a compare-and-set."""

import json
import os
import signal
import time
from datetime import datetime, timezone

import redis

from ticketrail.shop import sync as shop

EMAIL_QUEUE = "jobs:email"
PROCESSING = "jobs:email:processing"
# KEYS: the hash. ARGV: the new status, its stamp's field, the stamp, then field/value pairs.
# A final status is never overwritten; any other moves on.
STAGE = """
local now = redis.call('HGET', KEYS[1], 'status')
if now == 'SUCCESS' or now == 'FAILURE' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], ARGV[2], ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""
stopping = False


def utc_now() -> str:
    return datetime.fromtimestamp(time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stage(r: redis.Redis, job_id: str, status: str, stamp: str, **fields: str) -> None:
    pairs = [item for pair in fields.items() for item in pair]
    r.eval(STAGE, 1, f"job:{job_id}", status, stamp, utc_now(), *pairs)


def process(r: redis.Redis, raw: str) -> None:
    try:
        job = json.loads(raw)
        job_id, args = job["id"], job["args"]
        if job.get("task") != "send_confirmation_email" or not isinstance(job_id, str):
            raise ValueError(f"cannot run task {job.get('task')!r}")
    except (ValueError, KeyError, TypeError) as error:
        print(f"Skipped {raw[:100]!r}: {error!r}")
        return
    stage(r, job_id, "RECEIVED", "received_at")
    try:
        order = {"id": args["order_id"], "total": args["order_total"]}
        stage(r, job_id, "STARTED", "started_at")
        message_id = shop.send_confirmation_email(args["email"], order)
    except Exception as error:
        stage(r, job_id, "FAILURE", "finished_at", error=str(error))
        return
    stage(r, job_id, "SUCCESS", "finished_at", result=str(message_id))


def stop(signum: int, frame) -> None:
    global stopping
    stopping = True


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    while not stopping:
        raw = r.brpoplpush(EMAIL_QUEUE, PROCESSING, timeout=1)
        if raw is None:
            continue
        process(r, raw)
        r.lrem(PROCESSING, 1, raw)


if __name__ == "__main__":
    main()
