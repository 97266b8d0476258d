"""Checks for exercise 04 (retries, dead letters, reliable fetch), with messages written for learners.

The self-checks and the graders share these. They read the system only from outside:
the API over HTTP, the rail in Redis, the email calls in the world's ledger, and the
workers' CPU time and state from /proc.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable

import pytest
import redis

from ticketrail import procfs
from ticketrail.config import ExerciseSpec
from ticketrail.procs import Child
from ticketrail.services import order_record
from ticketrail.system import Api
from ticketrail.waiting import wait_until
from ticketrail.worldctl import Call, WorldControl

QUEUE = "jobs:email"
DELAYED = "jobs:email:delayed"
DEAD = "jobs:email:dead"
PROCESSING = "jobs:email:processing"  # one list, or one per worker: jobs:email:processing:<worker>
EMAIL = "send_confirmation_email"
# Statuses a job stays in unless someone acts: SUCCESS, DEAD, and exercise 03's FAILURE.
FINAL = ("SUCCESS", "DEAD", "FAILURE")
GIVE_UP_AFTER = 3.0  # seconds a wait accepts a final status other than the one it waits for
SETTLED_HINTS = {
    "FAILURE": " FAILURE was exercise 03's end of the road; here a failed attempt leads to RETRY, or to DEAD "
               "after MAX_ATTEMPTS (lecture §3.4: FAILURE → retry or dead letter).",
}
# No quotes or backslashes: json.dumps leaves it as written, so it can be found inside a dead letter's JSON.
POISON_TEXT = "this ticket is smudged beyond reading {{"


@dataclass(frozen=True)
class Knobs:
    """The exercise's environment, as grading.yml sets it for the student's programs."""

    base_delay: float
    max_attempts: int
    lease: float

    @classmethod
    def of(cls, exercise: ExerciseSpec) -> "Knobs":
        env = exercise.env
        return cls(float(env.get("RETRY_BASE_DELAY", "2")), int(env.get("MAX_ATTEMPTS", "3")),
                   float(env.get("LEASE_SECONDS", "10")))

    def delay(self, attempts: int) -> float:
        return self.base_delay * 2 ** (attempts - 1)


# --- the API --------------------------------------------------------------------------------


def confirm_order(api: Api, order_id: int) -> str:
    """Confirm an order; return the email job's id from the answer."""
    __tracebackhide__ = True
    response = api.client.post(f"/orders/{order_id}/confirm")
    assert response.status_code == 200, (
        f"POST /orders/{order_id}/confirm answered {response.status_code}: {response.text[:300]}"
    )
    body = response.json()
    as_agreed = (isinstance(body, dict) and isinstance(body.get("email_job_id"), str) and body["email_job_id"]
                 and body.get("status") == "confirmed" and body.get("order_id") == order_id)
    assert as_agreed, (
        f"POST /orders/{order_id}/confirm answered {body}; the contract's answer is the order's, with the email "
        f'job\'s id added: {{"status": "confirmed", "order_id": {order_id}, "email_job_id": "<the job id>"}} '
        "(lecture §3.3)."
    )
    return body["email_job_id"]


def clip_job(r: redis.Redis, order_id: int) -> str:
    """Put an email job on the rail as the API does (hash PENDING, then LPUSH): for checks of the worker alone."""
    order = order_record(order_id)
    job = {"id": str(uuid.uuid4()), "task": EMAIL,
           "args": {"email": order["user_email"], "order_id": order_id, "order_total": order["total"]},
           "created_at": datetime.now(timezone.utc).isoformat()}
    r.hset(f"job:{job['id']}", mapping={"status": "PENDING", "task": EMAIL, "created_at": job["created_at"],
                                         "attempts": 0, "result": "", "error": ""})
    r.lpush(QUEUE, json.dumps(job))
    return job["id"]


def delay_job(r: redis.Redis, order_id: int, due: float) -> str:
    """Put an email job in the delayed set, due at `due`, as a worker does after a failed first attempt."""
    order = order_record(order_id)
    job = {"id": str(uuid.uuid4()), "task": EMAIL,
           "args": {"email": order["user_email"], "order_id": order_id, "order_total": order["total"]},
           "created_at": datetime.now(timezone.utc).isoformat()}
    r.hset(f"job:{job['id']}", mapping={"status": "RETRY", "task": EMAIL, "created_at": job["created_at"],
                                         "attempts": 1, "result": "", "error": "SMTP server busy"})
    r.zadd(DELAYED, {json.dumps(job): due})
    return job["id"]


