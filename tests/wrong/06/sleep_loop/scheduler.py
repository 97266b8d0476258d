"""Wrong on purpose: a time.sleep(300) loop. It keeps its own stopwatch, so it drifts from the clock,
and two of them enqueue every run twice."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timedelta, timezone

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
    """The first moment strictly after `after` when `entry` is due, in UTC."""
    after = after.astimezone(timezone.utc)
    midnight = after.replace(hour=0, minute=0, second=0, microsecond=0)
    if "every_minutes" in entry:
        period = timedelta(minutes=entry["every_minutes"])
        return midnight + ((after - midnight) // period + 1) * period
    hour, minute = (int(part) for part in entry["daily_at"].split(":"))
    today = midnight + timedelta(hours=hour, minutes=minute)
    return today if today > after else today + timedelta(days=1)


def main() -> None:
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)
    print("scheduler started")
    while True:
        now = sync.now()
        job = enqueue(r, "check_service_health", now, now)
        print(f"enqueued check_service_health (job {job['id']})")
        if now.hour == 3 and now.minute < 5:
            enqueue(r, "cleanup_expired_sessions", now, now)
        time.sleep(300)  # five minutes until the next health check


if __name__ == "__main__":
    main()
