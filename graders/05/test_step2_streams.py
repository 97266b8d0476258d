"""Hidden graders for exercise 05, step two: durable fan-out with a Redis Stream and one consumer group per subscriber.

Every program runs with EVENT_BUS=streams. A group is created from id 0 (README, the contract):
an event emitted before a subscriber first started is not lost to it (lecture §4.4). The checks
that are about something else wait until each subscriber's group exists before they confirm;
one check confirms first and starts the subscribers after.
"""

import time
from pathlib import Path

import pytest

from ticketrail.checks.contract import UNKNOWN_ORDER
from ticketrail.checks.fanout import (
    REACTION_TIMEOUT,
    STREAM,
    SUBSCRIBERS,
    FanOut,
    crash_recovery_advice,
    email_jobs,
    entries_without_event_field,
    event_problems,
    group_pending,
    job_order,
    job_shape_problems,
    not_confirmed,
    repeated_event_ids,
    stream_events,
    unknown_order_events,
)
from ticketrail.checks.latency import EMIT_AND_ANSWER, assert_confirm_within_budget
from ticketrail.waiting import wait_until
from ticketrail.worldctl import Call, wait_quiet

LOYALTY_SUBSCRIBER = Path(__file__).with_name("loyalty_subscriber.py")
RECOVERY_SLACK = 7.0  # seconds for a restarted subscriber to start and come round to XAUTOCLAIM, on a busy machine


@pytest.fixture
def fanout(system, world, redis_client) -> FanOut:
    return FanOut(system, world, redis_client, bus="streams")


def test_confirm_answers_within_the_latency_budget(fanout, world, budget):
    api = fanout.start_api()
    assert_confirm_within_budget(api, world, budget("confirm"), requests=30, cure=EMIT_AND_ANSWER)


def test_confirm_appends_one_order_confirmed_event_to_the_stream(fanout, world, redis_client):
    api = fanout.start_api()
    orders = [6101, 6102, 6103]
    answered = fanout.confirm(orders)
    unknown = api.client.post(f"/orders/{UNKNOWN_ORDER}/confirm")
    assert unknown.status_code == 404, (
        f"POST /orders/{UNKNOWN_ORDER}/confirm answered {unknown.status_code}; there is no such order, so the "
        "answer is 404 and no event is emitted."
    )
    entries = stream_events(redis_client)
    for_unknown = unknown_order_events(event for _, event in entries)
    assert not for_unknown, (
        f"POST /orders/{UNKNOWN_ORDER}/confirm answered {unknown.status_code}, yet the stream {STREAM!r} holds an "
        f"event for order {UNKNOWN_ORDER}, which does not exist: {str(for_unknown[0])[:300]}. An unknown order emits "
        "nothing: look the order up first, and emit only once it is found and confirmed (README, the endpoint)."
    )
    assert len(entries) == len(orders), (
        f"With EVENT_BUS=streams the check confirmed orders {orders} (and the unknown order {UNKNOWN_ORDER}); the "
        f"stream {STREAM!r} holds {len(entries)} entries: {str(entries)[:400]}. Each confirm appends exactly one "
        f"entry, `XADD {STREAM} * event <the event as JSON>`, and an unknown order appends none."
    )
    unnamed = entries_without_event_field(redis_client)
    assert not unnamed, (
        f"Entry {unnamed[0][0]} of {STREAM!r} has the field{'s' if len(unnamed[0][1]) > 1 else ''} "
        f"{', '.join(unnamed[0][1])} and no field `event`. The contract appends the event as one field named "
        f"`event`, its JSON as the value: `XADD {STREAM} * event <the event as JSON>` (README, the bus); every "
        "subscriber, the ones you have never heard of too, reads it from there."
    )
    repeated = repeated_event_ids(event for _, event in entries)
    assert not repeated, (
        f"Several entries of {STREAM!r} carry the event_id {repeated[0]!r}; every event gets a new one "
        "(uuid.uuid4().hex), so that a subscriber can tell a repeated event from a new one."
    )
    for order_id, (entry_id, event) in zip(orders, entries):
        problems = event_problems(event, order_id, answered[order_id])
        assert not problems, (
            f"Entry {entry_id}, the event for order {order_id}, breaks the contract: {'; '.join(problems)}.\n"
            f"Its field `event` held: {str(event)[:400]}"
        )
    unconfirmed = not_confirmed(world, orders)
    assert not unconfirmed, (
        f"The check confirmed orders {orders}; the shop's database does not show {unconfirmed} as confirmed: no "
        "update_order_status(order_id, \"confirmed\") was made for them. The endpoint reads the order, marks it "
        "confirmed, emits the event and answers (README, the endpoint): the status is the cashier's own work, not "
        "a listener's, so it stays when the direct calls to the listeners go."
    )


