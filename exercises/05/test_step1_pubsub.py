"""Self-checks for exercise 05, step one: pub/sub. Run them with `pytest exercises/05` from the kit's folder.

Every program runs with EVENT_BUS=pubsub. Pub/sub forgets what nobody hears, so before
each confirm the checks wait until every subscriber is on the channel (PUBSUB NUMSUB).
"""

import pytest

from ticketrail.checks.fanout import (
    CHANNEL,
    FanOut,
    email_jobs,
    event_problems,
    job_shape_problems,
    wait_for_channel_messages,
)
from ticketrail.worldctl import wait_quiet


@pytest.fixture
def fanout(system, world, redis_client) -> FanOut:
    return FanOut(system, world, redis_client, bus="pubsub")


@pytest.mark.task(1)
def test_confirm_publishes_an_order_confirmed_event_on_the_channel(fanout, redis_client):
    listener = redis_client.pubsub()
    listener.subscribe(CHANNEL)
    try:
        fanout.start_api()
        fanout.wait_subscribed(1)
        answered = fanout.confirm([47])
        heard = wait_for_channel_messages(listener, 1, timeout=10)
    finally:
        listener.close()
    assert len(heard) == 1, (
        f"Confirmed order 47 while listening on {CHANNEL!r} and heard {len(heard)} message(s): {str(heard)[:300]}. "
        f"One confirm publishes one OrderConfirmed event on {CHANNEL!r} (lecture §4.3)."
    )
    problems = event_problems(heard[0], 47, answered[47])
    assert not problems, f"The event breaks the contract: {'; '.join(problems)}.\nIt was: {str(heard[0])[:300]}"


@pytest.mark.task(2)
def test_with_pubsub_warehouse_analytics_and_audit_each_react_once(fanout):
    names = ["warehouse", "analytics", "audit"]
    fanout.start_subscribers(*names)
    fanout.start_api()
    fanout.wait_subscribed(len(names))
    fanout.confirm([47, 48])
    fanout.assert_reacted_once_in_order(names, [47, 48])


@pytest.mark.task(3)
def test_the_email_subscriber_puts_one_job_on_jobs_email(fanout, redis_client):
    fanout.start_subscribers("email")
    fanout.start_api()
    fanout.wait_subscribed(1)
    fanout.confirm([47])
    fanout.assert_reacted_once_in_order(["email"], [47])
    problems = job_shape_problems(email_jobs(redis_client)[0])
    assert not problems, f"The job on jobs:email breaks exercise 02's format: {'; '.join(problems)}."


@pytest.mark.task(4)
def test_with_pubsub_a_subscriber_that_is_down_misses_the_event(fanout, world):
    fanout.start_subscribers("analytics", "audit")
    fanout.start_api()
    fanout.wait_subscribed(2)
    fanout.stop("analytics")
    fanout.wait_unsubscribed(1)
    fanout.confirm([47])
    fanout.wait_reacted(["audit"], [47])
    fanout.start_subscribers("analytics")
    fanout.wait_subscribed(2)
    wait_quiet(world, quiet_for=1.0, timeout=15)
    assert 47 not in fanout.reactions("analytics"), (
        "The analytics subscriber was down when order 47 was confirmed, yet it reacted to it. With plain pub/sub "
        "that cannot happen (the caveat, lecture §4.4): is EVENT_BUS=pubsub really PUBLISH and SUBSCRIBE?"
    )
