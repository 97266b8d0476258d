"""Exercise 04's scenario: a job watched from outside (`JobWatch`) while it fails, waits and is tried again,
under the knobs grading.yml sets (`Knobs`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import pytest
import redis

from ticketrail.checks.contract import confirm_answer, job_status
from ticketrail.checks.jobs import EMAIL_QUEUE, EMAIL_TASK, SETTLED, job_hash, job_key, parse_job
from ticketrail.checks.ledger import describe_calls, email_calls
from ticketrail.checks.rail import describe_rail
from ticketrail.config import ExerciseSpec
from ticketrail.services import order_record
from ticketrail.system import Api
from ticketrail.waiting import wait_until
from ticketrail.worldctl import Call, WorldControl

GIVE_UP_AFTER = 3.0  # seconds a wait accepts a settled status other than the one it waits for
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


def confirm_order(api: Api, order_id: int) -> str:
    """Confirm an order; return the email job's id from the answer, whose contract a failure states whole."""
    __tracebackhide__ = True
    body = confirm_answer(api, order_id)
    as_agreed = (isinstance(body, dict) and isinstance(body.get("email_job_id"), str) and body["email_job_id"]
                 and body.get("status") == "confirmed" and body.get("order_id") == order_id)
    assert as_agreed, (
        f"POST /orders/{order_id}/confirm answered {body}; the contract's answer is the order's, with the email "
        f'job\'s id added: {{"status": "confirmed", "order_id": {order_id}, "email_job_id": "<the job id>"}} '
        "(lecture §3.3)."
    )
    return body["email_job_id"]


def queued_job_problems(r: redis.Redis, job_id: str, order_id: int) -> list[str]:
    """What is wrong with a confirmed order's job waiting on the rail, and its hash, by the README's contract."""
    raw = next((item for item in r.lrange(EMAIL_QUEUE, 0, -1) if job_id in item), None)
    if raw is None:
        return []  # a worker took it already: nothing waits to be looked at
    job, order = parse_job(raw), order_record(order_id)
    if job is None:
        return [f"the entry on {EMAIL_QUEUE} is not a JSON object: {raw[:150]!r}"]
    problems = [f'it has no "{key}"' for key in ("id", "task", "args", "created_at") if key not in job]
    if job.get("id") != job_id:
        problems.append(f'its "id" is {job.get("id")!r}, not the email_job_id of the answer, {job_id!r}')
    if job.get("task") != EMAIL_TASK:
        problems.append(f'its "task" is {job.get("task")!r}, not {EMAIL_TASK!r}')
    wanted = {"email": order["user_email"], "order_id": order_id, "order_total": order["total"]}
    if job.get("args") != wanted:
        problems.append(f'its "args" are {job.get("args")!r}, not {wanted}')
    stored = job_hash(r, job_id)
    if stored.get("status") != "PENDING" or stored.get("attempts") != "0":
        problems.append(f"its hash {job_key(job_id)} says status {stored.get('status')!r}, attempts "
                        f"{stored.get('attempts')!r}, not PENDING and 0")
    return problems


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
            f"The job's hash {job_key(self.job_id)}: {job_hash(self.r, self.job_id)}",
            describe_calls(self.calls()),
            describe_rail(self.r),
        ])

    def wait_for(self, wanted: Iterable[str], timeout: float, why: str,
                 also: Callable[[], None] | None = None) -> dict:
        """Poll the status until it is one of `wanted`; `also` runs at each poll (to sample more state)."""
        __tracebackhide__ = True
        wanted = set(wanted)
        settled: dict[str, float] = {}  # a settled status other than the wanted one, and since when

        def reached() -> dict | None:
            status = self.status()
            if also is not None:
                also()
            current = (status or {}).get("status")
            if current in wanted:
                return status
            if current not in SETTLED:
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
