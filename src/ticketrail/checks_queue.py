"""Checks exercises 02 and 03 share: the rail (`jobs:email`), job tickets, job hashes, workers,
and what to say about all of them when a wait runs out."""

from __future__ import annotations

import ast
import json
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis

from ticketrail.checks import explain_slow_answer
from ticketrail.latency import LatencyResult, measure
from ticketrail.procs import STUDENT_TZ, Child
from ticketrail.services import order_record
from ticketrail.system import Api, System
from ticketrail.waiting import WaitTimeout, wait_until
from ticketrail.worldctl import Call, WorldControl

EMAIL_QUEUE = "jobs:email"
EMAIL_TASK = "send_confirmation_email"
# Exercise 03's lifecycle (§3.4): a status may only move right; the last two are final.
RANK = {"PENDING": 0, "RECEIVED": 1, "STARTED": 2, "SUCCESS": 3, "FAILURE": 3}
FINAL = ("SUCCESS", "FAILURE")
STAGE_STAMPS = ("pending_at", "received_at", "started_at", "finished_at")
# Student programs, the world and the checks read one clock (this machine's): a stamp may stray from the moments
# a check saw around it by rounding only, never by this much.
CLOCK_SLACK = 0.05


# --- the API ---------------------------------------------------------------------------------


def confirm_for_job(api: Api, order_id: int) -> str:
    """Confirm an order and return the `email_job_id` of the answer."""
    __tracebackhide__ = True
    response = api.client.post(f"/orders/{order_id}/confirm")
    assert response.status_code == 200, (
        f"POST /orders/{order_id}/confirm answered {response.status_code}: {response.text[:300]}"
    )
    body = response.json()
    job_id = body.get("email_job_id") if isinstance(body, dict) else None
    assert isinstance(job_id, str) and job_id, (
        f"POST /orders/{order_id}/confirm answered {body}; the contract is "
        f'{{"status": "confirmed", "order_id": {order_id}, "email_job_id": "<the job\'s id>"}}: '
        "the customer's order number, to ask about later (lecture §3.3)."
    )
    assert body.get("status") == "confirmed" and body.get("order_id") == order_id, (
        f"POST /orders/{order_id}/confirm answered {body}; it should say "
        f'"status": "confirmed" and "order_id": {order_id} besides the email_job_id.'
    )
    return job_id


def assert_confirm_fast(api: Api, world: WorldControl, budget: float, requests: int = 30) -> LatencyResult:
    __tracebackhide__ = True
    next_order = iter(range(1000, 9000)).__next__
    result = measure(lambda order_id: api.client.post(f"/orders/{order_id}/confirm"), next_order, budget,
                     requests=requests)
    if not result.passed:
        pytest.fail(explain_slow_answer(result, world) + "\n\nIn this exercise the email belongs on the rail: "
                    "the endpoint pushes a job onto jobs:email and worker.py sends it (lecture §3.3).",
                    pytrace=False)
    return result


# --- the rail and its tickets ----------------------------------------------------------------


def queued(r: redis.Redis) -> list[str]:
    """The raw jobs on the rail, the next one a BRPOP would take first."""
    return list(reversed(r.lrange(EMAIL_QUEUE, 0, -1)))


def parse_job(raw: str) -> dict | None:
    try:
        job = json.loads(raw)
    except ValueError:
        return None
    return job if isinstance(job, dict) else None


def parse_time(text: object) -> datetime | None:
    """An ISO-8601 time as a datetime (naive when it carries no offset); None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
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


def push_email_job(r: redis.Redis, order_id: int) -> dict:
    """Put a job for this order on the rail as the contract's API would, for checks of the worker alone."""
    record = order_record(order_id)
    job = {"id": str(uuid.uuid4()), "task": EMAIL_TASK,
           "args": {"email": record["user_email"], "order_id": order_id, "order_total": record["total"]},
           "created_at": datetime.now(timezone.utc).isoformat()}
    r.lpush(EMAIL_QUEUE, json.dumps(job))
    return job


def describe_rail(r: redis.Redis, limit: int = 3) -> str:
    jobs = queued(r)
    if not jobs:
        return f"{EMAIL_QUEUE} is empty."
    shown = "\n".join(f"    {raw[:240]}" for raw in jobs[:limit])
    more = f"\n    … and {len(jobs) - limit} more" if len(jobs) > limit else ""
    return f"{EMAIL_QUEUE} holds {len(jobs)} job{'s' if len(jobs) != 1 else ''}, the next to be taken first:\n{shown}{more}"


