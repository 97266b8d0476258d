"""The grader's side of the world: start it, reset it, read its ledger, inject faults."""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import httpx

from ticketrail import timings, waiting
from ticketrail.procs import Child, Limits, MiB, free_port, wait_for_port
from ticketrail.services import TOKEN_HEADER

CLOCK_SLICE = 0.5  # seconds of one long poll on the held clock
# Given how many reads of the clock wait, why the rest will not come (the wait then ends at once), or None.
Away = Callable[[int], "str | None"]


@dataclass
class Call:
    """One ledger entry: a call a student program made to an outside service."""

    seq: int
    service: str
    args: dict
    order_id: int | None
    idempotency_key: str | None
    caller_chain: list[int]  # the calling process and its ancestors, as the kernel named them to the world
    start: float
    end: float | None
    outcome: str  # running, ok, failed, duplicate, not_found, cancelled
    held: bool
    error: str | None
    caller_pid: str | None = None  # the program the harness started that made the call (its pid)
    caller: str | None = None  # that program's name

    @property
    def effective(self) -> bool:
        """Did this call change the outside world (not a failure, not a replayed idempotent call)?"""
        return self.outcome == "ok"

    @property
    def duration(self) -> float:
        return (self.end or time.time()) - self.start


class WorldControl:
    def __init__(self, url: str, token: str, socket: Path | None = None) -> None:
        self.url = url
        self.socket = socket  # where student programs call, so that the kernel names the caller
        # Plain HTTP on the loopback: verify=True would load a CA bundle for nothing (see Api.client_for).
        self._http = httpx.Client(base_url=url, headers={TOKEN_HEADER: token}, timeout=30.0, verify=False)
        # The programs of the test under way (pid → name), to tell which of them made a call.
        self.programs: Callable[[], dict[int, str]] = dict

    @staticmethod
    def _identify(call: Call, programs: dict[int, str]) -> Call:
        for pid in call.caller_chain:
            if pid in programs:
                call.caller_pid, call.caller = str(pid), programs[pid]
                return call
        if call.caller_chain:
            call.caller_pid, call.caller = str(call.caller_chain[0]), f"process {call.caller_chain[0]}"
        else:
            call.caller = "a caller that did not use the shop client's socket"
        return call

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict) -> dict:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def reset(self, time_scale: float = 1.0) -> None:
        timings.world_calls(self)  # the ledger about to be cleared, when a run is timed
        self._post("/_reset", {"time_scale": time_scale})

    def ledger(self, service: str | None = None, order_id: int | None = None) -> list[Call]:
        response = self._http.get("/_ledger")
        response.raise_for_status()
        programs = self.programs()
        calls = [self._identify(Call(**entry), programs) for entry in response.json()["entries"]]
        return [
            c for c in calls
            if (service is None or c.service == service) and (order_id is None or c.order_id == order_id)
        ]

    def fail(self, service: str, first: int = 0, always: bool = False, error: str = "service unavailable") -> None:
        self._post("/_faults", {service: {"fail_first": first, "fail_always": always, "error": error}})

    def hold(self, service: str, then_fail: str | None = None) -> None:
        """Calls to `service` wait until `release(service)` (or `heal`); with `then_fail`, they then fail with it."""
        spec = {"hold": True} if then_fail is None else {"hold": True, "fail_always": True, "error": then_fail}
        self._post("/_faults", {service: spec})

    def release(self, service: str) -> None:
        self._post("/_release", {"service": service})

    def rate_limit(self, service: str, per_second: float) -> None:
        self._post("/_faults", {service: {"rate_limit": per_second}})

    def heal(self, *services: str) -> None:
        """Remove every fault from these services; held calls go on."""
        self._post("/_faults", {service: {} for service in services})

    def set_clock(self, epoch_seconds: float) -> float:
        return self._post("/_clock", {"set": epoch_seconds})["now"]

    def advance_clock(self, seconds: float) -> float:
        return self._post("/_clock", {"advance": seconds})["now"]

    def real_clock(self) -> None:
        self._post("/_clock", {"real": True})

    def hold_clock(self) -> None:
        """Reads of the clock wait until it is released, so that they all see its next move at once."""
        self._post("/_clock", {"hold": True})

    def release_clock(self, at: float | None = None) -> float:
        """Let the waiting reads go, after setting the clock to `at` when it is given."""
        return self._post("/_clock", {"release": True} if at is None else {"release": True, "set": at})["now"]

    def clock_readers_waiting(self, at_least: int = 0, timeout: float = 0.0, away: Away | None = None) -> int:
        """How many reads of the held clock are waiting; with `at_least`, first wait up to `timeout` s for that many."""
        return self._clock_until({}, at_least, timeout, away)

    def step_clock(self, at: float | None = None, readers: int = 0, timeout: float = 0.0,
                   away: Away | None = None) -> int:
        """Let the waiting reads see the clock (set to `at` when given), hold it again, and wait up to
        `timeout` s until `readers` reads wait again: the readers are done with this move. Returns how many wait."""
        move = {"release": True, "hold": True}
        return self._clock_until(move if at is None else {**move, "set": at}, readers, timeout, away)

    @timings.waits("early")
    def _clock_until(self, move: dict, readers: int, timeout: float, away: Away | None) -> int:
        """Make `move`, then long-poll until `readers` reads of the clock wait, or `timeout`. The poll comes in
        slices: between two, a wait no program can end any more (one died, or reached work the starter marks
        as not done yet), or one `away` says the readers stay away from, gives up at once instead of running to
        its deadline."""
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        piece = min(timeout, CLOCK_SLICE)
        found = self._clock({**move, "readers": readers, "timeout": piece}, piece)
        while found < readers and (left := deadline - time.monotonic()) > 0:
            if why := waiting.hopeless():
                raise waiting.WaitTimeout(f"{why}\n\nWhat the check was waiting for: {readers} program(s) back at "
                                          f"the shop's clock to read it; {found} were.")
            if away is not None and (why := away(found)):
                raise waiting.WaitTimeout(why)
            piece = min(left, CLOCK_SLICE)
            found = self._clock({"readers": readers, "timeout": piece}, piece)
        return found

    def _clock(self, body: dict, timeout: float) -> int:
        response = self._http.post("/_clock", json=body, timeout=timeout + 30.0)
        response.raise_for_status()
        return response.json()["readers_waiting"]

    def order_history(self, order_id: int) -> list[dict]:
        response = self._http.get(f"/_orders/{order_id}")
        response.raise_for_status()
        return response.json()["history"]

    def effects(self, service: str) -> Counter:
        """How many effective calls each order got from `service`."""
        return self.effects_of([service])[service]

    def effects_of(self, services: Iterable[str]) -> dict[str, Counter]:
        """`effects` of each service, from one read of the ledger: a check that polls several services reads it
        once a poll, not once a service and order."""
        counts = {service: Counter() for service in services}
        for call in self.ledger():
            if call.effective and call.service in counts:
                counts[call.service][call.order_id] += 1
        return counts

    def effects_by_key(self, service: str) -> Counter:
        return Counter(c.idempotency_key for c in self.ledger(service) if c.effective)

    def summary(self, services: Iterable[str] | None = None) -> str:
        """The ledger in a few lines, for a failure message."""
        calls = self.ledger()
        if services is not None:
            wanted = set(services)
            calls = [c for c in calls if c.service in wanted]
        if not calls:
            return "The world saw no calls at all."
        counts = Counter((c.service, c.outcome) for c in calls)
        lines = [f"  {service}: {n} {outcome}" for (service, outcome), n in sorted(counts.items())]
        return "The world saw these calls:\n" + "\n".join(lines)


