"""The email job: its names in Redis, its ticket (made, parsed, held to the contract), its hash, its times."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Callable, NamedTuple
from zoneinfo import ZoneInfo

import pytest
import redis

from ticketrail.procs import STUDENT_TZ
from ticketrail.services import order_record

EMAIL_QUEUE = "jobs:email"
DELAYED = "jobs:email:delayed"  # exercise 04: retries waiting, scored by when they are due
DEAD = "jobs:email:dead"
PROCESSING = "jobs:email:processing"  # one list, or one per worker: jobs:email:processing:<worker>
EMAIL_TASK = "send_confirmation_email"

# Exercise 03's lifecycle (§3.4): a status may only move right.
RANK = {"PENDING": 0, "RECEIVED": 1, "STARTED": 2, "SUCCESS": 3, "FAILURE": 3}
# Where exercise 03's lifecycle ends: one attempt, no retries.
FINISHED = ("SUCCESS", "FAILURE")
# Statuses a job stays in unless someone acts: SUCCESS, exercise 04's DEAD, and exercise 03's FAILURE.
SETTLED = ("SUCCESS", "DEAD", "FAILURE")

# Student programs, the world and the checks read one clock (this machine's): a stamp may stray from the moments
# a check saw around it by rounding only, never by this much.
CLOCK_SLACK = 0.05


def job_key(job_id: str) -> str:
    return f"job:{job_id}"


# --- the ticket --------------------------------------------------------------------------------


def email_job(order_id: int) -> dict:
    """A ticket for this order's email, as the contract's API makes it."""
    order = order_record(order_id)
    return {"id": str(uuid.uuid4()), "task": EMAIL_TASK,
            "args": {"email": order["user_email"], "order_id": order_id, "order_total": order["total"]},
            "created_at": datetime.now(timezone.utc).isoformat()}


def push_email_job(r: redis.Redis, order_id: int) -> dict:
    """Put a ticket for this order on the rail as exercise 02's API does, for checks of the worker alone."""
    job = email_job(order_id)
    r.lpush(EMAIL_QUEUE, json.dumps(job))
    return job


def clip_job(r: redis.Redis, order_id: int) -> str:
    """Put an email job on the rail as the API does (hash PENDING, then LPUSH): for checks of the worker alone."""
    job = email_job(order_id)
    _write_hash(r, job, "PENDING", attempts=0, error="")
    r.lpush(EMAIL_QUEUE, json.dumps(job))
    return job["id"]


def delay_job(r: redis.Redis, order_id: int, due: float) -> str:
    """Put an email job in the delayed set, due at `due`, as a worker does after a failed first attempt."""
    job = email_job(order_id)
    _write_hash(r, job, "RETRY", attempts=1, error="SMTP server busy")
    r.zadd(DELAYED, {json.dumps(job): due})
    return job["id"]


def _write_hash(r: redis.Redis, job: dict, status: str, attempts: int, error: str) -> None:
    r.hset(job_key(job["id"]), mapping={"status": status, "task": EMAIL_TASK, "created_at": job["created_at"],
                                        "attempts": attempts, "result": "", "error": error})


def decoded(raw: object) -> object:
    """The JSON value `raw` holds; `raw` itself when it holds none, for a message to show as it came."""
    try:
        return json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    except ValueError:
        return raw


def parse_job(raw: str) -> dict | None:
    job = decoded(raw)
    return job if isinstance(job, dict) else None


