"""Exercise 05's scenario, fan-out: `FanOut`, one test's pizza shop with an event bus.

The student's API and subscribers (and, when a check brings one, a subscriber of the kit's
that the publisher has never heard of), the OrderConfirmed events on the bus, the consumer
groups, and what a failure message needs to say about them.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from uuid import UUID
from pathlib import Path
from typing import Iterable

import httpx
import redis

from ticketrail.checks.contract import UNKNOWN_ORDER, confirm_answer
from ticketrail.checks.jobs import EMAIL_QUEUE, EMAIL_TASK, decoded, parse_time
from ticketrail.procs import Child, python_argv
from ticketrail.services import SHORT_NAMES, order_record
from ticketrail.system import Api, System
from ticketrail.waiting import wait_until
from ticketrail.worldctl import WorldControl, wait_quiet

CHANNEL = "orders"  # step one: PUBLISH orders <event JSON>
STREAM = "events:orders"  # step two: XADD events:orders * event <event JSON>
SUBSCRIBERS = ("email", "warehouse", "analytics", "audit")
# The world service each subscriber's reaction reaches; the email subscriber's reaction is a job on EMAIL_QUEUE.
SERVICE_OF = {
    "warehouse": "notify_warehouse_api",
    "analytics": "update_analytics",
    "audit": "write_audit_log",
    "loyalty": "add_loyalty_points",
}
EVENT_TYPE = "OrderConfirmed"
# Deadlines: a subscriber starts in about a second and reacts in a few hundred milliseconds;
# these leave ten times that for a machine that is busy with other work.
READY_TIMEOUT = 20.0
REACTION_TIMEOUT = 15.0
ANSWER_TIMEOUT = 15.0
NOW_SLACK = 300.0  # seconds a time stamped "now" in UTC may be from the check's own clock


def event_problems(event: object, order_id: int, answered_event_id: object = None) -> list[str]:
    """What is wrong with one OrderConfirmed event for `order_id`, in words; empty when nothing is."""
    if not isinstance(event, dict):
        return [f"the event is not a JSON object but {type(event).__name__}: {str(event)[:120]}"]
    order = order_record(order_id)
    problems = []
    if event.get("type") != EVENT_TYPE:
        problems.append(f'"type" is {event.get("type")!r}, not {EVENT_TYPE!r}')
    if not isinstance(event.get("event_id"), str) or not _is_uuid4(event["event_id"]):
        problems.append(f'"event_id" is {event.get("event_id")!r}, not a uuid4 as text (uuid.uuid4().hex)')
    elif answered_event_id is not None and event["event_id"] != answered_event_id:
        problems.append(f'"event_id" is {event["event_id"]!r} but the answer to the confirm said {answered_event_id!r}')
    if event.get("order_id") != order_id or isinstance(event.get("order_id"), bool):
        problems.append(f'"order_id" is {event.get("order_id")!r}, not the integer {order_id}')
    if event.get("user_email") != order["user_email"]:
        problems.append(f'"user_email" is {event.get("user_email")!r}, not {order["user_email"]!r} (from the order)')
    total = event.get("total")
    is_number = isinstance(total, (int, float)) and not isinstance(total, bool)
    if not is_number or not math.isclose(total, order["total"], abs_tol=0.005):
        problems.append(f'"total" is {total!r}, not the number {order["total"]} (from the order)')
    problems += _now_in_utc_problems("occurred_at", event.get("occurred_at"))
    return problems


def _now_in_utc_problems(field: str, value: object, now: datetime | None = None) -> list[str]:
    """A time the contract says is UTC: ISO 8601, with a zero offset, and close to now."""
    moment = parse_time(value, exact=True)
    if moment is None:
        return [f'"{field}" is {value!r}, not an ISO 8601 time such as "2026-02-14T10:30:00+00:00"']
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        offset = "no offset" if moment.tzinfo is None else f"the offset {moment.utcoffset()}"
        return [f'"{field}" is {value!r}, with {offset}; the contract says UTC, written with +00:00 or Z: '
                "datetime.now(timezone.utc).isoformat() (the programs run with TZ=America/St_Johns, so "
                "datetime.now() gives local time there)"]
    now = now or datetime.now(timezone.utc)
    hours = (moment - now).total_seconds() / 3600
    if abs(hours) * 3600 > NOW_SLACK:
        why = ("the local time of the programs (TZ=America/St_Johns, UTC−03:30) labelled as UTC"
               if abs(abs(hours) - 3.5) < 0.1 else "not the current time")
        return [f'"{field}" is {value!r}, {hours:+.1f} h from the current UTC time '
                f"({now.isoformat(timespec='seconds')}): {why}"]
    return []


def _is_uuid4(text: str) -> bool:
    try:
        return UUID(text).version == 4
    except ValueError:
        return False


def repeated_event_ids(events: Iterable[object]) -> list[str]:
    """The event ids that more than one event carries: each event gets a new one."""
    ids = Counter(e.get("event_id") for e in events if isinstance(e, dict) and isinstance(e.get("event_id"), str))
    return [event_id for event_id, n in ids.items() if n > 1]


def stream_events(client: redis.Redis) -> list[tuple[str, object]]:
    """(entry id, parsed event) for every entry of the stream; an entry without `event` gives its fields."""
    return [(entry_id, decoded(fields["event"]) if "event" in fields else fields)
            for entry_id, fields in client.xrange(STREAM)]


def entries_without_event_field(client: redis.Redis) -> list[tuple[str, list[str]]]:
    """(entry id, its field names) for each entry of the stream that has no field `event`."""
    return [(entry_id, sorted(fields)) for entry_id, fields in client.xrange(STREAM) if "event" not in fields]


def unknown_order_events(events: Iterable[object]) -> list[object]:
    return [e for e in events if isinstance(e, dict) and e.get("order_id") in (UNKNOWN_ORDER, str(UNKNOWN_ORDER))]


def not_confirmed(world: WorldControl, order_ids: Iterable[int]) -> list[int]:
    """The orders the shop's database does not show as confirmed (update_order_status(order, "confirmed"))."""
    return [o for o in order_ids if not any(h.get("status") == "confirmed" for h in world.order_history(o))]


