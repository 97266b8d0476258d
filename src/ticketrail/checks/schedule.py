"""Exercise 06's scenario, scheduled work: `ClockedSchedulers`, scheduler programs under a clock the check moves.

The world's clock is held between moves, so every scheduler waits in `sync.now()`;
a move sets the clock and lets them all read it at once. Two schedulers therefore
look at each tick at the same instant (which makes a non-atomic claim race for
real), and a scheduler waiting to read the clock again has finished with the last
move (which tells the check when to count, without guessing how long to wait).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

import redis

from ticketrail import procfs
from ticketrail.checks.jobs import parse_job, parse_time
from ticketrail.childcall import CallResult
from ticketrail.procs import Child
from ticketrail.system import System
from ticketrail.worldctl import WorldControl

QUEUE = "jobs:maintenance"
HEALTH = "check_service_health"
CLEANUP = "cleanup_expired_sessions"
HEALTH_ENTRY = {"task": HEALTH, "every_minutes": 5}
CLEANUP_ENTRY = {"task": CLEANUP, "daily_at": "03:00"}
EVERY = timedelta(minutes=5)

# Seconds, with room for a machine busy with other work: a correct scheduler needs milliseconds.
STARTUP_TIMEOUT = 60.0  # for a new scheduler to read the clock the first time
READ_TIMEOUT = 20.0  # for a scheduler to come back to the clock after a move
JOB_TIMEOUT = 20.0  # for a due job to reach the list
# A scheduler that polls every SCHEDULER_POLL_SECONDS comes back to a moved clock in about that time; one that
# takes this long or longer, over the first moves, is not polling as often as the environment says.
SLOW_POLL_MOVES = 10
SLOW_POLL_SECONDS = 0.5
# Every scheduler still this long (not one thread woke up: procfs.scheduled_nanoseconds), while some are not
# waiting at the clock: those sleep or wait somewhere else, hundreds of polls long, and the wait ends then rather
# than at READ_TIMEOUT. Load cannot fake it: a thread whose sleep ends is queued and run within milliseconds.
STILL_SECONDS = 5.0
STILL_POLLS = 250

# The wall clock of next_due checks: far from every `after` they pass, so reading it shows.
FROZEN_WALL_CLOCK = "2026-07-01T12:00:00+00:00"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


def show(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def due_at(moment: datetime) -> set[tuple[str, datetime]]:
    """What the README's schedule has due at `moment`."""
    due = set()
    if moment.second == 0 and moment.microsecond == 0 and moment.minute % 5 == 0:
        due.add((HEALTH, moment))
        if (moment.hour, moment.minute) == (3, 0):
            due.add((CLEANUP, moment))
    return due


