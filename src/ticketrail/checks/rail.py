"""What the rail holds in Redis (the queue, the delayed set, processing lists, dead letters), found and told."""

from __future__ import annotations

import threading
import time
from typing import Iterable, Sequence

import redis

from ticketrail.checks.jobs import DEAD, DELAYED, EMAIL_QUEUE, PROCESSING, describe_job, parse_job
from ticketrail.checks.workers import describe_workers
from ticketrail.procs import Child
from ticketrail.waiting import Lasting, wait_until
from ticketrail.worldctl import WorldControl


def queued(r: redis.Redis) -> list[str]:
    """The raw jobs on the rail, the next one a BRPOP would take first."""
    return list(reversed(r.lrange(EMAIL_QUEUE, 0, -1)))


def processing_lists(r: redis.Redis) -> dict[str, list[str]]:
    lists = {}
    for key in r.scan_iter(match=f"{PROCESSING}*", count=1000):
        if r.type(key) == "list":
            lists[key] = r.lrange(key, 0, -1)
    return lists


def dead_entries(r: redis.Redis) -> list[str]:
    return r.lrange(DEAD, 0, -1)


def dead_entry_of(r: redis.Redis, job_id: str) -> dict | None:
    for entry in dead_entries(r):
        job = parse_job(entry)
        if job is not None and job.get("id") == job_id:
            return job
    return None


def delayed_score_of(r: redis.Redis, job_id: str) -> float | None:
    for member, score in r.zrange(DELAYED, 0, -1, withscores=True):
        if job_id in member:
            return score
    return None


class DelayedSightings:
    """Each (score, when first seen, member) of a job in the delayed set, looked for every 10 ms by a thread of its
    own: a retry may wait one second only, and a check's own loop (requests to the API and the world) can take longer
    than that on a busy machine."""

    def __init__(self, r: redis.Redis, job_id: str, period: float = 0.01) -> None:
        self.r, self.job_id, self.period = r, job_id, period
        self.seen: list[tuple[float, float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._look, name="delayed sightings", daemon=True)

    def __enter__(self) -> "DelayedSightings":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _look(self) -> None:
        known: set[tuple[str, float]] = set()
        while not self._stop.is_set():
            try:
                members = self.r.zrange(DELAYED, 0, -1, withscores=True)
            except redis.RedisError:
                members = []
            now = time.time()
            for member, score in members:
                if self.job_id in member and (member, score) not in known:
                    known.add((member, score))
                    self.seen.append((score, now, member))
            self._stop.wait(self.period)


def holders_of(r: redis.Redis, job_id: str) -> list[str]:
    """Every key of the rail that holds the job now: the queue, the delayed set, processing lists, dead letters."""
    held = [(EMAIL_QUEUE, r.lrange(EMAIL_QUEUE, 0, -1)), (DELAYED, r.zrange(DELAYED, 0, -1)),
            *processing_lists(r).items(), (DEAD, dead_entries(r))]
    return [key for key, items in held if any(job_id in item for item in items)]


class Nowhere(Lasting):
    """For how long `needle` (a job id, a message's text) has been on no key of the rail, counted from the first
    look that missed it. Every move the contract asks for is one atomic step (BRPOPLPUSH, LMOVE, MULTI), so what
    stays off every list for seconds was dropped, and no worker or reaper will ever see it again."""

    def __init__(self, r: redis.Redis, needle: str) -> None:
        super().__init__(lambda: not holders_of(r, needle))


def wait_for_empty_processing(r: redis.Redis, timeout: float, why: str) -> None:
    __tracebackhide__ = True
    wait_until(lambda: not any(processing_lists(r).values()), timeout, lambda: f"{why}\n{describe_rail(r)}")


def describe_queue(r: redis.Redis, limit: int = 3) -> str:
    """jobs:email alone, the next job to be taken first."""
    jobs = queued(r)
    if not jobs:
        return f"{EMAIL_QUEUE} is empty."
    shown = "\n".join(f"    {raw[:240]}" for raw in jobs[:limit])
    more = f"\n    … and {len(jobs) - limit} more" if len(jobs) > limit else ""
    return f"{EMAIL_QUEUE} holds {len(jobs)} job{'s' if len(jobs) != 1 else ''}, the next to be taken first:\n{shown}{more}"


def describe_rail(r: redis.Redis) -> str:
    """The queue, the delayed set, the processing lists and the dead letters, in a few lines."""
    now = time.time()
    queue = r.lrange(EMAIL_QUEUE, 0, -1)
    delayed = r.zrange(DELAYED, 0, -1, withscores=True)
    lines = [f"  {EMAIL_QUEUE}: {len(queue)} waiting" + "".join(f"\n      {_short(e)}" for e in queue[-3:])]
    lines.append(f"  {DELAYED}: {len(delayed)}" + "".join(
        f"\n      due in {score - now:+.2f} s: {_short(member)}" for member, score in delayed[:3]))
    processing = processing_lists(r)
    lines.append(f"  {PROCESSING}*: " + (", ".join(f"{k} holds {len(v)}" for k, v in processing.items()) or "none"))
    dead = dead_entries(r)
    lines.append(f"  {DEAD}: {len(dead)}" + "".join(f"\n      {_short(e)}" for e in dead[:3]))
    return "What Redis held:\n" + "\n".join(lines)


def _short(entry: str, width: int = 90) -> str:
    return entry if len(entry) <= width else entry[:width] + "…"


def describe_state(r: redis.Redis, world: WorldControl, workers: Sequence[Child] = (),
                   job_ids: Iterable[str] = ()) -> str:
    """The queue, the job hashes, the world's ledger and the workers, for a failure message."""
    parts = [describe_queue(r)]
    job_ids = list(job_ids)
    if job_ids:
        parts += [describe_job(r, job_id) for job_id in job_ids[:6]]
        if len(job_ids) > 6:
            parts.append(f"… and {len(job_ids) - 6} more jobs")
    parts.append(world.summary())
    if workers:
        parts.append(describe_workers(workers))
    return "\n".join(parts)
