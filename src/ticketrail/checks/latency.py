"""How long the customer waits for a confirm: the one latency check, and the story of a slow answer."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ticketrail.checks.contract import confirm, order_ids
from ticketrail.checks.jobs import EMAIL_QUEUE
from ticketrail.latency import LatencyResult, Sample, exclusive, measure, timed
from ticketrail.services import SIDE_EFFECTS
from ticketrail.system import Api
from ticketrail.timeline import customer_timeline, waited_for
from ticketrail.worldctl import WorldControl

# What cures a slow answer once the work has moved to programs of its own, appended to the story as written.
ON_THE_RAIL = (f"\n\nIn this exercise the email belongs on the rail: the endpoint pushes a job onto {EMAIL_QUEUE} "
               "and worker.py sends it (lecture §3.3).")
EMIT_AND_ANSWER = ("\nIn this exercise the cashier emits one OrderConfirmed event and answers; each listener reacts "
                   "in its own subscriber process (commands vs events, lecture §5.1).")


def assert_confirm_within_budget(api: Api, world: WorldControl, budget: float, requests: int = 30,
                                 cure: str = "") -> LatencyResult:
    __tracebackhide__ = True
    ids = order_ids()
    result = measure(lambda order_id: confirm(api, order_id), lambda: next(ids), budget, requests=requests)
    if not result.passed:
        pytest.fail(explain_slow_answer(result, world) + cure, pytrace=False)
    return result


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


# Customers of a burst arrive this far apart, each on a connection of its own, at a pace the machine's load cannot
# stretch; the burst budget was set on arrivals this far apart.
ARRIVAL_GAP = 0.03


def burst(api: Api, first_order: int, size: int) -> list[Sample]:
    """`size` confirms, one every ARRIVAL_GAP seconds, each on its own connection, none waiting for another."""
    clients = [httpx.Client(base_url=api.url, timeout=60, verify=False) for _ in range(size)]  # plain HTTP

    def one(index: int) -> Sample:
        pause = start + index * ARRIVAL_GAP - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # pacing the arrivals, not waiting for a condition
        return timed(lambda key: clients[index].post(f"/orders/{key}/confirm"), first_order + index)

    # A burst is a latency measurement: no other grading on this machine measures at the same time.
    try:
        with exclusive(), ThreadPoolExecutor(size) as pool:
            start = time.monotonic() + 0.05  # every thread started before the first customer arrives
            return list(pool.map(one, range(size)))
    finally:
        for client in clients:
            client.close()
