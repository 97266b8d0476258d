"""Morning prep (lecture §1.3, §2.3 limitation 4): the clock, not a customer, clips these tickets to the rail.

    python scheduler.py        # start two if you like: each tick is still enqueued once

Every SCHEDULER_POLL_SECONDS it reads the shop's clock and puts what is due on
jobs:maintenance, in exercise 02's job format.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone

import redis

from ticketrail.shop import sync

QUEUE = "jobs:maintenance"
POLL_SECONDS = float(os.environ.get("SCHEDULER_POLL_SECONDS", "1"))
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


def _period_and_offset(entry: dict) -> tuple[int, int]:
    if "every_minutes" in entry:
        return 60 * entry["every_minutes"], 0
    hour, minute = (int(part) for part in entry["daily_at"].split(":"))
    return 86400, 3600 * hour + 60 * minute


def next_due(entry: dict, after: datetime) -> datetime:
    """The first moment strictly after `after` when `entry` is due, in UTC."""
    period, offset = _period_and_offset(entry)
    seconds = _utc(after).timestamp()
    ticks = math.floor((seconds - offset) / period) + 1
    return datetime.fromtimestamp(ticks * period + offset, timezone.utc)


def latest_due(entry: dict, at: datetime) -> datetime:
    """The last moment at or before `at` when `entry` is due."""
    period, offset = _period_and_offset(entry)
    ticks = math.floor((_utc(at).timestamp() - offset) / period)
    return datetime.fromtimestamp(ticks * period + offset, timezone.utc)


CLAIM_AND_ENQUEUE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('LPUSH', KEYS[2], ARGV[3])
  return 1
end
return 0
"""


def enqueue(r: redis.Redis, task: str, tick: datetime, now: datetime) -> dict:
    job = {"id": str(uuid.uuid4()), "task": task, "args": {"scheduled_for": iso(tick)}, "created_at": iso(now)}
    r.lpush(QUEUE, json.dumps(job))
    return job


def run_due(r: redis.Redis, entry: dict, now: datetime) -> None:
    """Enqueue `entry` if a tick of it is due: once, however many ticks passed, however many schedulers run."""
    task = entry["task"]
    r.hsetnx("schedule:next", task, next_due(entry, now).timestamp())
    stored = datetime.fromtimestamp(float(r.hget("schedule:next", task)), timezone.utc)
    if stored > now:
        return
    tick = latest_due(entry, now)
    period, _ = _period_and_offset(entry)
    missed = round((tick - stored).total_seconds() / period)
    stamp = sync.now()  # read again: created_at is when the job is enqueued
    job = {"id": str(uuid.uuid4()), "task": task, "args": {"scheduled_for": iso(tick)}, "created_at": iso(stamp)}
    if r.eval(CLAIM_AND_ENQUEUE, 2, f"schedule:{task}:{iso(tick)}", QUEUE, ME, CLAIM_SECONDS, json.dumps(job)):
        if missed:
            print(f"missed {missed} ticks of {task}; running once now")
        print(f"enqueued {task} for {iso(tick)} (job {job['id']})")
    r.hset("schedule:next", task, next_due(entry, tick).timestamp())


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
