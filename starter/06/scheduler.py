"""Morning prep (lecture §1.3, §2.3 limitation 4): the clock, not a customer, clips these tickets to the rail.

    python scheduler.py

Right now this is a kitchen timer: it puts a health check on the rail, sleeps five
minutes, and does it again. The README's tasks turn it into a scheduler that follows
the shop's clock, enqueues each tick once however many schedulers run, and catches
up after downtime.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timezone

import redis

from ticketrail.shop import sync

QUEUE = "jobs:maintenance"
POLL_SECONDS = float(os.environ.get("SCHEDULER_POLL_SECONDS", "1"))

# The one place the shop's clock work is declared.
SCHEDULE = [
    {"task": "check_service_health", "every_minutes": 5},
    {"task": "cleanup_expired_sessions", "daily_at": "03:00"},
]


def iso(moment: datetime) -> str:
    """2026-02-14T10:35:00Z: how created_at and scheduled_for are written."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def enqueue(r: redis.Redis, task: str, tick: datetime, now: datetime) -> dict:
    """Clip one ticket to the maintenance rail, in exercise 02's job format."""
    job = {"id": str(uuid.uuid4()), "task": task, "args": {"scheduled_for": iso(tick)}, "created_at": iso(now)}
    r.lpush(QUEUE, json.dumps(job))
    return job


def next_due(entry: dict, after: datetime) -> datetime:
    """The first moment strictly after `after` when `entry` is due, in UTC.

    TODO (task 1): {"every_minutes": 5} is due at :00, :05, :10, … of every hour;
    {"daily_at": "03:00"} at 03:00 UTC every day. Compute from `after`, not from a clock.
    """
    raise NotImplementedError("next_due: task 1 of exercise 06")


def main() -> None:
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)
    print("scheduler started")
    # TODO (task 2): a kitchen timer is not a clock. Every POLL_SECONDS, read sync.now() and
    #   enqueue each SCHEDULE entry whose next due time has come; keep that time in Redis.
    # TODO (task 3): two schedulers may run at once: claim each tick atomically before enqueueing it.
    # TODO (task 4): back from downtime, enqueue ONE catch-up run and say in the log what was missed.
    while True:
        now = sync.now()
        job = enqueue(r, "check_service_health", now, now)
        print(f"enqueued check_service_health (job {job['id']})")
        time.sleep(300)


if __name__ == "__main__":
    main()
