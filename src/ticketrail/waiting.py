"""Waiting for a condition with a deadline, and saying what was seen when it passed."""

from __future__ import annotations

import time
from typing import Any, Callable


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
        if time.monotonic() >= deadline:
            raise WaitTimeout(describe())
        time.sleep(interval)


class WaitTimeout(AssertionError):
    """A condition a check waited for did not come true in time; the message says what was seen."""