def job_problems(job: dict, order_id: int, job_id: str | None = None,
                 made_between: tuple[float, float] | None = None) -> list[str]:
    """How a job ticket differs from the contract {id, task, args, created_at} for this order."""
    record = order_record(order_id)
    wanted_args = {"email": record["user_email"], "order_id": order_id, "order_total": record["total"]}
    problems = []
    missing = [key for key in ("id", "task", "args", "created_at") if key not in job]
    if missing:
        problems.append(f"it has no {', '.join(missing)} (its keys: {', '.join(map(str, job)) or 'none'})")
    if "id" in job:
        if problem := uuid4_problem("its id", job["id"]):
            problems.append(problem)
        if job_id is not None and job["id"] != job_id:
            problems.append(f"its id {job['id']!r} is not the email_job_id {job_id!r} the customer was given")
    if "task" in job and job["task"] != EMAIL_TASK:
        problems.append(f"its task is {job['task']!r}, not {EMAIL_TASK!r}")
    if "args" in job:
        args = job["args"]
        if not isinstance(args, dict):
            problems.append(f"its args are {args!r}, not an object")
        else:
            wrong = [f"{key}={args.get(key, '(missing)')!r} (expected {value!r})"
                     for key, value in wanted_args.items() if args.get(key) != value]
            if wrong:
                problems.append("its args have " + ", ".join(wrong))
    if "created_at" in job:
        problem = utc_problem("created_at", job["created_at"])
        if problem:
            problems.append(problem)
        elif made_between is not None:
            window = Window(made_between[0], "the confirm was sent", made_between[1], "its answer came",
                            "stamp the job with the current time when it is made")
            if problem := time_problem("created_at", job["created_at"], window):
                problems.append(problem)
                if local_labelled(job["created_at"], window):
                    problems.append(LOCAL_TIME_LABELLED_UTC)
    return problems


def uuid4_problem(name: str, value: object) -> str | None:
    """Why `value` is not a job id as str(uuid.uuid4()) writes it, or None."""
    try:
        parsed = uuid.UUID(str(value))
    except ValueError:
        return f"{name} {value!r} is not a UUID string (str(uuid.uuid4()))"
    if parsed.version != 4:
        return f"{name} {value!r} is a version-{parsed.version} UUID; the contract is a random one, str(uuid.uuid4())"
    if value != str(parsed):
        return (f"{name} {value!r} is not written as str(uuid.uuid4()) writes it ({str(parsed)!r}, with its "
                "dashes): the customer's email_job_id, the job's id and the key job:{id} all use that form")
    return None


def assert_make_job_stamps_the_frozen_time(call_student_function: Callable, redis_url: str, frozen: str) -> dict:
    """Call app.make_job in a child with the clock frozen at `frozen`; the job it returns follows the contract."""
    __tracebackhide__ = True
    args = {"email": "customer7@example.com", "order_id": 7, "order_total": order_record(7)["total"]}
    called = f"Called make_job({EMAIL_TASK!r}, {args}) in app.py with the clock frozen at {frozen}"
    result = call_student_function("app", "make_job", [EMAIL_TASK, args], freeze=frozen, env={"REDIS_URL": redis_url})
    if not result.ok and "coroutine" in result.message:
        pytest.fail(f"{called}; it gave back a coroutine, not the job: make_job is an `async def`. It only builds a "
                    "dict, with nothing to wait for: make it a plain `def`, and call it without `await` in the "
                    "endpoint.", pytrace=False)
    assert result.ok, f"{called}; it raised {result.error}: {result.message}\n{result.traceback}"
    job = result.value
    assert isinstance(job, dict), f"{called}; it returned {job!r}, where the contract wants the job as a dict."
    problem = utc_problem("created_at", job.get("created_at"))
    assert problem is None, f"{called}; it returned created_at={job.get('created_at')!r}: {problem}."
    stamp = parse_time(job["created_at"])
    assert abs((stamp - datetime.fromisoformat(frozen)).total_seconds()) < 1, (
        f"{called}; it stamped created_at={job['created_at']!r}. A job is stamped when it is made: read the "
        "clock (datetime.now(timezone.utc)) inside make_job each time it is called; do not copy the lecture's "
        "example time."
    )
    assert job.get("task") == EMAIL_TASK and job.get("args") == args, (
        f"{called}; it returned task={job.get('task')!r}, args={job.get('args')!r}; it should carry the task and "
        "args it was given."
    )
    problem = uuid4_problem("id", job.get("id"))
    assert problem is None, f"{called}. Its {problem}."
    return job


