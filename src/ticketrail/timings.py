"""Where a run's seconds go: named spans in a JSON-lines file, written only when TICKETRAIL_TIMINGS names one.

Unset (as it is for students and graders alike), every decorator here hands back the very function it was given
and every call returns at once: nothing is measured, nothing is written. Student programs never see the variable:
the harness builds their environments from nothing (system.py, worldctl.py, redisd.py, the childcall fixture).

A span is one line: {"cat", "label", "start", "end", ...}, times from time.monotonic(), which is one clock for
every process of the machine, so a benchmark can lay the spans over the wall time it measured itself.
`benchmarks/breakdown.py` runs pytest with `-p ticketrail.timings`, which also records each test's phases.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

VARIABLE = "TICKETRAIL_TIMINGS"
_path: str | None = os.environ.get(VARIABLE) or None
_write_lock = threading.Lock()

# Each wall second is counted once, under the first of these active at that moment. Waits come last: what
# happens while a check waits (a program starting, the world's simulated service time) is what it waited for.
CATEGORIES = ("start", "stop", "lock", "latency", "deadline", "simulated", "hold", "early")
IN_TESTS = "body"  # inside a test, none of the above: the test's own code, fixtures, pytest between phases
OUTSIDE_TESTS = "pytest"  # outside every test: interpreter, imports, plugins, collection, exit

F = TypeVar("F", bound=Callable[..., Any])


def enabled() -> bool:
    return _path is not None


def record(category: str, label: str, start: float, end: float, **extra: Any) -> None:
    if _path is None:
        return
    line = json.dumps({"cat": category, "label": label, "start": round(start, 6), "end": round(end, 6), **extra},
                      default=str)
    with _write_lock:
        # O_APPEND and one write a line: lines from several threads or processes never interleave.
        fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


def _label(template: str, signature: inspect.Signature, args: tuple, kwargs: dict) -> str:
    try:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return template.format(**bound.arguments)
    except Exception:  # a label is a nicety: never let it change what the function does
        return template


def _when_written(build: Callable[[Callable, inspect.Signature], Callable]) -> Callable[[F], F]:
    """A decorator that hands back the very function it was given unless spans are written; else `build`'s wrapper."""

    def decorate(function: F) -> F:
        if _path is None:
            return function
        return functools.wraps(function)(build(function, inspect.signature(function)))  # type: ignore[return-value]

    return decorate


