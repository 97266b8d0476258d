"""What the world's ledger says happened: the side effects of each order, the email calls, the held ones."""

from __future__ import annotations

import time
from collections import Counter
from typing import Iterable, Sequence

import redis

from ticketrail.checks.jobs import EMAIL_TASK
from ticketrail.checks.rail import describe_state
from ticketrail.checks.workers import any_alive
from ticketrail.procs import Child
from ticketrail.services import SHORT_NAMES, SIDE_EFFECTS
from ticketrail.waiting import wait_until
from ticketrail.worldctl import Call, WorldControl, wait_quiet


def assert_side_effects_exactly_once(world: WorldControl, orders: Iterable[int], timeout: float,
                                     services: Iterable[str] = SIDE_EFFECTS) -> None:
    """Every service acted once for every order, and no more once things went quiet."""
    __tracebackhide__ = True
    orders, services = list(orders), list(services)

    def missing() -> list[str]:
        counts = world.effects_of(services)
        return [f"{SHORT_NAMES[s]} for order {o}" for s in services for o in orders if counts[s][o] < 1]

    wait_until(lambda: not missing(), timeout, lambda: (
        f"After {timeout:.0f} s these side effects had still not happened: {', '.join(missing()[:8])}"
        f"{' …' if len(missing()) > 8 else ''}.\n{world.summary(services)}\n"
        "Every side effect must still happen after the answer: moving work out of the request "
        "must not drop it."
    ))
    wait_quiet(world, quiet_for=1.0, timeout=timeout)
    counts = world.effects_of(services)
    twice = [f"{SHORT_NAMES[s]} for order {o} ({n} times)"
             for s in services for o, n in counts[s].items() if o in orders and n > 1]
    assert not twice, (
        f"Some side effects happened more than once: {', '.join(twice[:8])}. A customer who gets "
        "two confirmation emails, or a warehouse that ships twice, is the cost. Schedule each side "
        "effect once per order."
    )


# --- the emails ----------------------------------------------------------------------------------


def email_calls(world: WorldControl, order_id: int | None = None) -> list[Call]:
    """The email calls for one order (for every order when None), first started first."""
    return world.ledger(EMAIL_TASK, order_id=order_id)


def sends_per_order(world: WorldControl) -> Counter:
    """Every email call per order, whatever its outcome: each one is a worker doing the job."""
    return Counter(c.order_id for c in email_calls(world))


def describe_calls(calls: list[Call]) -> str:
    if not calls:
        return "The world saw no email call for this order."
    origin = calls[0].start
    lines = [
        f"  {c.start - origin:6.2f}–{(c.end or time.time()) - origin:6.2f} s  {c.outcome:9} pid {c.caller_pid}"
        f"  key {c.idempotency_key!r}{'  (held)' if c.held else ''}{'  ' + c.error if c.error else ''}"
        for c in calls
    ]
    return "The email calls for this order, seconds from the first:\n" + "\n".join(lines)


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


def wait_for_held_call(world: WorldControl, order_id: int | None, timeout: float, count: int = 1) -> list[Call]:
    """Wait until `count` email calls (for the order, or any) wait in the world's hold: the fault really fired."""
    __tracebackhide__ = True

    def held() -> list[Call] | None:
        calls = [c for c in email_calls(world, order_id) if c.held and c.outcome == "running"]
        return calls if len(calls) >= count else None

    return wait_until(
        held,
        timeout,
        lambda: (f"The check held the email service and waited {timeout:.0f} s for {count} email call(s)"
                 f"{'' if order_id is None else f' for order {order_id}'}; workers must take the jobs and send "
                 "their emails.\n"
                 f"{describe_calls(email_calls(world, order_id))}\n{world.summary()}"),
    )