def queued_job_problems(r: redis.Redis, job_id: str, order_id: int) -> list[str]:
    """What is wrong with a confirmed order's job waiting on the rail, and its hash, by the README's contract."""
    raw = next((item for item in r.lrange(QUEUE, 0, -1) if job_id in item), None)
    if raw is None:
        return []  # a worker took it already: nothing waits to be looked at
    job, order = parsed(raw), order_record(order_id)
    if job is None:
        return [f"the entry on {QUEUE} is not a JSON object: {raw[:150]!r}"]
    problems = [f'it has no "{key}"' for key in ("id", "task", "args", "created_at") if key not in job]
    if job.get("id") != job_id:
        problems.append(f'its "id" is {job.get("id")!r}, not the email_job_id of the answer, {job_id!r}')
    if job.get("task") != EMAIL:
        problems.append(f'its "task" is {job.get("task")!r}, not {EMAIL!r}')
    wanted = {"email": order["user_email"], "order_id": order_id, "order_total": order["total"]}
    if job.get("args") != wanted:
        problems.append(f'its "args" are {job.get("args")!r}, not {wanted}')
    stored = r.hgetall(f"job:{job_id}")
    if stored.get("status") != "PENDING" or stored.get("attempts") != "0":
        problems.append(f"its hash job:{job_id} says status {stored.get('status')!r}, attempts "
                        f"{stored.get('attempts')!r}, not PENDING and 0")
    return problems


def job_status(api: Api, job_id: str) -> dict | None:
    """GET /jobs/{id}/status, or None for a 404."""
    response = api.client.get(f"/jobs/{job_id}/status")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        return {"status": f"<HTTP {response.status_code}>", "body": response.text[:200]}
    return response.json()


def replay(api: Api, job_id: str):
    return api.client.post(f"/jobs/{job_id}/replay")


# --- the rail in Redis ----------------------------------------------------------------------


def processing_lists(r: redis.Redis) -> dict[str, list[str]]:
    lists = {}
    for key in r.scan_iter(match=f"{PROCESSING}*", count=1000):
        if r.type(key) == "list":
            lists[key] = r.lrange(key, 0, -1)
    return lists


def wait_for_empty_processing(r: redis.Redis, timeout: float, why: str) -> None:
    __tracebackhide__ = True
    wait_until(lambda: not any(processing_lists(r).values()), timeout, lambda: f"{why}\n{rail(r)}")


def dead_entries(r: redis.Redis) -> list[str]:
    return r.lrange(DEAD, 0, -1)


def parsed(entry: str) -> dict | None:
    try:
        value = json.loads(entry)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def dead_entry_of(r: redis.Redis, job_id: str) -> dict | None:
    for entry in dead_entries(r):
        job = parsed(entry)
        if job is not None and job.get("id") == job_id:
            return job
    return None


def delayed_score_of(r: redis.Redis, job_id: str) -> float | None:
    for member, score in r.zrange(DELAYED, 0, -1, withscores=True):
        if job_id in member:
            return score
    return None


def delayed_member_of(r: redis.Redis, job_id: str) -> str | None:
    return next((member for member in r.zrange(DELAYED, 0, -1) if job_id in member), None)


def holders_of(r: redis.Redis, job_id: str) -> list[str]:
    """Every key of the rail that holds the job now: the queue, the delayed set, processing lists, dead letters."""
    held = [(QUEUE, r.lrange(QUEUE, 0, -1)), (DELAYED, r.zrange(DELAYED, 0, -1)),
            *processing_lists(r).items(), (DEAD, dead_entries(r))]
    return [key for key, items in held if any(job_id in item for item in items)]


def _short(entry: str, width: int = 90) -> str:
    return entry if len(entry) <= width else entry[:width] + "…"


def rail(r: redis.Redis) -> str:
    """The queue, the delayed set, the processing lists and the dead letters, in a few lines."""
    now = time.time()
    queue = r.lrange(QUEUE, 0, -1)
    delayed = r.zrange(DELAYED, 0, -1, withscores=True)
    lines = [f"  {QUEUE}: {len(queue)} waiting" + "".join(f"\n      {_short(e)}" for e in queue[-3:])]
    lines.append(f"  {DELAYED}: {len(delayed)}" + "".join(
        f"\n      due in {score - now:+.2f} s: {_short(member)}" for member, score in delayed[:3]))
    processing = processing_lists(r)
    lines.append(f"  {PROCESSING}*: " + (", ".join(f"{k} holds {len(v)}" for k, v in processing.items()) or "none"))
    dead = dead_entries(r)
    lines.append(f"  {DEAD}: {len(dead)}" + "".join(f"\n      {_short(e)}" for e in dead[:3]))
    return "What Redis held:\n" + "\n".join(lines)


# --- the world's ledger ---------------------------------------------------------------------


def email_calls(world: WorldControl, order_id: int | None = None) -> list[Call]:
    """The email calls for one order (for every order when None), first started first."""
    return sorted(world.ledger(EMAIL, order_id=order_id), key=lambda c: c.start)


def describe_calls(calls: list[Call]) -> str:
    if not calls:
        return "The world saw no email call for this order."
    origin = calls[0].start
    lines = [
        f"  {c.start - origin:6.2f}–{(c.end or time.time()) - origin:6.2f} s  {c.outcome:9} pid {c.caller_pid}"
        f"  key {c.idempotency_key!r}{'  (held)' if c.held else ''}{'  ' + c.error if c.error else ''}"
        for c in calls
    ]
    return "The email calls for this order, seconds from the first:\n" + "\n".join(lines)


# --- waiting, with the state described ------------------------------------------------------