def timed(category: str, label: str, cpu_of: str | None = None) -> Callable[[F], F]:
    """A span around each call; `label` is formatted with the call's arguments ("{self.name}"). `cpu_of` names
    an argument holding a procs.Child: its CPU time so far is read before the call (a program's life, at its stop)."""

    def build(function: Callable, signature: inspect.Signature) -> Callable:
        def spanned(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            extra: dict[str, Any] = {}
            if cpu_of is not None:
                extra["cpu"] = _cpu_before(signature, cpu_of, args, kwargs)
            start = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                record(category, _label(label, signature, args, kwargs), start, time.monotonic(), **extra)

        return spanned

    return _when_written(build)


def _cpu_before(signature: inspect.Signature, name: str, args: tuple, kwargs: dict) -> float | None:
    try:
        child = signature.bind(*args, **kwargs).arguments[name]
        return round(child.cpu_seconds(), 3) if child.alive() else None
    except Exception:
        return None


def waits(on_success: str) -> Callable[[F], F]:
    """A span around a wait that takes a `timeout`: "deadline" when it took the whole timeout, else
    `on_success` when it returned ("early" for a condition that came true, "hold" for a wait whose point is
    to see nothing more happen), else "early" (it gave up at once: a program it needed had died)."""

    def build(function: Callable, signature: inspect.Signature) -> Callable:
        def waited(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            caller = sys._getframe(1).f_code
            label = f"{Path(caller.co_filename).stem}.{caller.co_name}"
            try:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                timeout = float(bound.arguments["timeout"])
            except Exception:
                timeout = float("inf")
            start = time.monotonic()
            category, how = "early", "raised"
            try:
                value = function(*args, **kwargs)
                category, how = on_success, "returned"
                return value
            finally:
                end = time.monotonic()
                if end - start >= timeout:
                    category = "deadline"
                record(category, label, start, end, timeout=timeout, how=how)

        return waited

    return _when_written(build)


# --- programs starting: from their start until they first sit idle --------------------------------------------

POLL = 0.025
STEADY_POLLS = 3  # CPU time unchanged and every process asleep this many polls running: idle
GIVE_UP = 20.0  # a program never idle by then (a busy loop) is recorded as such, and not counted as starting
ENDED_STARTING = 5.0  # a program that ended this soon, never idle, was starting all its life


def program_started(child: Any) -> None:
    """Called when procs.Child has started a program: a span from now until the program first sits idle
    (blocked on a socket, its imports done) or answers, with the CPU time it used to get there."""
    if _path is None:
        return
    _watcher.add(child)


def program_ready(child: Any) -> None:
    """Called when the harness saw a program answer (on its port, to PING): its start ends here, busy or not."""
    if _path is None:
        return
    _watcher.finish(child.pid, "")


class _Starting:
    def __init__(self, child: Any) -> None:
        self.name, self.pid = child.name, child.pid
        self.start = time.monotonic()
        self.ticks = 0
        self.steady = 0
        self.steady_since = self.start
        self.last_seen = self.start
        self.done = False


class _Watcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, _Starting] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, child: Any) -> None:
        with self._lock:
            self._pending[child.pid] = _Starting(child)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="timings: programs starting", daemon=True)
                self._thread.start()
        self._wake.set()

    def finish(self, pid: int, how: str, end: float | None = None, ready: bool = True) -> None:
        """Record the start of `pid` once: `how` says how it ended when that was not by sitting idle or answering."""
        with self._lock:
            starting = self._pending.pop(pid, None)
            if starting is None or starting.done:
                return
            starting.done = True
        ticks = sum(t for state, t in _tree(pid) if state not in ("Z", "X")) or starting.ticks
        record("start", starting.name + (f" ({how})" if how else ""), starting.start,
               end if end is not None else time.monotonic(), cpu=round(ticks / os.sysconf("SC_CLK_TCK"), 3),
               ready=ready)

    def _run(self) -> None:
        while True:
            with self._lock:
                pending = list(self._pending.values())
            if not pending:
                self._wake.wait()
                self._wake.clear()
                continue
            now = time.monotonic()
            for starting in pending:
                self._poll(starting, now)
            time.sleep(POLL)

    def _poll(self, starting: _Starting, now: float) -> None:
        live = [(state, ticks) for state, ticks in _tree(starting.pid) if state not in ("Z", "X")]
        if not live:
            # Ended before it ever sat idle: a childcall child, a crash at start, a program stopped while it
            # started. A long life without a rest was a busy loop, not a start.
            short = starting.last_seen - starting.start <= ENDED_STARTING
            self.finish(starting.pid, "ended" if short else "ended, never idle", starting.last_seen, ready=short)
            return
        ticks = sum(t for _, t in live)
        if ticks == starting.ticks and all(state == "S" for state, _ in live):
            starting.steady += 1
        else:
            starting.steady, starting.steady_since = 0, now
        starting.ticks, starting.last_seen = ticks, now
        if starting.steady >= STEADY_POLLS:
            self.finish(starting.pid, "", starting.steady_since)
        elif now - starting.start > GIVE_UP:
            self.finish(starting.pid, "never idle", now, ready=False)


_watcher = _Watcher()


def _tree(pid: int) -> list[tuple[str, int]]:
    """(state, CPU ticks) of a process and its descendants, read from /proc without a scan of every process."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        try:
            with open(f"/proc/{current}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{current}/task/{current}/children", "rb") as children:
                queue += [int(child) for child in children.read().split()]
        except (OSError, IndexError, ValueError):
            continue
        found.append((fields[0].decode(), int(fields[11]) + int(fields[12])))
    return found


# --- the world's simulated time: its ledger, read before each reset and at its stop ----------------------------


def world_calls(control: Any) -> None:
    """Record each call in the world's ledger as a span of simulated service time (held calls included)."""
    if _path is None:
        return
    try:
        calls = control.ledger()
    except Exception:  # the world is gone or busy: the figures lose a few calls, the run goes on
        return
    offset = time.monotonic() - time.time()  # the ledger's times are time.time() of this machine
    now = time.monotonic()
    for call in calls:
        end = call.end + offset if call.end is not None else now
        record("simulated", call.service + (" (held)" if call.held else ""), call.start + offset, end,
               outcome=call.outcome)


