# Known wrong: a failed job waits for its retry in the worker's memory (a sleep), not in jobs:email:delayed.
# The worker takes no other job while it sleeps, and nobody else can see or count the waiting job.
"""The kitchen of lecture §3.2–3.5, made to survive burnt pizzas and fainting cooks.

    python worker.py

A ticket taken from the rail (`jobs:email`) moves into this cook's own processing list
in the same step (BRPOPLPUSH), so a cook who dies mid-pizza leaves the ticket where
the others can see it. A heartbeat key says the cook is alive; when it expires, any
cook's reaper puts the ticket back on the rail. A failed job waits in the delayed set,
scored by its due time, and goes back on the rail when due; after MAX_ATTEMPTS it goes
to the dead letters. The email carries the job id as its idempotency key, so running
a job twice after a crash still sends one email in effect.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Callable

import redis

from ticketrail.shop import sync as shop

QUEUE = "jobs:email"
DELAYED = "jobs:email:delayed"
DEAD = "jobs:email:dead"
WORKERS = "jobs:email:workers"

RETRY_BASE_DELAY = float(os.environ.get("RETRY_BASE_DELAY", "2"))
MAX_ATTEMPTS = int(os.environ.get("MAX_ATTEMPTS", "3"))
LEASE_SECONDS = float(os.environ.get("LEASE_SECONDS", "10"))
# The longest this worker blocks on the rail: it promotes due retries, reaps and sees SIGTERM between waits.
POLL_SECONDS = min(0.5, LEASE_SECONDS / 2)


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: the base delay, doubled each time."""
    return RETRY_BASE_DELAY * 2 ** (attempts - 1)


def next_due(attempts: int) -> float:
    """When (epoch seconds) the job may run again after its `attempts`-th failed attempt."""
    return time.time() + retry_delay(attempts)


def processing_key(worker: str) -> str:
    return f"jobs:email:processing:{worker}"


def heartbeat_key(worker: str) -> str:
    return f"jobs:email:heartbeat:{worker}"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(message: str) -> None:
    print(f"[worker {os.getpid()}] {message}", flush=True)


# --- the tasks ------------------------------------------------------------------------------


def send_confirmation_email(job: dict) -> str:
    args = job["args"]
    order = {"id": args["order_id"], "total": args.get("order_total")}
    return shop.send_confirmation_email(args["email"], order, idempotency_key=job["id"])


TASKS: dict[str, Callable[[dict], object]] = {"send_confirmation_email": send_confirmation_email}


class Poison(ValueError):
    """A message no attempt could ever process: not JSON, not a job, or a task nobody knows."""

    def __init__(self, reason: str, job: dict | None = None) -> None:
        super().__init__(reason)
        self.job = job


def read_job(raw: str) -> dict:
    try:
        job = json.loads(raw)
    except ValueError:
        raise Poison(f"not valid JSON: {raw[:80]!r}") from None
    if not isinstance(job, dict) or not isinstance(job.get("id"), str):
        raise Poison("not a job: a job is a JSON object with a string id")
    if job.get("task") not in TASKS:
        raise Poison(f"unknown task {job.get('task')!r}", job)
    return job


# --- staying alive, and noticing who did not ------------------------------------------------


class Heartbeat(threading.Thread):
    """Keeps this worker's lease while it lives, however long its current job takes."""

    def __init__(self, r: redis.Redis, worker: str) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.r, self.worker = r, worker
        self.stopped = threading.Event()

    def beat(self) -> None:
        # Lease and roll call in one transaction: a reaper never sees this worker listed without a lease.
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set(heartbeat_key(self.worker), utc_now(), px=int(LEASE_SECONDS * 1000))
            pipe.sadd(WORKERS, self.worker)
            pipe.execute()

    def run(self) -> None:
        while not self.stopped.wait(LEASE_SECONDS / 4):
            try:
                self.beat()
            except redis.RedisError as error:
                log(f"heartbeat failed: {error}")


def reap_dead_workers(r: redis.Redis, me: str) -> None:
    """'Worker crashes? → Unfinished job returns to queue' (§3.2): only workers whose lease expired."""
    for worker in r.smembers(WORKERS):
        if worker == me or r.exists(heartbeat_key(worker)):
            continue
        # LMOVE moves one ticket atomically, so two reapers never return the same job twice.
        while (raw := r.lmove(processing_key(worker), QUEUE, "RIGHT", "RIGHT")) is not None:
            log(f"worker {worker} stopped beating; its job goes back on the rail: {raw[:80]}")
        r.srem(WORKERS, worker)


def promote_due_jobs(r: redis.Redis) -> None:
    """Move retries whose time has come from the delayed set back onto the rail, each exactly once."""
    with r.pipeline(transaction=True) as pipe:
        for _ in range(5):
            try:
                pipe.watch(DELAYED)
                due = pipe.zrangebyscore(DELAYED, "-inf", time.time(), start=0, num=100)
                if not due:
                    return
                pipe.multi()
                pipe.zrem(DELAYED, *due)
                # The right end is where workers take from: a due retry goes to the front of the line.
                pipe.rpush(QUEUE, *due)
                pipe.execute()
                return
            except redis.WatchError:
                continue  # another worker promoted or scheduled meanwhile; look again


def seconds_to_wait(r: redis.Redis) -> float:
    head = r.zrange(DELAYED, 0, 0, withscores=True)
    wait = head[0][1] - time.time() if head else POLL_SECONDS
    return min(POLL_SECONDS, max(0.01, wait))


# --- one job --------------------------------------------------------------------------------


Record = Callable[[redis.client.Pipeline], None]


