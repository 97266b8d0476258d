"""How long the customer waits for a confirm: the one latency check, and the story of a slow answer."""

from __future__ import annotations

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


def burst(api: Api, first_order: int, size: int) -> list[Sample]:
    """`size` confirms sent at once, each on its own connection."""
    def one(order_id: int) -> Sample:
        with httpx.Client(base_url=api.url, timeout=60) as client:
            return timed(lambda key: client.post(f"/orders/{key}/confirm"), order_id)

    # A burst is a latency measurement: no other grading on this machine measures at the same time.
    with exclusive(), ThreadPoolExecutor(size) as pool:
        return list(pool.map(one, range(first_order, first_order + size)))
