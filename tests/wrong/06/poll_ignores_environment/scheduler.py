# Known wrong: the scheduler polls every second whatever SCHEDULER_POLL_SECONDS says: a constant where
# the contract reads the environment.
"""Morning prep (lecture §1.3, §2.3 limitation 4): the clock, not a customer, clips these tickets to the rail.

    python scheduler.py        # start two if you like: each tick is still enqueued once

Every SCHEDULER_POLL_SECONDS it reads the shop's clock and puts what is due on
jobs:maintenance, in exercise 02's job format.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone

import redis

from ticketrail.shop import sync

QUEUE = "jobs:maintenance"
POLL_SECONDS = 1.0  # the bug: SCHEDULER_POLL_SECONDS is not read
CLAIM_SECONDS = 7 * 24 * 3600  # far longer than any scheduler stays down
ME = f"{socket.gethostname()}:{os.getpid()}"

# The one place the shop's clock work is declared.
SCHEDULE = [
    {"task": "check_service_health", "every_minutes": 5},
    {"task": "cleanup_expired_sessions", "daily_at": "03:00"},
]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def iso(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_due(entry: dict, after: datetime) -> datetime:
    """The first moment strictly after `after` when `entry` is due, in UTC."""
    after = _utc(after)
    midnight = after.replace(hour=0, minute=0, second=0, microsecond=0)
    if "every_minutes" in entry:
        period = timedelta(minutes=entry["every_minutes"])
        return midnight + ((after - midnight) // period + 1) * period
    hour, minute = (int(part) for part in entry["daily_at"].split(":"))
    today = midnight + timedelta(hours=hour, minutes=minute)
    return today if today > after else today + timedelta(days=1)


def enqueue(r: redis.Redis, task: str, tick: datetime, now: datetime) -> dict:
    job = {"id": str(uuid.uuid4()), "task": task, "args": {"scheduled_for": iso(tick)}, "created_at": iso(now)}
    r.lpush(QUEUE, json.dumps(job))
    return job


def run_due(r: redis.Redis, entry: dict, now: datetime) -> None:
    """Enqueue `entry` if a tick of it is due: once, however many ticks passed, however many schedulers run."""
    task = entry["task"]
    next_key = f"schedule:{task}:next"
    # On the very first start nothing was missed: the first run is the next tick after now.
    r.set(next_key, iso(next_due(entry, now)), nx=True)
    tick = datetime.fromisoformat(r.get(next_key).replace("Z", "+00:00"))
    if tick > now:
        return
    missed = 0
    while (later := next_due(entry, tick)) <= now:
        tick, missed = later, missed + 1
    # The claim and its check are one command, so two schedulers cannot both see the tick free.
    if r.set(f"schedule:{task}:{iso(tick)}", ME, nx=True, ex=CLAIM_SECONDS):
        if missed:
            print(f"missed {missed} ticks of {task}; running once now")
        job = enqueue(r, task, tick, now)
        print(f"enqueued {task} for {iso(tick)} (job {job['id']})")
    r.set(next_key, iso(next_due(entry, tick)))


running = True


def stop(signum: int, frame: object) -> None:
    global running
    running = False


def main() -> None:
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)
    signal.signal(signal.SIGTERM, stop)
    print(f"scheduler {ME} started; reading the shop's clock every {POLL_SECONDS} s")
    while running:
        try:
            now = sync.now()
            for entry in SCHEDULE:
                run_due(r, entry, now)
        except Exception as error:  # one failed poll must not stop the clock's work for good
            print(f"poll failed: {type(error).__name__}: {error}")
        time.sleep(POLL_SECONDS)
    print(f"scheduler {ME} stopped")


if __name__ == "__main__":
    main()