def ticks(start: datetime, end: datetime) -> list[datetime]:
    """Every 5-minute tick from `start` up to and including `end`."""
    return [start + n * EVERY for n in range((end - start) // EVERY + 1)]


# --- the jobs on jobs:maintenance ---------------------------------------------------------


@dataclass(frozen=True)
class Job:
    id: str
    task: str
    tick: datetime
    created_at: str = ""

    def __str__(self) -> str:
        return f"{self.task} for {self.tick:%H:%M}"


def _moment(text: object) -> datetime | None:
    """A time in UTC; one written without its offset is read as UTC."""
    moment = parse_time(text, exact=True)
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def scheduled_job(raw: str) -> Job:
    __tracebackhide__ = True
    job = parse_job(raw)
    fields_ok = (
        job is not None and {"id", "task", "args", "created_at"} <= set(job)
        and isinstance(job["task"], str) and isinstance(job["args"], dict)
    )
    tick = _moment(job["args"].get("scheduled_for")) if fields_ok else None
    assert fields_ok and tick is not None, (
        f"{QUEUE} holds an entry that is not a scheduled job: {raw[:200]!r}. Each entry is exercise 02's "
        'job format, {"id", "task", "args", "created_at"}, with the tick it was scheduled for in '
        'args.scheduled_for as an ISO time, e.g. "2026-02-14T10:35:00Z" (README, the contract).'
    )
    try:
        uuid.UUID(str(job["id"]))
    except ValueError:
        raise AssertionError(
            f"{QUEUE} holds a job whose id is {job['id']!r}: {raw[:200]!r}. Every run gets a fresh id, "
            "str(uuid.uuid4()), as in exercise 02 (README, the rail): status tracking and retries find a job by it."
        ) from None
    return Job(str(job["id"]), job["task"], tick, str(job["created_at"]))


# --- the schedulers under a held clock ------------------------------------------------------


class ClockedSchedulers:
    """Start scheduler programs and move the world's clock under them, one held step at a time.

    Use it as a context manager: the clock is held inside and let go on the way out,
    so that no program is left waiting in `sync.now()` when the test stops it.
    """

    def __init__(self, system: System, world: WorldControl, redis_client: redis.Redis, start: datetime) -> None:
        self.system, self.world, self.redis = system, world, redis_client
        self.start_time = start
        self.now = start
        self.schedulers: list[Child] = []
        self.jobs: list[Job] = []
        self._raws: list[str] = []  # the list's entries read so far, oldest first
        self._started = 0
        self._passes: list[float] = []  # seconds each move took until every scheduler was back at the clock
        self.poll_seconds = float(system.environment().get("SCHEDULER_POLL_SECONDS", "1"))

    def __enter__(self) -> "ClockedSchedulers":
        self.world.set_clock(self.start_time.timestamp())
        self.world.hold_clock()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.world.release_clock()

    # programs

    def start(self, count: int = 1) -> list[Child]:
        """`count` more `python scheduler.py`, started together; returns once each has polled the current time."""
        started = []
        for _ in range(count):
            self._started += 1
            started.append(self.system.start_program("scheduler.py", name=f"scheduler {self._started}"))
        self.schedulers += started
        self.wait_for_readers(f"Having started {len(started)} scheduler{'s' if count > 1 else ''}", STARTUP_TIMEOUT)
        self.settle(rounds=1)
        return started

    def stop(self, child: Child) -> None:
        """SIGTERM one scheduler and wait until it is gone; the clock stays where it is."""
        __tracebackhide__ = True
        self.world.release_clock()
        child.stop(grace=5)
        assert not child.alive(), f"{child.name} (pid {child.pid}) did not stop when asked to."
        self.schedulers.remove(child)
        self.world.hold_clock()

    def set_clock(self, moment: datetime) -> None:
        """Move the held clock while no scheduler is looking (one that is down, say)."""
        self.world.set_clock(moment.timestamp())
        self.now = moment

    # moves

    def wait_for_readers(self, after: str, timeout: float = READ_TIMEOUT) -> None:
        """Every running scheduler is waiting to read the clock."""
        __tracebackhide__ = True
        waiting = self.world.clock_readers_waiting(at_least=len(self.schedulers), timeout=timeout,
                                                   away=self._away_watch(after, timeout))
        if waiting < len(self.schedulers):
            raise AssertionError(self._not_back(after, waiting, timeout))

    def pass_clock(self, after: str, moment: datetime | None = None) -> None:
        """Let every waiting scheduler read the clock (moved to `moment`) at the same instant, and wait
        until each is back at it: then it is done with that time."""
        __tracebackhide__ = True
        wanted = len(self.schedulers)
        began = time.monotonic()
        waiting = self.world.step_clock(None if moment is None else moment.timestamp(), wanted, READ_TIMEOUT,
                                        away=self._away_watch(after, READ_TIMEOUT))
        self.now = moment or self.now
        if waiting < wanted:
            raise AssertionError(self._not_back(after, waiting, READ_TIMEOUT))
        self._passes.append(time.monotonic() - began)
        if len(self._passes) == SLOW_POLL_MOVES:
            typical = sorted(self._passes)[len(self._passes) // 2]
            if typical >= max(SLOW_POLL_SECONDS, 10 * self.poll_seconds):
                raise AssertionError(self._slow_poll(typical))

    def _slow_poll(self, typical: float) -> str:
        return (
            f"The check moved the shop's clock {SLOW_POLL_MOVES} times; after each move the scheduler"
            f"{'s' if len(self.schedulers) > 1 else ''} took {typical:.2f} s (the median) to come back and read it "
            f"again. With SCHEDULER_POLL_SECONDS={self.poll_seconds:g} in its environment a scheduler reads the clock "
            f"every {self.poll_seconds:g} s: read the poll interval from the environment (1 s is only the default "
            "for when it is unset), and sleep that long between polls (README, the program).\n" + self.describe()
        )

    def settle(self, rounds: int = 2) -> None:
        """Let the schedulers finish with the current time: `rounds` full polls each."""
        for _ in range(rounds):
            self.pass_clock(f"With the clock at {show(self.now)}")
        self.read_new_jobs()

    def step(self, moment: datetime, expected: set[tuple[str, datetime]]) -> None:
        """Move to `moment`, wait until its due jobs are on the list, and check nothing ran twice or early."""
        __tracebackhide__ = True
        self.pass_clock(f"After moving the clock to {moment:%H:%M}", moment)
        due = due_at(moment)

        def arrived() -> bool:
            return due <= {(job.task, job.tick) for job in self.read_new_jobs()}

        deadline = time.monotonic() + JOB_TIMEOUT
        while not arrived() and time.monotonic() < deadline:
            # A scheduler may read the clock more than once a poll: let it go on at the same time.
            self.pass_clock(f"With the clock at {moment:%H:%M}")
        missing = sorted(due - {(job.task, job.tick) for job in self.jobs})
        assert not missing, (
            f"The check moved the shop's clock to {show(moment)}; for {JOB_TIMEOUT:.0f} s every scheduler "
            f"read it again and again, but {QUEUE} got no {' and no '.join(t for t, _ in missing)} job "
            f"for {moment:%H:%M}. At that time the schedule has due: {', '.join(sorted(t for t, _ in due))} "
            f"(README, the schedule): a tick is due once the clock reads it, so with the clock at {moment:%H:%M} "
            f"exactly, the {moment:%H:%M} tick is due. On every poll, compare the shop's clock (sync.now(), which the checks "
            "move; not time.time()) with each entry's next due time.\n"
            + self.describe()
        )
        self.check_jobs(expected)

    def _away_watch(self, after: str, timeout: float) -> Callable[[int], str | None]:
        """For one wait at the clock: the failure once every scheduler has been still for the still time while
        some are not waiting at the clock, else None."""
        still_for = max(STILL_SECONDS, STILL_POLLS * self.poll_seconds)
        last: tuple[int, ...] = ()
        since = time.monotonic()

        def away(waiting: int) -> str | None:
            nonlocal last, since
            now = time.monotonic()
            seen = tuple(procfs.scheduled_nanoseconds(procfs.group_members(child.pid)) for child in self.schedulers)
            if seen != last:
                last, since = seen, now
                return None
            if waiting >= len(self.schedulers) or now - since < still_for:
                return None
            return self._not_back(after, waiting, timeout, still=now - since)

        return away

    def _not_back(self, after: str, waiting: int, timeout: float, still: float | None = None) -> str:
        wanted = len(self.schedulers)
        gave_up = (
            f"waited for {wanted} scheduler{'s' if wanted > 1 else ''} to come back and read it with sync.now(); "
            f"{waiting or 'none'} did, and for {still:.0f} s no scheduler woke up even once, so "
            f"{'the others sleep' if waiting else 'they sleep'} or wait somewhere else, far longer than "
            f"SCHEDULER_POLL_SECONDS={self.poll_seconds:g} s (the check stops there rather than waiting "
            f"{timeout:.0f} s)." if still is not None else
            f"waited {timeout:.0f} s for {wanted} scheduler{'s' if wanted > 1 else ''} to come back and read it "
            f"with sync.now(); {waiting or 'none'} did."
        )
        return (
            f"{after}, the check held the shop's clock and {gave_up} A scheduler reads the shop's clock every "
            "SCHEDULER_POLL_SECONDS and enqueues whatever is due then. One that sleeps 300 s between runs keeps its own stopwatch "
            "instead: it drifts from the clock (each run takes time on top of the sleep), starts from zero "
            "whenever the program restarts, and cannot notice a tick it slept through (lecture §1.3, README "
            "task 2). Each scheduler's state and the end of its log:\n" + self.describe()
        )

    def read_new_jobs(self) -> list[Job]:
        """Every job on the list, oldest first. LPUSH puts the newest at the head, so the jobs not
        seen yet are the head of the list, down to just before the ones seen already."""
        __tracebackhide__ = True
        listed = self.redis.lrange(QUEUE, 0, -1)
        oldest_first = listed[::-1]
        seen = len(self._raws)
        if oldest_first[:seen] != self._raws:
            raise AssertionError(self._list_changed(listed))
        fresh = oldest_first[seen:]
        self.jobs += [scheduled_job(raw) for raw in fresh]
        self._raws += fresh
        return self.jobs

    def _list_changed(self, listed: list[str]) -> str:
        seen = len(self._raws)
        if listed[:seen] == self._raws:
            return (
                f"{QUEUE} got its newer jobs at the right end (RPUSH): the jobs the check had read already were at "
                "its head, oldest first. The contract LPUSHes each job, as exercise 02's API does (README, the "
                "rail): the workers take from the right end, so the oldest job is taken first.\n"
                + self.describe(read=False)
            )
        return (
            f"The jobs the check had read on {QUEUE} are no longer all there, in the order they came: the list held "
            f"{seen} jobs before, now {len(listed)}. Nothing but the schedulers writes to it during the checks, and a "
            "scheduler only LPUSHes new jobs onto it (README, the rail).\n" + self.describe(read=False)
        )

    # verdicts

    def check_jobs(self, expected: set[tuple[str, datetime]]) -> None:
        """Every job on the list is one of `expected` and none is there twice."""
        __tracebackhide__ = True
        counts = Counter((job.task, job.tick) for job in self.jobs)
        twice = sorted(key for key, n in counts.items() if n > 1)
        if twice:
            task, tick = twice[0]
            ids = [job.id for job in self.jobs if (job.task, job.tick) == (task, tick)]
            raise AssertionError(self._twice_message(task, tick, ids, len(twice)))
        early = [job for job in self.jobs if (job.task, job.tick) not in expected]
        first_start = (
            " On its very first start a scheduler has missed nothing: its first run of each entry is the "
            "entry's next due time after the start (README, the contract)."
            if early and early[0].tick <= self.start_time else ""
        )
        assert not early, (
            f"{QUEUE} got {early[0]} (scheduled_for {show(early[0].tick)}), which the schedule does not have "
            f"due by {show(self.now)}. The schedule (README): {HEALTH} every 5 minutes on the clock "
            f"(:00, :05, :10, …) and {CLEANUP} daily at 03:00 UTC; args.scheduled_for is the tick, not the "
            f"moment the scheduler happened to look.{first_start}"
            + (f" ({len(early)} such jobs.)" if len(early) > 1 else "")
        )
        for job in self.jobs:
            created = _moment(job.created_at)
            assert created is not None and job.tick <= created <= self.now, self._created_at_message(job, created)
        ids = Counter(job.id for job in self.jobs)
        shared = [job_id for job_id, n in ids.items() if n > 1]
        assert not shared, (
            f"Two jobs on {QUEUE} share the id {shared[0]!r}. Every job gets its own id (uuid4), as in "
            "exercise 02: status tracking and retries find a job by it."
        )

    def _created_at_message(self, job: Job, created: datetime | None) -> str:
        window = show(self.now) if job.tick == self.now else f"between {show(job.tick)} and {show(self.now)}"
        head = (f"{QUEUE} got {job} (scheduled_for {show(job.tick)}) with created_at {job.created_at!r}. created_at "
                f"is the shop's clock when the job was enqueued: sync.now(), a UTC time, here {window}, written "
                "like \"2026-02-14T10:35:00Z\" (README, the rail). ")
        if created is None:
            return head + "That is not an ISO 8601 time."
        hours = (created - self.now).total_seconds() / 3600
        if abs(abs(hours) - 3.5) < 0.05:
            return head + (f"It reads as {show(created)}, {hours:+.1f} h off: the programs run with "
                           "TZ=America/St_Johns (UTC−03:30), so that is a local time written without its offset.")
        return head + (f"It reads as {show(created)}, {abs(hours):.1f} h away from the shop's clock: that is the "
                       "machine's own clock (time.time(), datetime.now()), which the checks do not move.")

    def _twice_message(self, task: str, tick: datetime, ids: list[str], how_many: int) -> str:
        head = (
            f"{task} for {show(tick)} was enqueued {len(ids)} times on {QUEUE} (job ids {', '.join(ids[:3])}); "
            f"{how_many} tick{'s were' if how_many > 1 else ' was'} enqueued more than once. "
        )
        if len(self.schedulers) > 1:
            return head + (
                "With two schedulers running, both look at the same tick. Each must claim it before "
                "enqueueing, in one atomic step: SET schedule:{task}:{tick} <me> NX EX <seconds> answers "
                "True to exactly one of them. A GET followed by a SET is not a claim: both can GET "
                "\"free\" before either SETs (README task 3; lecture §3.3)."
            )
        return head + (
            "A single scheduler enqueued the same tick again on a later poll: remember, in Redis, which "
            "tick of each entry comes next, and move it on once the tick is enqueued (README task 2)."
        )

    def describe(self, read: bool = True) -> str:
        held = self.redis.llen(QUEUE)
        lines = [f"The shop's clock: {show(self.now)}. {QUEUE} holds {held} job{'' if held == 1 else 's'}"]
        try:
            newest = (self.read_new_jobs() if read else self.jobs)[-4:]
        except AssertionError:  # an entry that is not a job, or a list that changed: the check that read it says so
            newest = self.jobs[-4:]
        lines[0] += f", the newest: {', '.join(map(str, newest))}." if newest else "."
        lines += self._stored()
        for child in self.system.children:
            if child.name.startswith("scheduler"):
                tail = "\n      ".join(child.log_tail(6).splitlines()) or "(printed nothing)"
                lines.append(f"  {child.name}, pid {child.pid}, {child.describe_exit()}; its log ends:\n      {tail}")
        return "\n".join(lines)


    def _stored(self) -> list[str]:
        """A few of the schedulers' own keys, next due times first: what they remember, in their words."""
        keys = [key for key in self.redis.scan_iter(count=500) if key != QUEUE]
        if not keys:
            return []
        shown = sorted(keys, key=lambda key: ("next" not in key, key))[:4]
        values = []
        for key in shown:
            kind = self.redis.type(key)
            value = self.redis.get(key) if kind == "string" else f"<a {kind}>"
            values.append(f"{key} = {str(value)[:80]}")
        more = f" ({len(keys)} keys in all)" if len(keys) > len(shown) else ""
        return [f"  Redis also holds{more}: " + "; ".join(values)]


def simulate(run: ClockedSchedulers, moments: Iterable[datetime]) -> None:
    """Step the clock through `moments`: every due job once, nothing else."""
    __tracebackhide__ = True
    expected: set[tuple[str, datetime]] = set()
    for moment in moments:
        expected |= due_at(moment)
        run.step(moment, expected)
    run.settle()
    run.check_jobs(expected)


# --- the catch-up after downtime ----------------------------------------------------------


def tick_at_or_before(moment: datetime) -> datetime:
    return moment - timedelta(minutes=moment.minute % 5, seconds=moment.second, microseconds=moment.microsecond)


@dataclass
class CatchUp:
    """One scheduler ran at `down_at`, was stopped, and started again with the clock at `back_at`."""

    down_at: datetime
    back_at: datetime
    after_restart: list[Job]
    log: str

    @property
    def missed(self) -> list[datetime]:
        return ticks(self.down_at + EVERY, tick_at_or_before(self.back_at))

    def story(self) -> str:
        return (
            f"A scheduler ran the {self.down_at:%H:%M} health check, was stopped, and was started again with "
            f"the clock at {self.back_at:%H:%M:%S}: {len(self.missed)} ticks of {HEALTH} "
            f"({self.missed[0]:%H:%M}–{self.missed[-1]:%H:%M}) fell while it was down."
        )


def down_for_an_hour(run: ClockedSchedulers, down_at: datetime, back_at: datetime) -> CatchUp:
    """Run one scheduler through `down_at`, stop it, move the clock to `back_at`, start it again, let it settle."""
    __tracebackhide__ = True
    (first,) = run.start()
    run.step(down_at, due_at(down_at))
    run.stop(first)
    run.set_clock(back_at)
    before = len(run.jobs)
    (second,) = run.start()
    run.settle(rounds=3)
    return CatchUp(down_at, back_at, run.jobs[before:], second.log())


def assert_one_catch_up_run(caught_up: CatchUp) -> Job:
    __tracebackhide__ = True
    jobs = caught_up.after_restart
    others = [job for job in jobs if job.task != HEALTH]
    assert not others, (
        f"{caught_up.story()} After the restart it enqueued {others[0]}, which was not due "
        f"(the cleanup runs daily at 03:00 UTC)."
    )
    assert jobs, (
        f"{caught_up.story()} Back up, it read the clock three times and enqueued nothing: the missed ticks "
        "were forgotten. A scheduler that keeps its next due tick in the program's memory loses it when the "
        "program stops, like BackgroundTasks loses its work (lecture §2.3, limitation 1). Keep it in Redis, "
        "and on start compare it with the clock (README task 4)."
    )
    assert len(jobs) == 1, (
        f"{caught_up.story()} Back up, it enqueued {len(jobs)} health checks "
        f"({', '.join(f'{job.tick:%H:%M}' for job in jobs[:12])}): one per missed tick. {len(jobs)} health "
        "checks at the same moment tell you no more than one would, and a day's backlog of cleanups would "
        "run back to back. After downtime, enqueue ONE catch-up run and say in the log how many ticks were "
        "missed (README task 4)."
    )
    (job,) = jobs
    if job.tick in caught_up.missed:
        why = (": walk forward from the stored next due time until the following tick would be in the future, "
               "and run the tick you stop at (hint 6).")
    elif job.tick == caught_up.back_at:
        why = (f". {show(job.tick)} is no tick: it is the moment the scheduler looked. args.scheduled_for is the "
               "tick the run is for (README, the rail).")
    else:
        why = "."
    assert job.tick == caught_up.missed[-1], (
        f"{caught_up.story()} Back up, it enqueued one catch-up run, but for {show(job.tick)}; the catch-up "
        f"run is for the latest missed tick, {show(caught_up.missed[-1])} (README, downtime){why}"
    )
    return job


def assert_catch_up_logged(caught_up: CatchUp) -> None:
    __tracebackhide__ = True
    said = [line for line in caught_up.log.splitlines() if "missed" in line.lower() and HEALTH in line]
    tail = "\n    ".join(caught_up.log.splitlines()[-8:]) or "(it printed nothing)"
    assert len(said) <= 1, (
        f"{caught_up.story()} Its log named {HEALTH} with the word \"missed\" in {len(said)} lines:\n    "
        + "\n    ".join(said[:4]) + ("\n    …" if len(said) > 4 else "")
        + "\nThe contract is one line for the catch-up, saying what was missed, e.g. \"missed "
        f"{len(caught_up.missed) - 1} ticks of {HEALTH}; running once now\" (README, downtime): count the "
        "missed ticks as you walk past them, and print once."
    )
    assert said, (
        f"{caught_up.story()} Its log did not say so: no line names {HEALTH} and the word \"missed\". "
        f"Whoever reads the log must learn that those checks never ran; print one line when catching up, "
        f"e.g. \"missed {len(caught_up.missed) - 1} ticks of {HEALTH}; running once now\" (README task 4). "
        f"The restarted scheduler's log ends:\n    {tail}"
    )


# --- next_due, called in a child under frozen time ------------------------------------------


def assert_next_due(call: Callable[..., CallResult], cases: Iterable[tuple[dict, datetime, datetime]]) -> None:
    """`cases`: (entry, after, expected); next_due runs in a child with the wall clock frozen elsewhere."""
    __tracebackhide__ = True
    for entry, after, expected in cases:
        result = call("scheduler", "next_due", [entry, after], freeze=FROZEN_WALL_CLOCK)
        what = f"next_due({entry}, {after.isoformat()})"
        if not result.ok:
            hint = ("Write it: README task 1." if result.error == "NotImplementedError" else
                    "Date arithmetic with timedelta carries across hours, days and months; "
                    "datetime.replace(minute=…, day=…) does not.")
            raise AssertionError(f"{what} raised {result.error}: {result.message}. {hint}\n{result.traceback}")
        value = result.value
        assert isinstance(value, datetime), (
            f"{what} returned {value!r}; the contract is a datetime in UTC (README task 1)."
        )
        assert value.tzinfo is not None, (
            f"{what} returned {value!r}, a datetime without a time zone; the contract is a UTC datetime "
            "(tzinfo=timezone.utc), like the `after` it was given. A time without its zone is read as local "
            "time by .astimezone() and .timestamp(), and the programs run with TZ=America/St_Johns (UTC−03:30): "
            "iso() would write that tick 3.5 h late (README task 1)."
        )
        assert value.utcoffset() == timedelta(0), (
            f"{what} returned {value.isoformat()}, a time at the offset {value.isoformat()[-6:]}; the contract is a "
            "UTC datetime (tzinfo=timezone.utc), like the `after` it was given: the programs run with "
            "TZ=America/St_Johns, and .astimezone() with no argument converts to that zone (README, next_due)."
        )
        if value == expected:
            continue
        wall = datetime.fromisoformat(FROZEN_WALL_CLOCK)
        hint = (
            f" That is a due time after the wall clock ({show(wall)}, frozen for this check), not after "
            "`after`: compute from the argument; the scheduler passes it the shop's clock."
            if wall < value <= wall + timedelta(days=1) else
            " next_due gives the first due time strictly after `after`, across midnight and the end of "
            "a month alike (lecture §1.3: the clock triggers the work)."
        )
        raise AssertionError(f"{what} returned {show(value)}, but the tests expected {show(expected)}.{hint}")