# --- the hash job:{id} -------------------------------------------------------------------------


def job_hash(r: redis.Redis, job_id: str) -> dict[str, str]:
    return r.hgetall(job_key(job_id))


def describe_job(r: redis.Redis, job_id: str) -> str:
    fields = job_hash(r, job_id)
    if not fields:
        return f"{job_key(job_id)} does not exist."
    shown = ", ".join(f"{k}={v[:120]!r}" for k, v in sorted(fields.items()))
    return f"{job_key(job_id)}: {shown}"


# --- times -------------------------------------------------------------------------------------


def parse_time(text: object, exact: bool = False) -> datetime | None:
    """An ISO-8601 time as a datetime (naive when it carries no offset); None when it is not one. Blanks around
    it and a lower-case z pass too, unless `exact`."""
    if not isinstance(text, str):
        return None
    if not exact:
        text = text.strip().replace("z", "Z")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def utc_problem(name: str, value: object) -> str | None:
    """Why `value` is not an ISO-8601 UTC time, or None when it is one."""
    stamp = parse_time(value)
    if stamp is None:
        return (f"{name} is {value!r}, which is not an ISO-8601 time such as "
                "'2026-02-14T10:30:00+00:00' (datetime.now(timezone.utc).isoformat() makes one)")
    if stamp.utcoffset() is None:
        return (f"{name} is {value!r}: a time without its UTC offset, so a worker in another time zone "
                "cannot tell when it was; use datetime.now(timezone.utc).isoformat()")
    if stamp.utcoffset().total_seconds() != 0:
        return (f"{name} is {value!r}: a time in a local zone (offset {value[-6:]}), where the contract wants UTC "
                "(offset +00:00); datetime.now(timezone.utc) reads the clock in UTC whatever the machine's zone")
    return None


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat()


LOCAL_TIME_LABELLED_UTC = (
    "a time off by the offset of the zone your programs run in ({zone}) is the local time labelled UTC: "
    "datetime.now() reads the local clock and .replace(tzinfo=timezone.utc) only relabels it; "
    "datetime.now(timezone.utc) reads the clock in UTC"
).format(zone=STUDENT_TZ)


class Window(NamedTuple):
    """When a stamp can have been written: after `low` and before `high` (epoch seconds), each named by what
    the check saw happen then, with what to do when the stamp falls outside."""

    low: float
    after: str
    high: float
    before: str
    advice: str = ""


def local_labelled(value: str, window: Window) -> str | None:
    """'3 h 30 min behind the UTC time it was written at' when a stamp is off by the programs' zone offset."""
    stamp = parse_time(value)
    if stamp is None or stamp.tzinfo is None:
        return None
    offset = datetime.fromtimestamp(window.low, ZoneInfo(STUDENT_TZ)).utcoffset().total_seconds()
    if not offset or not window.low + offset - 60 <= stamp.timestamp() <= window.high + offset + 60:
        return None
    hours, minutes = divmod(round(abs(offset) / 60), 60)
    return f"{hours} h {minutes:02d} min {'behind' if offset < 0 else 'ahead of'} the UTC time it was written at"


def time_problem(name: str, value: str, window: Window, slack: float = CLOCK_SLACK) -> str | None:
    """Why a UTC stamp cannot have been written within `window`, or None; a local time labelled UTC is told
    apart, with LOCAL_TIME_LABELLED_UTC left to the caller (said once however many stamps it explains)."""
    stamp = parse_time(value)
    if stamp is None or stamp.tzinfo is None:
        return None  # utc_problem's to report
    moment = stamp.timestamp()
    if window.low - slack <= moment <= window.high + slack:
        return None
    if local := local_labelled(value, window):
        return f"{name} is {value}, {local}"
    early = moment < window.low
    text = (f"{name} is {value}, {'before' if early else 'after'} {window.after if early else window.before} "
            f"({iso(window.low if early else window.high)})")
    return text + (f": {window.advice}" if window.advice else "")
