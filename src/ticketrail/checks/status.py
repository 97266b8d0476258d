"""A job's status over its lifecycle (exercise 03): the stage stamps in its hash, and `StatusSampler`,
which reads every job's status over and over to catch one going back."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timezone
from typing import NamedTuple, Sequence

import redis

from ticketrail.checks.jobs import (
    FINISHED,
    LOCAL_TIME_LABELLED_UTC,
    RANK,
    Window,
    job_key,
    local_labelled,
    parse_time,
    time_problem,
    utc_problem,
)
from ticketrail.worldctl import Call

STAGE_STAMPS = ("pending_at", "received_at", "started_at", "finished_at")


class Seen(NamedTuple):
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


def left_a_final_state(history: Sequence[str]) -> bool:
    """SUCCESS and FAILURE are final: once one is seen, the status never changes again."""
    final = next((n for n, status in enumerate(history) if status in FINISHED), None)
    return final is not None and any(status != history[final] for status in history[final + 1:])


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
        return all(history and history[-1] in FINISHED for history in self.seen.values())