def test_a_subscriber_started_for_the_first_time_receives_the_events_emitted_before_it_started(fanout):
    fanout.start_api()
    before, after = [6801, 6802], [6803]
    fanout.confirm(before)
    fanout.start_subscribers("analytics", "audit")
    fanout.wait_groups(["analytics", "audit"])
    fanout.confirm(after)
    fanout.assert_reacted_once_in_order(["analytics", "audit"], before + after, advice=(
        f"Orders {before} were confirmed before the analytics and audit subscribers had ever run, then they started "
        f"for the first time, then order {after[0]} was confirmed. The events were in the stream {STREAM!r} all "
        f"along. A subscriber's group is created from id 0, `XGROUP CREATE {STREAM} <name> 0 MKSTREAM`, so that "
        "even on its very first start it reads every event already there; a group created at `$` starts after "
        "the newest entry, and the events emitted before it are lost to that subscriber (README, the contract; "
        "lecture §4.4)."
    ))


def test_each_subscriber_reacts_once_to_each_event_in_order(fanout):
    fanout.start_subscribers(*SUBSCRIBERS)
    fanout.start_api()
    fanout.wait_groups(SUBSCRIBERS)
    orders = [6201, 6202, 6203, 6204]
    fanout.confirm(orders)
    fanout.assert_reacted_once_in_order(SUBSCRIBERS, orders, lecture="§4.3")


def test_each_subscriber_reads_through_its_own_group_and_acknowledges_every_event(fanout, redis_client):
    fanout.start_subscribers(*SUBSCRIBERS)
    fanout.start_api()
    fanout.wait_groups(SUBSCRIBERS)
    orders = [6301, 6302, 6303]
    fanout.confirm(orders)
    fanout.wait_reacted(SUBSCRIBERS, orders)

    def unacknowledged() -> dict[str, int]:
        pending = group_pending(redis_client)
        return {name: pending.get(name, 0) for name in SUBSCRIBERS if pending.get(name, 0)}

    wait_until(lambda: not unacknowledged(), timeout=15, describe=lambda: (
        "Every subscriber reacted to every event, but 15 s later these consumer groups still hold entries they "
        f"read and never acknowledged: {', '.join(f'{g}: {n}' for g, n in unacknowledged().items())}. "
        f"`XACK {STREAM} <group> <entry id>` once the reaction is done: an entry that is never acknowledged "
        "stays pending forever (XPENDING lists it), and is handed out again as if its subscriber had crashed.\n"
        + fanout.describe()
    ))


def test_a_subscriber_the_publisher_never_heard_of_receives_every_event(fanout):
    fanout.start_api()
    orders = [6401, 6402, 6403, 6404]
    fanout.confirm(orders[:2])
    fanout.start_kit_subscriber(LOYALTY_SUBSCRIBER)
    fanout.wait_groups(["loyalty"])
    fanout.confirm(orders[2:])
    fanout.assert_reacted_once_in_order(["loyalty"], orders, lecture="§5.1", advice=(
        f"The check brought a subscriber of its own, loyalty points, with its own consumer group on {STREAM!r}, "
        f"started after orders {orders[:2]} were confirmed. Your publisher has never heard of it, and should not "
        "need to: append every event to that one stream, and every group, old or new, reads all of it. Adding "
        "a subscriber must not change the publisher (open/closed, lecture §5.1)."
    ))