def imports_of(path: Path) -> set[str]:
    """The top-level modules a file imports, by reading it (never by running it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level > 0:
                found |= {(node.module or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value.split(".")[0])
    return found


def happens_within(condition: Callable[[], object], seconds: float) -> bool:
    """Watch for something that should NOT happen (a worker dying mid-job) for `seconds`."""
    try:
        wait_until(condition, seconds, lambda: "")
        return True
    except WaitTimeout:
        return False


# --- workers ---------------------------------------------------------------------------------


def start_workers(system: System, count: int = 1) -> list[Child]:
    if count == 1:
        return [system.start_program("worker.py", name="worker")]
    return [system.start_program("worker.py", name=f"worker {n}") for n in range(1, count + 1)]


def stop_workers(workers: Sequence[Child], grace: float = 5.0) -> None:
    """SIGTERM every worker at once, then wait: stopping them one by one would add their waits up."""
    for child in workers:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in workers:
        wait_until(lambda: not child.alive() or time.monotonic() > deadline, grace + 1, lambda: "")


def describe_workers(workers: Sequence[Child]) -> str:
    lines = []
    for child in workers:
        line = f"{child.name} (pid {child.pid}): {child.describe_exit()}"
        if not child.alive():
            line += "; the last lines it printed:\n" + _indent(child.log_tail(12) or "(nothing)")
        lines.append(line)
    return "\n".join(lines)


def any_alive(workers: Sequence[Child]) -> bool:
    return any(child.alive() for child in workers)


def idle_cost(child: Child, seconds: float) -> tuple[float, float]:
    """(CPU seconds, runnable seconds) the child's processes piled up over the next `seconds`.

    CPU time alone hides a busy loop on a loaded machine, where it waits for a core; time spent running or
    ready to run piles up as fast as the clock for a loop, and stays near zero for a worker blocked in BRPOP.
    """
    cpu, runnable = child.cpu_seconds(), child.runnable_seconds()
    time.sleep(seconds)  # the measurement window itself
    return child.cpu_seconds() - cpu, child.runnable_seconds() - runnable


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


# --- the world's ledger of emails --------------------------------------------------------------


def email_calls(world: WorldControl) -> list[Call]:
    return world.ledger(EMAIL_TASK)


def sends_per_order(world: WorldControl) -> Counter:
    """Every email call per order, whatever its outcome: each one is a worker doing the job."""
    return Counter(c.order_id for c in email_calls(world))


def wait_for_emails(world: WorldControl, orders: Iterable[int], timeout: float, workers: Sequence[Child],
                    r: redis.Redis, job_ids: Iterable[str] = ()) -> None:
    """Wait until every order's email was sent; stop early when every worker has exited."""
    __tracebackhide__ = True
    orders, job_ids = list(orders), list(job_ids)

    def unsent() -> list[int]:
        sent = world.effects(EMAIL_TASK)
        return [o for o in orders if sent[o] < 1]

    wait_until(lambda: not unsent() or not any_alive(workers), timeout, lambda: (
        f"After {timeout:.0f} s no email had been sent for order{'s' if len(unsent()) > 1 else ''} "
        f"{', '.join(map(str, unsent()))}.\n" + describe_state(r, world, workers, job_ids)
    ))
    missing = unsent()
    assert not missing, (
        f"Every worker exited before sending the email for order{'s' if len(missing) > 1 else ''} "
        f"{', '.join(map(str, missing))}. A worker loops until it is told to stop (lecture §3.5).\n"
        + describe_state(r, world, workers, job_ids)
    )


# --- exercise 03: job hashes and the status endpoint -------------------------------------------


def job_key(job_id: str) -> str:
    return f"job:{job_id}"


def job_hash(r: redis.Redis, job_id: str) -> dict[str, str]:
    return r.hgetall(job_key(job_id))


def describe_job(r: redis.Redis, job_id: str) -> str:
    fields = job_hash(r, job_id)
    if not fields:
        return f"{job_key(job_id)} does not exist."
    shown = ", ".join(f"{k}={v[:120]!r}" for k, v in sorted(fields.items()))
    return f"{job_key(job_id)}: {shown}"


def status_of(api: Api, job_id: str) -> httpx.Response:
    try:
        return api.client.get(f"/jobs/{job_id}/status")
    except (httpx.ReadError, httpx.RemoteProtocolError):
        # uvicorn closes a kept-alive connection after an endpoint crashed with a 500; ask again on a new one.
        return api.client.get(f"/jobs/{job_id}/status")


@dataclass(frozen=True)
class Seen:
    """One job as a check saw it from outside: its confirm sent and answered, its email calls, the hash read."""

    sent: float
    answered: float
    calls: tuple[Call, ...]
    read: float

    def windows(self) -> dict[str, Window]:
        starts = [c.start for c in self.calls]
        ends = [c.end for c in self.calls if c.end is not None]
        called = Window(self.sent, "the confirm was sent", max(starts, default=self.read),
                        "the email call began" if starts else "the check read the hash",
                        "the worker stamps STARTED just before it calls the email service")
        return {
            "created_at": Window(self.sent, "the confirm was sent", self.answered, "its answer came",
                                 "make_job stamps the job when the confirm makes it"),
            "pending_at": Window(self.sent, "the confirm was sent", self.answered, "its answer came",
                                 "the API stamps PENDING as it writes the hash, before it answers"),
            "received_at": Window(self.sent, "the confirm was sent", self.read, "the check read the hash",
                                  "the worker stamps RECEIVED when it takes the job off the rail"),
            "started_at": called,
            "finished_at": Window(min(ends, default=self.sent), "the email call returned" if ends else
                                  "the confirm was sent", self.read, "the check read the hash",
                                  "the job ends, and is stamped, once the email call has returned"),
        }


