"""Waiting for a condition with a deadline, and saying what was seen when it passed."""

from __future__ import annotations

import time
from typing import Any, Callable

# Set by the plugin while a test's programs run: why no wait can come true any more (a program it needs died
# on its own), or None. A wait then fails at once instead of running to its deadline.
_hopeless: Callable[[], str | None] | None = None


def give_up_when(reason: Callable[[], str | None] | None) -> None:
    global _hopeless
    _hopeless = reason


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
        if _hopeless is not None and (why := _hopeless()):
            raise WaitTimeout(f"{why}\n\nWhat the check was waiting for: {describe()}")
        if time.monotonic() >= deadline:
            raise WaitTimeout(describe())
        time.sleep(interval)


class WaitTimeout(AssertionError):
    """A condition a check waited for did not come true in time; the message says what was seen."""