def test_a_subscriber_stopped_while_events_are_published_catches_up_after_a_restart(fanout, world):
    fanout.start_subscribers("analytics", "audit")
    fanout.start_api()
    fanout.wait_groups(["analytics", "audit"])
    before, while_down = [6501], [6502, 6503]
    fanout.confirm(before)
    fanout.wait_reacted(["analytics", "audit"], before)
    wait_quiet(world, quiet_for=0.5, timeout=10)

    fanout.stop("analytics")
    fanout.confirm(while_down)
    fanout.wait_reacted(["audit"], while_down)
    fanout.start_subscribers("analytics")
    # Not in order: a stop that lands between a read and its XACK leaves an entry to recover after the rest.
    fanout.assert_reacted_once_in_order(["analytics", "audit"], before + while_down, timeout=2 * REACTION_TIMEOUT,
                                        in_order=False, advice=(
        f"The analytics subscriber was stopped while orders {while_down} were confirmed, then started again. "
        "A stream remembers: the subscriber's consumer group knows the last entry it was given, so on restart "
        f"`XREADGROUP GROUP analytics <consumer> ... STREAMS {STREAM} >` hands over what was missed. If your "
        "subscriber listens on a pub/sub channel, the events sent while it was down are gone (§4.4)."
    ))


def test_an_event_read_but_not_acknowledged_when_a_subscriber_crashed_is_recovered_and_handled_once(
        fanout, world, redis_client, exercise):
    claim_idle_ms = int(exercise.env["EVENT_CLAIM_IDLE_MS"])
    fanout.start_subscribers("audit")
    fanout.start_api()
    fanout.wait_groups(["audit"])
    crashed, later = 6601, 6602

    world.hold("write_audit_log")
    fanout.confirm([crashed])
    held = wait_until(lambda: [c for c in world.ledger("write_audit_log", order_id=crashed) if c.held],
                      timeout=REACTION_TIMEOUT, describe=lambda: (
                          f"The audit call for order {crashed} was held so the check could crash the subscriber in "
                          f"the middle of it, but within {REACTION_TIMEOUT:.0f} s the audit subscriber never called "
                          "write_audit_log.\n"
                          + fanout.describe()))
    killed_pid = str(fanout.children["audit"].pid)
    assert held[0].caller_pid == killed_pid, (
        f"The held audit call came from process {held[0].caller_pid}, not from the audit subscriber ({killed_pid})."
    )
    fanout.kill("audit")
    fanout.confirm([later])
    world.heal("write_audit_log")
    fanout.start_subscribers("audit")
    new_pid = str(fanout.children["audit"].pid)

    # Pending since it was read (when the held call began): claimable EVENT_CLAIM_IDLE_MS later, and the restarted
    # subscriber has a few seconds more to start and come round its loop.
    within = claim_idle_ms / 1000 + RECOVERY_SLACK - (time.time() - held[0].start)

    def handled_again() -> list[Call]:
        return [c for c in world.ledger("write_audit_log", order_id=crashed) if c.caller_pid == new_pid]

    def handled_late_after() -> float | None:
        # On a busy machine the look at the group can come after a late claim: then the delay is the diagnosis.
        late = handled_again()
        return late[0].start - held[0].start if late else None

    wait_until(handled_again, timeout=within, describe=lambda: (
        f"The audit subscriber was killed (SIGKILL) in the middle of order {crashed}'s event: it had read the entry "
        f"and not yet acknowledged it. {claim_idle_ms / 1000 + RECOVERY_SLACK:g} s after it was read, the restarted "
        f"subscriber (pid {new_pid}) had not handled that event again; with EVENT_CLAIM_IDLE_MS={claim_idle_ms} it "
        f"is claimable after {claim_idle_ms / 1000:g} s. "
        + crash_recovery_advice(redis_client, "audit", crashed, claim_idle_ms, handled_late_after()) + "\n"
        + fanout.describe()))
    fanout.wait_reacted(["audit"], [crashed, later])
    wait_until(lambda: group_pending(redis_client).get("audit", 0) == 0, timeout=REACTION_TIMEOUT, describe=lambda: (
        f"The events were handled, but the audit group still holds {group_pending(redis_client).get('audit')} "
        f"entries read and never acknowledged: XACK each one once it is handled.\n" + fanout.describe()
    ))
    wait_quiet(world, quiet_for=1.0, timeout=15)
    effects = world.effects("write_audit_log")
    assert effects[crashed] == 1 and effects[later] == 1, (
        f"After the crash and the recovery the audit log was written {effects[crashed]} time(s) for order {crashed} "
        f"and {effects[later]} time(s) for order {later}; once each is the goal. A recovered event may be handled "
        "twice, so the reaction must be idempotent: pass idempotency_key=event[\"event_id\"] to "
        "shop.write_audit_log, and the second call has no second effect.\n" + fanout.describe()
    )