def while_ours(r: redis.Redis, processing: str, raw: str, record: Record, ack: bool = False) -> list | None:
    """Run `record` in one transaction if `raw` is still on our processing list; `ack` takes it off.

    If the job is no longer there, a reaper gave it to another worker while this one was
    frozen past its lease: that worker owns it now, and whatever we learned is stale.
    Returns the transaction's replies, or None for a job that is no longer ours.
    """
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(processing)
                if raw not in pipe.lrange(processing, 0, -1):
                    return None
                pipe.multi()
                if ack:
                    pipe.lrem(processing, 1, raw)
                record(pipe)
                return pipe.execute()
            except redis.WatchError:
                continue


def settle(r: redis.Redis, processing: str, raw: str, record: Record) -> bool:
    """Acknowledge the job and record its outcome in one transaction, if it is still ours."""
    return while_ours(r, processing, raw, record, ack=True) is not None


def bury(r: redis.Redis, processing: str, raw: str, reason: str, job: dict | None, attempts: int) -> bool:
    """To the dead letters: the manager is called (§3.4)."""
    entry = dict(job) if job is not None else {"raw": raw}
    entry.update(attempts=attempts, last_error=reason, died_at=utc_now())

    def record(pipe: redis.client.Pipeline) -> None:
        pipe.lpush(DEAD, json.dumps(entry))
        if job is not None:
            pipe.hset(f"job:{job['id']}", mapping={"status": "DEAD", "error": reason, "finished_at": entry["died_at"]})

    return settle(r, processing, raw, record)


def handle(r: redis.Redis, processing: str, raw: str) -> None:
    try:
        job = read_job(raw)
    except Poison as poison:
        log(f"poison message to the dead letters ({poison}): {raw[:80]}")
        bury(r, processing, raw, str(poison), poison.job, attempts=0)
        return

    key = f"job:{job['id']}"
    stale = f"job {job['id']} was handed to another worker while this one was away; leaving it"

    def receive(pipe: redis.client.Pipeline) -> None:
        pipe.hset(key, mapping={"status": "RECEIVED", "received_at": utc_now()})

    def start(pipe: redis.client.Pipeline) -> None:
        pipe.hset(key, mapping={"status": "STARTED", "started_at": utc_now()})
        pipe.hincrby(key, "attempts", 1)

    started = None
    if while_ours(r, processing, raw, receive) is not None:
        started = while_ours(r, processing, raw, start)
    if started is None:
        log(stale)
        return
    attempts = started[-1]
    log(f"picked up job {job['id']}: {job['task']}, attempt {attempts} of {MAX_ATTEMPTS}")

    try:
        result = TASKS[job["task"]](job)
    except Exception as error:  # a failing service or a bug in the task: both are retried
        reason = str(error) or type(error).__name__
        if attempts >= MAX_ATTEMPTS:
            log(f"job {job['id']} is DEAD after {attempts} attempts: {reason}"
                if bury(r, processing, raw, reason, job, attempts) else stale)
            return
        due = next_due(attempts)
        # the bug: the retry waits in this worker's memory, asleep, not in jobs:email:delayed
        r.hset(key, mapping={
            "status": "RETRY", "error": reason,
            "retry_at": datetime.fromtimestamp(due, timezone.utc).isoformat(timespec="milliseconds"),
        })
        log(f"job {job['id']} failed ({reason}); retry in {due - time.time():.1f} s")
        time.sleep(max(0.0, due - time.time()))
        if not settle(r, processing, raw, lambda pipe: pipe.rpush(QUEUE, raw)):
            log(stale)
        return

    def succeed(pipe: redis.client.Pipeline) -> None:
        pipe.hset(key, mapping={"status": "SUCCESS", "result": str(result), "error": "", "finished_at": utc_now()})

    if settle(r, processing, raw, succeed):
        log(f"job {job['id']} completed")
    else:
        log(stale)


# --- the loop -------------------------------------------------------------------------------


class Stop:
    """SIGTERM or Ctrl-C: the job in hand is finished first; a worker waiting on the rail leaves at once."""

    def __init__(self) -> None:
        self.requested = False
        self.waiting = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.request)

    def request(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.waiting:
            # Breaks the BRPOPLPUSH. Had it just taken a job, that job is on our processing list: reaped, not lost.
            raise SystemExit(0)


def work(r: redis.Redis, worker: str, stop: Stop) -> None:
    processing = processing_key(worker)
    last_reap = 0.0
    while not stop.requested:
        promote_due_jobs(r)
        if time.monotonic() - last_reap >= LEASE_SECONDS / 2:
            reap_dead_workers(r, worker)
            last_reap = time.monotonic()
        # Blocks on Redis: an idle cook waits by the rail, he does not pace around it.
        stop.waiting = True
        raw = r.brpoplpush(QUEUE, processing, timeout=seconds_to_wait(r))
        stop.waiting = False
        if raw is not None:
            handle(r, processing, raw)


def main() -> None:
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), decode_responses=True)
    worker = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    stop = Stop()
    heartbeat = Heartbeat(r, worker)
    heartbeat.beat()
    heartbeat.start()
    log(f"worker {worker} started; waiting for jobs on {QUEUE} "
        f"(max {MAX_ATTEMPTS} attempts, base delay {RETRY_BASE_DELAY} s, lease {LEASE_SECONDS} s)")
    try:
        work(r, worker, stop)
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)
        if not r.llen(processing_key(worker)):
            r.srem(WORKERS, worker)
            r.delete(heartbeat_key(worker))
        log("stopped")


if __name__ == "__main__":
    main()
