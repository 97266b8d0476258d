"""Whether a confirm's answer waits for the side effects, found by holding them in the world.

Timestamps cannot tell: on a busy machine the check notices an answer late, after a quick side effect that ran
behind it has finished. A held call never finishes, so an answer that comes while every side effect is held
waited for none; one that does not come is let go by releasing the services one at a time, quickest first, and
the release after which it comes names what it waited for.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import httpx

from ticketrail.checks.contract import confirm
from ticketrail.services import DURATIONS, SHORT_NAMES, SIDE_EFFECTS
from ticketrail.system import Api
from ticketrail.worldctl import Call, WorldControl

# An answer that waits for nothing comes in milliseconds: this leaves a busy machine ample time to deliver it.
PATIENCE = 5.0
# After a release, how long an answer that waited for the released call may take to come once that call ended.
GRACE = 2.0
QUICKEST_FIRST = tuple(sorted(SIDE_EFFECTS, key=DURATIONS.__getitem__))


@dataclass
class HeldConfirm:
    order_id: int
    response: httpx.Response | None = None
    answered_at: float | None = None  # time.time() when the answer arrived
    error: Exception | None = None
    released: list[str] = field(default_factory=list)  # services let go before the answer came, in that order
    started: list[str] = field(default_factory=list)  # side effects whose calls had started while all were held

    @property
    def waited(self) -> bool:
        return bool(self.released) or self.response is None

    @property
    def waited_for_everything(self) -> bool:
        return self.response is None or set(self.released) == set(SIDE_EFFECTS)

    def describe(self) -> str:
        """'order 501's answer came only once the analytics call was let go …', for an answer that waited."""
        held = ", ".join(SHORT_NAMES[s] for s in self.started) or "none of them"
        told = (f"The check held every side-effect call in the world (calls that had started for order "
                f"{self.order_id}: {held}). ")
        if self.response is None:
            return told + (f"POST /orders/{self.order_id}/confirm never answered, even once every one was let go "
                           f"({self.error or 'no answer'}).")
        if not self.released:
            return told + f"Order {self.order_id}'s answer came while they were held: it waited for none."
        last = SHORT_NAMES[self.released[-1]]
        if self.waited_for_everything:
            return told + (f"Order {self.order_id}'s answer came only once all of them were let go, the {last} "
                           f"last: the answer waited for every side effect, the {last} included.")
        return told + (f"Order {self.order_id}'s answer came only once the {last} call was let go (quickest first: "
                       f"{', '.join(SHORT_NAMES[s] for s in self.released)}): the answer waited for the {last}.")


def confirm_with_side_effects_held(api: Api, world: WorldControl, order_id: int) -> HeldConfirm:
    """Confirm while the world holds every side effect; if the answer waits, let them go one at a time: a held
    call of this order first (quickest first), else the quickest service not yet let go."""
    outcome = HeldConfirm(order_id)
    answered = threading.Event()

    def held_now(calls: list[Call] | None = None) -> list[str]:
        calls = world.ledger(order_id=order_id) if calls is None else calls
        return [c.service for c in calls if c.service in SIDE_EFFECTS and c.held and c.outcome == "running"
                and c.service not in outcome.released]

    for service in SIDE_EFFECTS:
        world.hold(service)
    sender = _send_confirm(api, outcome, answered)
    try:
        answered.wait(PATIENCE)
        outcome.started = [s for s in SIDE_EFFECTS if world.ledger(s, order_id=order_id)]
        while not answered.is_set():
            held = held_now()
            waiting = [s for s in QUICKEST_FIRST if s in held] or [s for s in QUICKEST_FIRST
                                                                   if s not in outcome.released]
            if not waiting:
                answered.wait(PATIENCE)
                break
            world.release(waiting[0])
            outcome.released.append(waiting[0])
            _wait_for_the_next_move(world, order_id, waiting[0], answered, held_now)
    finally:
        for service in SIDE_EFFECTS:
            world.release(service)
    sender.join(PATIENCE)
    if outcome.response is None and outcome.error is None:
        outcome.error = TimeoutError(f"no answer {PATIENCE:.0f} s after every side effect was let go")
    return outcome


def _wait_for_the_next_move(world: WorldControl, order_id: int, released: str, answered: threading.Event,
                            held_now: Callable[..., list[str]]) -> None:
    """Until the answer comes, a call of the order is newly held, or the released call ended GRACE s ago."""
    ended_at, give_up = None, time.monotonic() + PATIENCE + GRACE + DURATIONS[released]
    held_before = set(held_now())
    while not answered.wait(0.05) and time.monotonic() < give_up:
        calls = world.ledger(order_id=order_id)  # one read of the ledger a look
        if set(held_now(calls)) - held_before:
            return
        if ended_at is None and all(c.end is not None for c in calls if c.service == released):
            ended_at = time.monotonic()
        if ended_at is not None and time.monotonic() - ended_at >= GRACE:
            return


def answer_while_held(api: Api, world: WorldControl, order_id: int, service: str,
                      patience: float = PATIENCE / 2) -> httpx.Response | None:
    """Confirm while the world holds `service` (one the answer must wait for): the answer, if it came within
    `patience` s all the same; then `service` is let go and the confirm finishes."""
    outcome, answered = HeldConfirm(order_id), threading.Event()
    world.hold(service)
    sender = _send_confirm(api, outcome, answered)
    try:
        came = answered.wait(patience)
    finally:
        world.release(service)
    sender.join(PATIENCE)
    return outcome.response if came else None


def _send_confirm(api: Api, outcome: HeldConfirm, answered: threading.Event) -> threading.Thread:
    """The confirm, sent from a thread of its own so that the check can act while it waits; `answered` when done."""

    def send() -> None:
        try:
            outcome.response = confirm(api, outcome.order_id, timeout=600)
            outcome.answered_at = time.time()
        except httpx.HTTPError as error:
            outcome.error = error
        finally:
            answered.set()

    sender = threading.Thread(target=send, name=f"confirm {outcome.order_id}", daemon=True)
    sender.start()
    return sender