def email_jobs(client: redis.Redis) -> list[object]:
    """The jobs waiting on jobs:email, oldest first (LPUSH puts the newest on the left)."""
    return [decoded(raw) for raw in reversed(client.lrange(EMAIL_QUEUE, 0, -1))]


def job_order(job: object) -> int | None:
    args = job.get("args") if isinstance(job, dict) else None
    value = args.get("order_id") if isinstance(args, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def job_shape_problems(job: object) -> list[str]:
    """What is wrong with the shape of one job in exercise 02's format {id, task, args, created_at}; which order
    it is for is the caller's to check."""
    if not isinstance(job, dict):
        return [f"the job is not a JSON object: {str(job)[:120]}"]
    problems = [f'it has no "{key}"' for key in ("id", "task", "args", "created_at") if key not in job]
    if job.get("task") != EMAIL_TASK:
        problems.append(f'"task" is {job.get("task")!r}, not "{EMAIL_TASK}"')
    args = job.get("args")
    if not isinstance(args, dict) or not {"email", "order_id", "order_total"} <= set(args):
        problems.append(f'"args" is {args!r}; it needs "email", "order_id" and "order_total"')
    if "created_at" in job:
        problems += _now_in_utc_problems("created_at", job["created_at"])
    return problems


def group_pending(client: redis.Redis) -> dict[str, int]:
    """Consumer group name -> entries read but not acknowledged."""
    try:
        return {group["name"]: group["pending"] for group in client.xinfo_groups(STREAM)}
    except redis.ResponseError:  # no stream yet
        return {}


def pending_entries(client: redis.Redis, group: str) -> dict[str, int]:
    """The entries a group's consumers read and never acknowledged (XPENDING): entry id -> ms since delivered."""
    try:
        pending = client.xpending_range(STREAM, group, min="-", max="+", count=1000)
    except redis.ResponseError:
        return {}
    return {p["message_id"]: p["time_since_delivered"] for p in pending}


def crash_recovery_advice(client: redis.Redis, group: str, order_id: int, claim_idle_ms: int,
                          handled_late_after: float | None = None) -> str:
    """Why an event read before a crash was not handled again in time, from what the group still holds.

    `handled_late_after`: seconds from the read to the restarted subscriber's reaction, when it came after the
    check gave up (the entry is then acknowledged, and only the delay tells what went wrong)."""
    read_env = ("Read EVENT_CLAIM_IDLE_MS from the environment: 10000 is only the default for when it is unset.")
    if handled_late_after is not None:
        return (f"It was handled again later, {handled_late_after:.1f} s after it was read, while "
                f"EVENT_CLAIM_IDLE_MS={claim_idle_ms} here makes it claimable after {claim_idle_ms / 1000:g} s: "
                f"claim with XAUTOCLAIM on every turn of the loop, with that idle time. {read_env}")
    entry = next((entry_id for entry_id, event in stream_events(client)
                  if isinstance(event, dict) and event.get("order_id") == order_id), None)
    if entry is None:
        return f"The stream {STREAM!r} holds no event for order {order_id}."
    pending = pending_entries(client, group)
    if entry in pending:
        idle = pending[entry]
        return (f"Its entry {entry} is still pending in the {group} group (XPENDING lists it, idle for {idle} ms; "
                f"EVENT_CLAIM_IDLE_MS={claim_idle_ms} here): claim it with XAUTOCLAIM once it has been "
                f"idle EVENT_CLAIM_IDLE_MS, on every turn of the loop, and handle it. {read_env}")
    return (f"Its entry {entry} is not pending in the {group} group (XPENDING lists nothing for it): the entry was "
            "acknowledged although its reaction never finished. Acknowledging before reacting loses the event when "
            "the crash comes in between: XACK an entry only once its reaction is done (README, the contract).")


class FanOut:
    """One test's shop: the student's API and subscribers on one bus (pubsub or streams)."""

    def __init__(self, system: System, world: WorldControl, client: redis.Redis, bus: str) -> None:
        assert bus in ("pubsub", "streams")
        self.system, self.world, self.redis, self.bus = system, world, client, bus
        self.api: Api | None = None
        self.children: dict[str, Child] = {}  # the current process of each subscriber
        self.pids: dict[str, set[str]] = {}  # every process each subscriber ever ran as
        self.event_ids: dict[int, str] = {}  # order id -> the event_id its confirm answered
        self._runs: Counter = Counter()

    # --- starting and stopping -------------------------------------------------------------

    def start_api(self) -> Api:
        self.api = self.system.start_api(EVENT_BUS=self.bus)
        return self.api

    def start_subscribers(self, *names: str) -> None:
        for name in names:
            self._runs[name] += 1
            run = f" (run {self._runs[name]})" if self._runs[name] > 1 else ""
            child = self.system.start_program("subscribers.py", "--name", name, name=f"{name} subscriber{run}",
                                              EVENT_BUS=self.bus)
            self._track(name, child)

    def start_kit_subscriber(self, program: Path, name: str = "loyalty") -> Child:
        """The kit's own subscriber: kit code, started from its own folder, never the student's."""
        env = self.system.environment(EVENT_BUS=self.bus)
        if self.system.world_socket is not None:
            # The student's programs reach the world's socket where their jail mounts it; the kit's runs outside.
            env["TICKETRAIL_WORLD_SOCKET"] = str(self.system.world_socket)
        child = Child(f"{name} subscriber (the kit's)", python_argv(str(program), "--bus", self.bus),
                      program.parent, env, log_dir=self.system.log_dir)
        self.system.children.append(child)
        self._track(name, child)
        return child

    def _track(self, name: str, child: Child) -> None:
        self.children[name] = child
        self.pids.setdefault(name, set()).add(str(child.pid))

    def stop(self, name: str) -> None:
        """SIGTERM, as an operator stops a program (then SIGKILL if it lingers)."""
        child = self.children[name]
        child.stop(grace=5)
        assert not child.alive(), f"The {name} subscriber (pid {child.pid}) did not stop."

    def kill(self, name: str) -> None:
        """SIGKILL: the machine dies; nothing in the program runs after this."""
        child = self.children[name]
        child.kill()
        assert not child.alive(), f"The {name} subscriber (pid {child.pid}) is still alive after SIGKILL."

    # --- readiness -------------------------------------------------------------------------

    def numsub(self) -> int:
        return dict(self.redis.pubsub_numsub(CHANNEL)).get(CHANNEL, 0)

    def wait_subscribed(self, count: int, timeout: float = READY_TIMEOUT) -> None:
        """Pub/sub forgets what nobody hears: never publish before every subscriber listens."""
        __tracebackhide__ = True
        wait_until(lambda: self._running_or_fail() and self.numsub() >= count, timeout, lambda: (
            f"Waited {timeout:.0f} s for {count} subscribers on the channel {CHANNEL!r}; "
            f"PUBSUB NUMSUB {CHANNEL} says {self.numsub()}. With EVENT_BUS=pubsub each subscriber "
            f"SUBSCRIBEs to {CHANNEL!r} when it starts (README, the contract; lecture §4.3).\n" + self.describe()
        ))

    def wait_unsubscribed(self, count: int, timeout: float = 15) -> None:
        __tracebackhide__ = True
        wait_until(lambda: self.numsub() <= count, timeout, lambda: (
            f"A subscriber was stopped, yet after {timeout:.0f} s Redis still counts {self.numsub()} "
            f"subscribers on {CHANNEL!r} (expected {count}).\n" + self.describe()
        ))

    def wait_groups(self, names: Iterable[str], timeout: float = READY_TIMEOUT) -> None:
        """Streams remember, but a group must exist before it can be read from: wait for each one."""
        __tracebackhide__ = True
        names = list(names)
        wait_until(lambda: self._running_or_fail() and set(names) <= set(group_pending(self.redis)), timeout, lambda: (
            f"Waited {timeout:.0f} s for the consumer groups {', '.join(names)} on the stream {STREAM!r}; "
            f"Redis has: {', '.join(group_pending(self.redis)) or 'none'}. With EVENT_BUS=streams each "
            f"subscriber creates its own group, named after it (XGROUP CREATE {STREAM} <name> 0 MKSTREAM), "
            "when it starts (README, the contract)." + self._still_pubsub() + "\n" + self.describe()
        ))

    def _still_pubsub(self) -> str:
        if self.numsub() == 0:
            return ""
        return (f" Your subscribers listen on the pub/sub channel {CHANNEL!r} instead: with pub/sub a subscriber "
                "that is down misses every event sent meanwhile (the caveat of §4.4). Step two reads a stream, "
                "which remembers.")

    def _running_or_fail(self) -> bool:
        __tracebackhide__ = True
        dead = [(name, child) for name, child in self.children.items() if not child.alive()]
        if dead:
            name, child = dead[0]
            started_as = f" (`python subscribers.py --name {name}` with EVENT_BUS={self.bus})" \
                if child.argv[-2:] == ["--name", name] else ""
            others = f" So did: {', '.join(n for n, _ in dead[1:])}." if len(dead) > 1 else ""
            raise AssertionError(
                f"The {child.name} {child.describe_exit()} while the check waited for it to start{started_as}."
                f"{others} The last lines it printed:\n{child.log_tail(15) or '(nothing)'}"
            )
        return True

    # --- the cashier -----------------------------------------------------------------------

    def confirm(self, order_ids: Iterable[int]) -> dict[int, str]:
        """Confirm each order in turn; order id -> the event_id the answer gave."""
        __tracebackhide__ = True
        assert self.api is not None
        answered = {}
        for order_id in order_ids:
            try:
                body = confirm_answer(self.api, order_id, timeout=ANSWER_TIMEOUT)
            except httpx.TimeoutException:
                raise AssertionError(
                    f"POST /orders/{order_id}/confirm did not answer within {ANSWER_TIMEOUT:.0f} s. Does the endpoint "
                    "wait for a listener's work? The cashier emits OrderConfirmed and answers; the subscribers react "
                    "in their own processes (lecture §5.1).\n" + self.describe()
                ) from None
            as_agreed = (isinstance(body, dict) and body.get("status") == "confirmed"
                         and body.get("order_id") == order_id
                         and isinstance(body.get("event_id"), str) and bool(body["event_id"]))
            assert as_agreed, (
                f"POST /orders/{order_id}/confirm answered {body}; the contract is "
                f'{{"status": "confirmed", "order_id": {order_id}, "event_id": "<the id of the event it emitted>"}}.'
            )
            answered[order_id] = body["event_id"]
        self.event_ids.update(answered)
        return answered

    # --- what happened ---------------------------------------------------------------------

    def reactions(self, name: str) -> list[int]:
        """The orders a subscriber reacted to, in the order it did: effective world calls, or jobs on jobs:email."""
        if name == "email":
            return [o for o in map(job_order, email_jobs(self.redis)) if o is not None]
        return [c.order_id for c in self.world.ledger(SERVICE_OF[name]) if c.effective]

    def wait_reacted(self, names: Iterable[str], orders: Iterable[int], timeout: float = REACTION_TIMEOUT,
                     advice: str = "") -> None:
        __tracebackhide__ = True
        names, orders = list(names), list(orders)

        def missing() -> list[str]:
            seen = {name: set(self.reactions(name)) for name in names}  # one read of each a poll, not one an order
            return [f"{name} for order {o}" for name in names for o in orders if o not in seen[name]]

        wait_until(lambda: not missing(), timeout, lambda: (
            f"After {timeout:.0f} s these reactions had still not happened: {', '.join(missing()[:10])}"
            f"{' …' if len(missing()) > 10 else ''}. {advice or self._reaction_advice(names)}\n" + self.describe()
        ))

    def _reaction_advice(self, names: list[str]) -> str:
        reactions = "; ".join(
            f"{name}: a job on {EMAIL_QUEUE}" if name == "email" else f"{name}: shop.{SERVICE_OF[name]}(event)"
            for name in names
        )
        return f"Each subscriber reacts to every OrderConfirmed event ({reactions}); see the README's contract."

    def assert_reacted_once_in_order(self, names: Iterable[str], orders: Iterable[int],
                                     timeout: float = REACTION_TIMEOUT,
                                     lecture: str = "§4.3", advice: str = "", in_order: bool = True) -> None:
        """Each subscriber reacted to each order's event, once in effect, in the order they were confirmed.

        `in_order=False` after a subscriber was stopped: an entry it had read but not acknowledged
        when it stopped is recovered later than the entries after it, and that is correct.
        """
        __tracebackhide__ = True
        names, orders = list(names), list(orders)
        self.wait_reacted(names, orders, timeout, advice)
        wait_quiet(self.world, quiet_for=1.0, timeout=timeout)
        for name in names:
            seen = [o for o in self.reactions(name) if o in orders]
            twice = {o: n for o, n in Counter(seen).items() if n > 1}
            assert not twice, (
                f"The {name} subscriber reacted more than once to the same event: "
                + ", ".join(f"order {o} {n} times" for o, n in twice.items())
                + f". Each subscriber reacts once per event ({lecture}). {self._once_hint(name)}\n" + self.describe()
            )
            assert seen == orders or not in_order, (
                f"The orders were confirmed in the order {orders}, but the {name} subscriber reacted in the "
                f"order {seen}. One subscriber handles its events one after another, oldest first.\n" + self.describe()
            )
        self.assert_reactions_came_from_subscribers(names, orders)
        self.assert_reactions_carry_the_event_id(names, orders)

    def assert_reactions_carry_the_event_id(self, names: Iterable[str], orders: Iterable[int]) -> None:
        """The README's reactions pass idempotency_key=event["event_id"]: a repeated event then acts once."""
        __tracebackhide__ = True
        orders = set(orders)
        for name in names:
            if name not in SERVICE_OF or name == "loyalty":  # the loyalty subscriber is the kit's own
                continue
            for call in self.world.ledger(SERVICE_OF[name]):
                wanted = self.event_ids.get(call.order_id)
                assert call.order_id not in orders or wanted is None or call.idempotency_key == wanted, (
                    f"The {name} subscriber called shop.{SERVICE_OF[name]} for order {call.order_id} with the "
                    f"idempotency key {call.idempotency_key!r}; the event's id was {wanted!r}. Each reaction passes "
                    f"idempotency_key=event[\"event_id\"] (README, the subscribers), so that an event handled twice "
                    "(a subscriber that crashed before XACK) has no second effect."
                )

    def _once_hint(self, name: str) -> str:
        if name == "email":
            return "Push one job per event onto jobs:email."
        return (f"Pass idempotency_key=event[\"event_id\"] to shop.{SERVICE_OF[name]} so a repeated event has "
                "no second effect.")

    def assert_reactions_came_from_subscribers(self, names: Iterable[str], orders: Iterable[int]) -> None:
        """Command style (§5.1) shows in the ledger: the API calls what the subscribers should."""
        __tracebackhide__ = True
        orders = set(orders)
        api_pid = str(self.api.child.pid) if self.api is not None else None
        for name in names:
            if name not in SERVICE_OF:
                continue
            strangers = [c for c in self.world.ledger(SERVICE_OF[name])
                         if c.effective and c.order_id in orders and c.caller_pid not in self.pids.get(name, ())]
            if strangers:
                call = strangers[0]
                who = "the API" if call.caller_pid == api_pid else f"process {call.caller_pid} ({call.caller})"
                raise AssertionError(
                    f"The {SHORT_NAMES[call.service]} call for order {call.order_id} came from {who}, not from the "
                    f"{name} subscriber. The publisher does not call its listeners; it emits OrderConfirmed and "
                    "each subscriber reacts on its own (commands vs events, lecture §5.1)."
                )

    def describe(self) -> str:
        """Everything a failure message may need: the programs, the bus, the queue, the ledger."""
        lines = ["What the check saw:"]
        for name, child in self.children.items():
            lines.append(f"  {name} subscriber: pid {child.pid}, {child.describe_exit()}")
        if self.api is not None:
            lines.append(f"  API: pid {self.api.child.pid}, {self.api.child.describe_exit()}")
        try:
            keys = sorted(self.redis.scan_iter(count=100))
            lines.append(f"  Redis keys: {', '.join(keys[:12]) or 'none'}{' …' if len(keys) > 12 else ''}")
            lines.append(f"  channel {CHANNEL!r}: {self.numsub()} subscribed")
            lines.append(f"  stream {STREAM!r}: {self.redis.xlen(STREAM)} entries; groups (name: pending): "
                         + (", ".join(f"{g}: {n}" for g, n in group_pending(self.redis).items()) or "none"))
            lines.append(f"  {EMAIL_QUEUE}: {self.redis.llen(EMAIL_QUEUE)} jobs waiting")
        except redis.RedisError as error:
            lines.append(f"  Redis could not be read: {error}")
        services = [*SERVICE_OF.values(), EMAIL_TASK]
        lines.append(self.world.summary(services).replace("The world saw", "  The world saw"))
        return "\n".join(lines)


def wait_for_channel_messages(pubsub: redis.client.PubSub, count: int, timeout: float,
                              linger: float = 0.5) -> list[object]:
    """What a test's own subscription heard: wait up to `timeout` for `count` messages, then `linger` for extras."""
    messages: list[object] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None and message.get("type") == "message":
            messages.append(decoded(message["data"]))
            if len(messages) == count:
                deadline = min(deadline, time.monotonic() + linger)
    return messages

