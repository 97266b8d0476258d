"""Waiting for a condition with a deadline, and saying what was seen when it passed."""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol

from ticketrail import timings

class Watched(Protocol):
    def hopeless(self) -> str | None:
        """Why no wait can come true any more (a program it needs died on its own), or None."""

    def state(self) -> str:
        """The programs' state in a line or two, for a wait that ran to its deadline."""


# Set by the plugin while a test's programs run: a wait then fails at once when it is hopeless, instead of
# running to its deadline, and one that runs to its deadline says what the programs were doing.
_watched: Watched | None = None


def watch(programs: Watched | None) -> None:
    global _watched
    _watched = programs


def hopeless() -> str | None:
    """Why no wait of the current test can come true any more, or None (see `watch`)."""
    return _watched.hopeless() if _watched is not None else None


@timings.waits("early")
def wait_until(
    condition: Callable[[], Any],
    timeout: float,
    describe: Callable[[], str],
    interval: float = 0.02,
) -> Any:
    """Poll `condition` until it is truthy; past the deadline, fail with `describe()` of the state."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if _watched is not None and (why := _watched.hopeless()):
            raise WaitTimeout(f"{why}\n\nWhat the check was waiting for: {describe()}")
        if time.monotonic() >= deadline:
            state = f"\n\n{_watched.state()}" if _watched is not None else ""
            raise WaitTimeout(describe() + state)
        time.sleep(interval)


class WaitTimeout(AssertionError):
    """A condition a check waited for did not come true in time; the message says what was seen."""


class Lasting:
    """For how long `condition` has held, counted from the first look that found it true; 0 while it is false.
    A condition the contract makes final once it holds for a while (a rail empty, a job on no list) ends a wait
    sooner than its deadline."""

    def __init__(self, condition: Callable[[], bool]) -> None:
        self.condition = condition
        self._since: float | None = None

    def seconds(self) -> float:
        if not self.condition():
            self._since = None
            return 0.0
        if self._since is None:
            self._since = time.monotonic()
        return time.monotonic() - self._since