# The world is the kit's code, but students feed it input: it runs capped, and as a uid of its own when grading.
WORLD_LIMITS = Limits(memory_bytes=1024 * MiB, file_bytes=1 * MiB, processes=256)


class WorldProcess:
    """The world service running in its own process, with a token only the grader holds.

    `user` and `folder`: run it as that uid, its socket in that folder (the sandbox's); else as this user,
    in a folder of its own."""

    @timings.timed("start", "world until it answers")
    def __init__(self, time_scale: float = 1.0, port: int | None = None, log_level: str = "warning",
                 python: str | None = None, user: tuple[int, int] | None = None, folder: Path | None = None) -> None:
        self.token = secrets.token_urlsafe(24)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log_dir = Path(tempfile.mkdtemp(prefix="ticketrail-world-"))
        self.folder = folder or log_dir
        self.socket = self.folder / "world.sock"
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.folder),
            "LANG": "C.UTF-8",
            "TICKETRAIL_WORLD_TOKEN": self.token,
        }
        argv = [python or sys.executable, "-E", "-s", "-B", "-m", "ticketrail.world", "--port", str(self.port),
                "--socket", str(self.socket), "--time-scale", str(time_scale), "--log-level", log_level]
        self.child = Child("world", argv, self.folder, env, limits=WORLD_LIMITS if user else None, user=user,
                           log_dir=log_dir)
        wait_for_port(self.child, self.port, timeout=30)
        self.control = WorldControl(self.url, self.token, self.socket)

    def stop(self) -> None:
        timings.world_calls(self.control)
        self.control.close()
        self.child.stop(grace=2)


@timings.waits("hold")
def wait_quiet(world: WorldControl, quiet_for: float, timeout: float) -> list[Call]:
    """Wait until the ledger has not changed for `quiet_for` seconds and nothing is running."""
    deadline = time.monotonic() + timeout
    last = None
    since = time.monotonic()
    while True:
        calls = world.ledger()
        fingerprint = [(c.seq, c.outcome) for c in calls]
        if fingerprint != last:
            last, since = fingerprint, time.monotonic()
        elif time.monotonic() - since >= quiet_for and all(c.outcome != "running" for c in calls):
            return calls
        if time.monotonic() >= deadline:
            return calls
        time.sleep(0.05)
