"""Self-checks for exercise 05, step two: a stream with one consumer group per subscriber.

Every program runs with EVENT_BUS=streams, and EVENT_CLAIM_IDLE_MS=1000 (from grading.yml).
"""

import pytest

from ticketrail.checks.fanout import STREAM, FanOut, event_problems, group_pending, stream_events
from ticketrail.waiting import wait_until
from ticketrail.worldctl import wait_quiet


@pytest.fixture
def fanout(system, world, redis_client) -> FanOut:
    return FanOut(system, world, redis_client, bus="streams")


@pytest.mark.task(5)
def test_confirm_appends_an_order_confirmed_event_to_the_stream(fanout, redis_client):
    fanout.start_api()
    answered = fanout.confirm([47])
    entries = stream_events(redis_client)
    assert len(entries) == 1, (
        f"Confirmed order 47; the stream {STREAM!r} holds {len(entries)} entries: {str(entries)[:300]}. "
        f"One confirm appends one entry: `XADD {STREAM} * event <the event as JSON>`."
    )
    problems = event_problems(entries[0][1], 47, answered[47])
    assert not problems, f"The event breaks the contract: {'; '.join(problems)}."


@pytest.mark.task(5)
def test_with_streams_each_subscriber_reacts_once_and_acknowledges(fanout, redis_client):
    names = ["email", "warehouse", "analytics", "audit"]
    fanout.start_subscribers(*names)
    fanout.start_api()
    fanout.wait_groups(names)
    fanout.confirm([47, 48])
    fanout.assert_reacted_once_in_order(names, [47, 48])
    wait_until(lambda: not any(group_pending(redis_client).get(n) for n in names), timeout=15, describe=lambda: (
        f"Entries read but never acknowledged, per group: {group_pending(redis_client)}. XACK each entry once its "
        "reaction is done."
    ))


@pytest.mark.task(5)
def test_a_subscriber_started_for_the_first_time_gets_the_events_already_in_the_stream(fanout):
    fanout.start_api()
    fanout.confirm([47])
    fanout.start_subscribers("analytics")
    fanout.assert_reacted_once_in_order(["analytics"], [47], advice=(
        "Order 47 was confirmed before the analytics subscriber had ever run. Create its group from id 0 "
        f"(`XGROUP CREATE {STREAM} analytics 0 MKSTREAM`), so that even its first start reads the events already "
        "in the stream (README, the contract)."
    ))


@pytest.mark.task(5)
def test_a_stopped_subscriber_catches_up_after_a_restart(fanout, world):
    fanout.start_subscribers("analytics")
    fanout.start_api()
    fanout.wait_groups(["analytics"])
    fanout.stop("analytics")
    fanout.confirm([47, 48])
    fanout.start_subscribers("analytics")
    fanout.assert_reacted_once_in_order(["analytics"], [47, 48], in_order=False)


@pytest.mark.task(6)
def test_a_subscriber_killed_in_the_middle_of_an_event_handles_it_once_after_a_restart(fanout, world, redis_client):
    fanout.start_subscribers("audit")
    fanout.start_api()
    fanout.wait_groups(["audit"])
    world.hold("write_audit_log")
    fanout.confirm([47])
    wait_until(lambda: any(c.held for c in world.ledger("write_audit_log")), timeout=15,
               describe=lambda: "The audit subscriber never called write_audit_log for order 47.\n" + fanout.describe())
    fanout.kill("audit")
    world.heal("write_audit_log")
    fanout.start_subscribers("audit")
    new_pid = str(fanout.children["audit"].pid)
    wait_until(lambda: any(c.caller_pid == new_pid for c in world.ledger("write_audit_log")), timeout=30,
               describe=lambda: (
                   "The audit subscriber was killed before it acknowledged order 47's event; after the restart it "
                   "never handled the event again. Claim entries that stayed pending (XAUTOCLAIM).\n"
                   + fanout.describe()))
    wait_quiet(world, quiet_for=1.0, timeout=15)
    assert world.effects("write_audit_log")[47] == 1, (
        f"The audit log was written {world.effects('write_audit_log')[47]} times for order 47; once is the goal. "
        "Pass idempotency_key=event[\"event_id\"] so the second call has no second effect."
    )
