"""Checks the self-checks and graders share, with failure messages written for learners."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import httpx
import pytest

from ticketrail import latency
from ticketrail.latency import LatencyResult, Sample, measure, timed
from ticketrail.services import SHORT_NAMES, SIDE_EFFECTS
from ticketrail.system import Api
from ticketrail.timeline import customer_timeline, waited_for
from ticketrail.waiting import wait_until
from ticketrail.worldctl import Call, WorldControl, wait_quiet

UNKNOWN_ORDER = 99999
# The shop has orders 1 to 9999: far beyond them, and just past either end.
UNKNOWN_ORDERS = (UNKNOWN_ORDER, 10000, 0)


def order_ids(start: int = 1000) -> itertools.count:
    return itertools.count(start)


def confirm(api: Api, order_id: int) -> httpx.Response:
    try:
        return api.client.post(f"/orders/{order_id}/confirm")
    except (httpx.ReadError, httpx.RemoteProtocolError):
        # uvicorn closes a kept-alive connection once the app raised (a background task, say) and the request
        # sent on it next is never read: send it again on a new connection.
        return api.client.post(f"/orders/{order_id}/confirm")


def explain_slow_answer(result: LatencyResult, world: WorldControl) -> str:
    sample = result.typical()
    calls = world.ledger(order_id=sample.key)
    waited = waited_for(sample, calls)
    lines = [f"The customer waited {sample.seconds:.2f} s; the budget is {result.budget:.2f} s."]
    if waited:
        lines.append(f"The answer waited for: {waited} — these are side effects the customer does not need "
                     "before the answer; move them out of the request (lecture §2.1).")
    elif any(c.service in SIDE_EFFECTS and c.end and c.end > sample.received for c in calls):
        lines.append("The side effects ran after the answer, yet the answer was slow: look for other slow work "
                     "in the endpoint, such as a sleep or a blocking call in an async def.")
    lines += [f"Figures: {result.describe()}.", "", customer_timeline(sample, calls)]
    return "\n".join(lines)


def assert_confirm_within_budget(api: Api, world: WorldControl, budget: float, requests: int = 30) -> LatencyResult:
    __tracebackhide__ = True
    ids = order_ids()
    result = measure(lambda order_id: confirm(api, order_id), lambda: next(ids), budget, requests=requests)
    if not result.passed:
        pytest.fail(explain_slow_answer(result, world), pytrace=False)
    return result


def burst(api: Api, first_order: int, size: int) -> list[Sample]:
    """`size` confirms sent at once, each on its own connection."""
    def one(order_id: int) -> Sample:
        with httpx.Client(base_url=api.url, timeout=60) as client:
            return timed(lambda key: client.post(f"/orders/{key}/confirm"), order_id)

    # A burst is a latency measurement: no other grading on this machine measures at the same time.
    with latency.exclusive(), ThreadPoolExecutor(size) as pool:
        return list(pool.map(one, range(first_order, first_order + size)))


def assert_side_effects_exactly_once(world: WorldControl, orders: Iterable[int], timeout: float,
                                     services: Iterable[str] = SIDE_EFFECTS) -> None:
    """Every service acted once for every order, and no more once things went quiet."""
    __tracebackhide__ = True
    orders, services = list(orders), list(services)

    def missing() -> list[str]:
        return [f"{SHORT_NAMES[s]} for order {o}" for s in services for o in orders if world.effects(s)[o] < 1]

    wait_until(lambda: not missing(), timeout, lambda: (
        f"After {timeout:.0f} s these side effects had still not happened: {', '.join(missing()[:8])}"
        f"{' …' if len(missing()) > 8 else ''}.\n{world.summary(services)}\n"
        "Every side effect must still happen after the answer: moving work out of the request "
        "must not drop it."
    ))
    wait_quiet(world, quiet_for=1.0, timeout=timeout)
    twice = [f"{SHORT_NAMES[s]} for order {o} ({n} times)"
             for s in services for o, n in world.effects(s).items() if o in orders and n > 1]
    assert not twice, (
        f"Some side effects happened more than once: {', '.join(twice[:8])}. A customer who gets "
        "two confirmation emails, or a warehouse that ships twice, is the cost. Schedule each side "
        "effect once per order."
    )


def finished_before(world: WorldControl, order_id: int, answered: float) -> list[Call]:
    """The side-effect calls for this order that had finished when its answer arrived, the latest last."""
    calls = [c for c in world.ledger(order_id=order_id)
             if c.service in SIDE_EFFECTS and c.end is not None and c.end < answered]
    return sorted(calls, key=lambda c: c.end)


def waited_for_everything(world: WorldControl, order_id: int, answered: float) -> bool:
    """Did the answer come only once every side effect of the order was done (nothing moved out)?"""
    done = {c.service for c in finished_before(world, order_id, answered)}
    return done >= set(SIDE_EFFECTS)


def describe_the_wait(world: WorldControl, order_id: int, answered: float) -> str | None:
    """'the answer came 4 ms after the analytics push finished…', or None when it waited for none."""
    early = finished_before(world, order_id, answered)
    if not early:
        return None
    last = early[-1]
    others = [SHORT_NAMES[c.service] for c in early[:-1]]
    text = (f"order {order_id}'s answer came {1000 * (answered - last.end):.0f} ms after the "
            f"{SHORT_NAMES[last.service]} call finished: the answer waited for the {SHORT_NAMES[last.service]}")
    if others:
        text += f" (and, before it, for {', '.join(others)})"
    return text
