"""Hidden graders for exercise 05, step one: fan-out with Redis pub/sub (lecture §4.3, §4.4, §5.1).

Pub/sub forgets what nobody hears, so before any confirm these checks wait until every
subscriber is on the channel (PUBSUB NUMSUB): a lost message is never the grader's own doing.
"""

from pathlib import Path

import pytest

from ticketrail.checks.contract import UNKNOWN_ORDER
from ticketrail.checks.fanout import (
    CHANNEL,
    SUBSCRIBERS,
    FanOut,
    event_problems,
    repeated_event_ids,
    unknown_order_events,
    wait_for_channel_messages,
)
from ticketrail.worldctl import wait_quiet

LOYALTY_SUBSCRIBER = Path(__file__).with_name("loyalty_subscriber.py")


@pytest.fixture
def fanout(system, world, redis_client) -> FanOut:
    return FanOut(system, world, redis_client, bus="pubsub")


def test_confirm_publishes_one_order_confirmed_event_on_the_orders_channel(fanout, redis_client):
    listener = redis_client.pubsub()
    listener.subscribe(CHANNEL)
    try:
        api = fanout.start_api()
        fanout.wait_subscribed(1)
        orders = [5101, 5102, 5103]
        answered = fanout.confirm(orders)
        unknown = api.client.post(f"/orders/{UNKNOWN_ORDER}/confirm")
        heard = wait_for_channel_messages(listener, len(orders), timeout=10)
    finally:
        listener.close()
    assert unknown.status_code == 404, (
        f"POST /orders/{UNKNOWN_ORDER}/confirm answered {unknown.status_code}; there is no such order, so the "
        "answer is 404 and no event is published."
    )
    for_unknown = unknown_order_events(heard)
    assert not for_unknown, (
        f"POST /orders/{UNKNOWN_ORDER}/confirm answered {unknown.status_code}, yet the check heard an event on "
        f"{CHANNEL!r} for order {UNKNOWN_ORDER}, which does not exist: {str(for_unknown[0])[:300]}. An unknown order "
        "emits nothing: look the order up first, and emit only once it is found and confirmed (README, the endpoint)."
    )
    assert len(heard) == len(orders), (
        f"With EVENT_BUS=pubsub the check confirmed orders {orders} (and the unknown order {UNKNOWN_ORDER}) while "
        f"listening on the channel {CHANNEL!r}, and heard {len(heard)} message(s): {str(heard)[:400]}. "
        f"Confirming an order publishes exactly one OrderConfirmed event on {CHANNEL!r} (lecture §4.3, §5.1), "
        "and an unknown order publishes none."
    )
    repeated = repeated_event_ids(heard)
    assert not repeated, (
        f"Several events published on {CHANNEL!r} carry the event_id {repeated[0]!r}; every event gets a new one "
        "(uuid.uuid4().hex), so that a subscriber can tell a repeated event from a new one."
    )
    for order_id, event in zip(orders, heard):
        problems = event_problems(event, order_id, answered[order_id])
        assert not problems, (
            f"The event published for order {order_id} breaks the contract: {'; '.join(problems)}.\n"
            f"It was: {str(event)[:400]}"
        )


def test_with_pubsub_every_subscriber_reacts_once_to_each_event_in_order(fanout):
    fanout.start_subscribers(*SUBSCRIBERS)
    fanout.start_api()
    fanout.wait_subscribed(len(SUBSCRIBERS))
    orders = [5201, 5202, 5203]
    fanout.confirm(orders)
    fanout.assert_reacted_once_in_order(SUBSCRIBERS, orders, lecture="§4.3")


def test_with_pubsub_a_subscriber_the_publisher_never_heard_of_receives_every_event(fanout):
    fanout.start_api()
    fanout.start_kit_subscriber(LOYALTY_SUBSCRIBER)
    fanout.wait_subscribed(1)
    orders = [5301, 5302, 5303]
    fanout.confirm(orders)
    fanout.assert_reacted_once_in_order(["loyalty"], orders, lecture="§5.1", advice=(
        f"The check brought a subscriber of its own, loyalty points, listening on the channel {CHANNEL!r}; your "
        "publisher has never heard of it, and should not need to. Publish every event on that one channel "
        "for whoever listens, rather than sending it to each subscriber you know: adding a subscriber must not "
        "change the publisher (open/closed, lecture §5.1)."
    ))


def test_with_pubsub_a_subscriber_that_is_down_misses_the_event(fanout, world):
    fanout.start_subscribers("analytics", "audit")
    fanout.start_api()
    fanout.wait_subscribed(2)
    before, while_down, after = 5401, 5402, 5403
    fanout.confirm([before])
    fanout.wait_reacted(["analytics", "audit"], [before])

    fanout.stop("analytics")
    fanout.wait_unsubscribed(1)
    fanout.confirm([while_down])
    fanout.wait_reacted(["audit"], [while_down])

    fanout.start_subscribers("analytics")
    fanout.wait_subscribed(2)
    fanout.confirm([after])
    fanout.wait_reacted(["analytics", "audit"], [after])
    wait_quiet(world, quiet_for=1.0, timeout=15)
    fanout.assert_reactions_came_from_subscribers(["analytics", "audit"], [before, while_down, after])
    assert while_down not in fanout.reactions("analytics"), (
        f"The analytics subscriber was stopped while order {while_down} was confirmed and started again later, yet "
        f"it reacted to order {while_down}. With pub/sub that cannot happen: a message goes to whoever listens at "
        "that moment and is gone (the caveat, lecture §4.4). Step one is plain pub/sub: with EVENT_BUS=pubsub, "
        f"PUBLISH on {CHANNEL!r} and SUBSCRIBE to it, nothing more. Remembering is step two's job.\n"
        + fanout.describe()
    )