class JobWatch:
    """One job seen from outside: its status over time, its email calls, the rail around it."""

    def __init__(self, api: Api, r: redis.Redis, world: WorldControl, job_id: str, order_id: int) -> None:
        self.api, self.r, self.world = api, r, world
        self.job_id, self.order_id = job_id, order_id
        self.history: list[str] = []
        self.last: dict | None = None

    def status(self) -> dict | None:
        self.last = job_status(self.api, self.job_id)
        current = (self.last or {}).get("status", "<404>")
        if not self.history or self.history[-1] != current:
            self.history.append(str(current))
        return self.last

    def calls(self) -> list[Call]:
        return email_calls(self.world, self.order_id)

    def describe(self) -> str:
        now = self.status()
        answered = "404 (no such job)" if now is None else str(now)
        return "\n".join([
            f"GET /jobs/{self.job_id}/status answers, as this is written: {answered}.",
            f"The statuses seen, in order: {' → '.join(self.history) or 'none'}.",
            f"The job's hash job:{self.job_id}: {self.r.hgetall(f'job:{self.job_id}')}",
            describe_calls(self.calls()),
            rail(self.r),
        ])

    def wait_for(self, wanted: Iterable[str], timeout: float, why: str,
                 also: Callable[[], None] | None = None) -> dict:
        """Poll the status until it is one of `wanted`; `also` runs at each poll (to sample more state)."""
        __tracebackhide__ = True
        wanted = set(wanted)
        settled: dict[str, float] = {}  # a final status other than the wanted one, and since when

        def reached() -> dict | None:
            status = self.status()
            if also is not None:
                also()
            current = (status or {}).get("status")
            if current in wanted:
                return status
            if current not in FINAL:
                settled.clear()
                return None
            if time.monotonic() - settled.setdefault(current, time.monotonic()) >= GIVE_UP_AFTER:
                pytest.fail(f"{why}\nThe job settled as {current} instead.{SETTLED_HINTS.get(current, '')}\n"
                            f"{self.describe()}", pytrace=False)
            return None

        return wait_until(reached, timeout, lambda: f"{why}\n{self.describe()}", interval=0.02)

    def hold_steady(self, seconds: float, problem: Callable[[], str | None]) -> None:
        """For `seconds`, fail at once if `problem()` finds one: to prove that nothing happens."""
        __tracebackhide__ = True
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = problem()
            if found:
                pytest.fail(f"{found}\n{self.describe()}", pytrace=False)
            time.sleep(0.05)


def wait_for_held_call(world: WorldControl, order_id: int | None, timeout: float, count: int = 1) -> list[Call]:
    """Wait until `count` email calls (for the order, or any) wait in the world's hold: the fault really fired."""
    __tracebackhide__ = True

    def held() -> list[Call] | None:
        calls = [c for c in email_calls(world, order_id) if c.held and c.outcome == "running"]
        return calls if len(calls) >= count else None

    return wait_until(
        held,
        timeout,
        lambda: (f"The check held the email service and waited {timeout:.0f} s for {count} email call(s)"
                 f"{'' if order_id is None else f' for order {order_id}'}; workers must take the jobs and send "
                 "their emails.\n"
                 f"{describe_calls(email_calls(world, order_id))}\n{world.summary()}"),
    )


# --- processes ------------------------------------------------------------------------------

def cpu_seconds(child: Child) -> float:
    """CPU time (user + system) of every process in the child's process group."""
    return child.cpu_seconds()


def wakeups(child: Child) -> int:
    """Context switches of every thread in the child's process group: how often it woke up.

    A starved busy loop gets little CPU on a loaded machine, but it still wakes up thousands
    of times a second; a worker blocked on Redis wakes a few times.
    """
    total = 0
    for pid in procfs.group_members(child.pid):
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for thread in threads:
            try:
                with open(f"/proc/{pid}/task/{thread}/status") as status:
                    total += sum(int(line.split()[1]) for line in status if "ctxt_switches:" in line)
            except (OSError, ValueError, IndexError):
                continue
    return total


def process_state(pid: int) -> str:
    """'R', 'S', 'T' (stopped) … or 'gone'."""
    fields = procfs.stat_fields(pid)
    return fields[0].decode() if fields else "gone"


def owner_of(children: Iterable[Child], pid: str | int | None) -> Child | None:
    """The child whose process (or process group) made a call, from the caller pid the world recorded."""
    try:
        pid = int(pid)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    fields = procfs.stat_fields(pid)
    group = int(fields[2]) if fields else None
    return next((c for c in children if c.pid == pid or c.pid == group), None)


def kill_worker(child: Child) -> None:
    """SIGKILL the worker's whole process group, and prove it is dead."""
    __tracebackhide__ = True
    child.kill()
    assert not child.alive() and child.describe_exit() == "killed by SIGKILL", (
        f"The check sent SIGKILL to {child.name} (pid {child.pid}), yet it is {child.describe_exit()}."
    )


def wait_stopped(child: Child, timeout: float = 5.0) -> None:
    __tracebackhide__ = True
    wait_until(lambda: process_state(child.pid) == "T", timeout,
               lambda: f"{child.name} (pid {child.pid}) was sent SIGSTOP but its state is {process_state(child.pid)!r}.")