def test_the_email_subscriber_hands_each_event_to_the_job_queue(fanout, system, world, redis_client):
    fanout.start_subscribers("email")
    fanout.start_api()
    fanout.wait_groups(["email"])
    orders = [6701, 6702]
    fanout.confirm(orders)
    fanout.wait_reacted(["email"], orders, advice=(
        "The email subscriber does not send the email itself: it pushes a job onto jobs:email, in exercise 02's "
        'format {"id", "task": "send_confirmation_email", "args": {"email", "order_id", "order_total"}, '
        '"created_at"}, and the email worker sends it (pub/sub for fan-out, the job queue for reliable work, §4.4).'
    ))
    wait_quiet(world, quiet_for=1.0, timeout=10)
    sent = world.ledger("send_confirmation_email")
    assert not sent, (
        f"No email worker was running, yet the world saw {len(sent)} email(s) sent, by {sent[0].caller}. The email "
        "subscriber hands the email to the job queue and the worker sends it (§4.4): the subscriber stays quick, "
        "and the queue's retries (exercise 04) protect the email."
    )
    jobs = email_jobs(redis_client)
    for job in jobs:
        problems = job_shape_problems(job)
        assert not problems, (
            f"A job on jobs:email breaks exercise 02's format: {'; '.join(problems)}.\nIt was: {str(job)[:300]}"
        )
    per_order = {o: [j["id"] for j in jobs if job_order(j) == o] for o in orders}
    assert all(len(ids) == 1 for ids in per_order.values()), (
        f"The jobs on jobs:email per order: {per_order}. One event makes one job."
    )

    worker = system.start_program("worker.py")
    wait_until(lambda: set(orders) <= world.effects("send_confirmation_email").keys(), timeout=REACTION_TIMEOUT,
               describe=lambda: (f"The email worker (worker.py) ran, but within {REACTION_TIMEOUT:.0f} s not every "
                                 "order's email was sent: do the jobs hold the customer's address and order in "
                                 "`args`?\n" + fanout.describe() + "\nThe worker printed:\n" + worker.log_tail(10)))
    wait_quiet(world, quiet_for=1.0, timeout=15)
    effects = world.effects("send_confirmation_email")
    assert all(effects[o] == 1 for o in orders), (
        f"Emails sent per order: { {o: effects[o] for o in orders} }; one each is the goal. The worker sends one "
        "email per job, with the job's id as its idempotency key: one event, one job."
    )
    senders = {c.caller for c in world.ledger("send_confirmation_email") if c.caller_pid != str(worker.pid)}
    assert not senders, (
        f"Some emails were sent by {', '.join(sorted(map(str, senders)))}, not by the email worker. The email "
        "subscriber only hands the email to the job queue (§4.4)."
    )