# --- the pytest plugin side: `pytest -p ticketrail.timings` -------------------------------------------------------


def pytest_configure(config: Any) -> None:
    if _path is None:
        return
    # A burst of requests, and windows a check holds on purpose to see that nothing happens: helpers of the
    # checks, wrapped here (before the tests import them), only in a timed run; one that moved is left alone.
    from ticketrail.checks import latency, retry, workers

    _wrap(latency, "burst", timed("latency", "burst of {size} confirms"))
    _wrap(workers, "idle_cost", timed("hold", "idle_cost {child.name}"))
    _wrap(retry.JobWatch, "hold_steady", timed("hold", "hold_steady"))
    record("mark", "configured", time.monotonic(), time.monotonic())


def _wrap(owner: Any, name: str, decorator: Callable[[F], F]) -> None:
    function = getattr(owner, name, None)
    if callable(function):
        setattr(owner, name, decorator(function))


def pytest_collection_finish(session: Any) -> None:
    now = time.monotonic()
    record("mark", "collected", now, now, tests=len(getattr(session, "items", [])))


def pytest_runtest_logreport(report: Any) -> None:
    if _path is None:
        return
    offset = time.monotonic() - time.time()  # report.start and report.stop are time.time()
    record("test", report.nodeid, report.start + offset, report.stop + offset, phase=report.when,
           outcome=report.outcome)


# --- reading the spans back ----------------------------------------------------------------------------------------


def read(path: Path) -> list[dict]:
    spans = []
    for line in Path(path).read_text(errors="replace").splitlines():
        try:
            span = json.loads(line)
        except ValueError:
            continue  # a line cut by a killed process
        if isinstance(span, dict) and {"cat", "start", "end"} <= span.keys():
            spans.append(span)
    return spans


def union(intervals: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by at least one interval."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def breakdown(spans: list[dict], start: float, end: float) -> dict[str, float]:
    """Every second of [start, end] counted once: under the first category of CATEGORIES active then, else under
    IN_TESTS when a test ran then, else OUTSIDE_TESTS. Spans are clipped to the window; start spans of a program
    that never sat idle are left out (its busy loop is not a start)."""
    rank = {category: index for index, category in enumerate(CATEGORIES)}
    tests = len(CATEGORIES)
    events: list[tuple[float, int, int]] = []
    for span in spans:
        level = tests if span["cat"] == "test" else rank.get(span["cat"])
        if level is None or span.get("ready") is False:
            continue
        first, last = max(span["start"], start), min(span["end"], end)
        if last > first:
            events += [(first, 1, level), (last, -1, level)]
    events.sort()
    active = [0] * (tests + 1)
    seconds = dict.fromkeys((*CATEGORIES, IN_TESTS, OUTSIDE_TESTS), 0.0)
    names = (*CATEGORIES, IN_TESTS)
    cursor = start
    for moment, change, level in [*events, (end, 0, 0)]:
        if moment > cursor:
            top = next((index for index, count in enumerate(active) if count), None)
            seconds[names[top] if top is not None else OUTSIDE_TESTS] += moment - cursor
            cursor = moment
        active[level] += change
    return seconds


def span_seconds(spans: list[dict], start: float, end: float) -> dict[str, float]:
    """Per category, the sum of its spans' lengths in the window: overlapping spans counted each time."""
    totals: dict[str, float] = {}
    for span in spans:
        first, last = max(span["start"], start), min(span["end"], end)
        if last > first:
            totals[span["cat"]] = totals.get(span["cat"], 0.0) + last - first
    return totals