def stage_problems(fields: dict[str, str], seen: Seen | None = None,
                   names: Sequence[str] = ("created_at", *STAGE_STAMPS)) -> list[str]:
    """What is wrong with a job's stage timestamps (`names`, in the order they happen): missing, unreadable,
    not UTC, out of order, or, given what the check saw, not written when the stage happened."""
    problems, stamps, labelled = [], [], False
    windows = seen.windows() if seen is not None else {}
    for name in names:
        value = fields.get(name)
        if not value:
            problems.append(f"{name} is missing")
            continue
        stamp = parse_time(value)
        if stamp is None:
            problems.append(f"{name}={value!r} is not an ISO-8601 time")
            continue
        if problem := utc_problem(name, value):
            problems.append(problem)
        elif name in windows and (problem := time_problem(name, value, windows[name])):
            problems.append(problem)
            labelled = labelled or local_labelled(value, windows[name]) is not None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        stamps.append((name, value, stamp))
    for (earlier, early_text, early), (later, late_text, late) in zip(stamps, stamps[1:]):
        if late < early:
            problems.append(f"{later} ({late_text}) is before {earlier} ({early_text})")
    if labelled:
        problems.append(LOCAL_TIME_LABELLED_UTC)
    return problems


def describe_state(r: redis.Redis, world: WorldControl, workers: Sequence[Child] = (),
                   job_ids: Iterable[str] = ()) -> str:
    """The rail, the job hashes, the world's ledger and the workers, for a failure message."""
    parts = [describe_rail(r)]
    job_ids = list(job_ids)
    if job_ids:
        parts += [describe_job(r, job_id) for job_id in job_ids[:6]]
        if len(job_ids) > 6:
            parts.append(f"… and {len(job_ids) - 6} more jobs")
    parts.append(world.summary())
    if workers:
        parts.append(describe_workers(workers))
    return "\n".join(parts)


@dataclass
class StatusSampler:
    """Reads every job's status and stage stamps over and over, in a thread, to catch a status going back."""

    r: redis.Redis
    interval: float = 0.005
    job_ids: list[str] = field(default_factory=list)
    seen: dict[str, list[str]] = field(default_factory=dict)  # job id → distinct statuses in the order seen
    samples: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="status-sampler", daemon=True)

    def __enter__(self) -> "StatusSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def add(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self.seen:
                self.job_ids.append(job_id)
                self.seen[job_id] = []

    def _run(self) -> None:
        while not self._stop.is_set():
            # Jobs the test was told of, and every job hash in Redis: a worker may write a job's hash
            # before the API's answer names it.
            found = [key.split(":", 1)[1] for key in self.r.scan_iter(match="job:*", count=1000)]
            with self._lock:
                for job_id in found:
                    if job_id not in self.seen:
                        self.job_ids.append(job_id)
                        self.seen[job_id] = []
                ids = list(self.job_ids)
            if ids:
                with self.r.pipeline(transaction=False) as pipe:
                    for job_id in ids:
                        pipe.hget(job_key(job_id), "status")
                    statuses = pipe.execute()
                for job_id, status in zip(ids, statuses):
                    history = self.seen[job_id]
                    status = status if status is not None else "(no hash)"
                    if not history or history[-1] != status:
                        history.append(status)
                self.samples += 1
            self._stop.wait(self.interval)

    def backwards(self) -> dict[str, list[str]]:
        """Jobs whose status moved left in the lifecycle, or left a final state, or had no hash after the answer."""
        bad = {}
        for job_id, history in self.seen.items():
            ranks = [RANK.get(status, -1) for status in history]
            moved_back = any(b < a for a, b in zip(ranks, ranks[1:]))
            if moved_back or -1 in ranks or left_a_final_state(history):
                bad[job_id] = history
        return bad

    def history(self, job_id: str) -> list[str]:
        with self._lock:
            return list(self.seen.get(job_id, []))

    def all_final(self) -> bool:
        return all(history and history[-1] in FINAL for history in self.seen.values())


def left_a_final_state(history: Sequence[str]) -> bool:
    """SUCCESS and FAILURE are final: once one is seen, the status never changes again."""
    final = next((n for n, status in enumerate(history) if status in FINAL), None)
    return final is not None and any(status != history[final] for status in history[final + 1:])


def wait_for_status(read: Callable[[], str | None], wanted: Iterable[str], timeout: float,
                    describe: Callable[[], str]) -> str:
    """Wait until `read()` returns one of `wanted`; return it."""
    __tracebackhide__ = True
    wanted = set(wanted)
    return wait_until(lambda: (status := read()) in wanted and status, timeout, describe)
