"""Self-checks for exercise 01. Run them with `pytest exercises/01` from the kit's folder.

They start your app.py under a real uvicorn, with the shop's services running at a
fifth of the lecture's durations (so the overworked endpoint takes 1.3 s, not 6.6 s).
"""

import pytest

from ticketrail.checks.contract import UNKNOWN_ORDER, confirm
from ticketrail.checks.latency import assert_confirm_within_budget
from ticketrail.checks.ledger import assert_side_effects_exactly_once
from ticketrail.services import SHORT_NAMES, SIDE_EFFECTS
from ticketrail.worldctl import wait_quiet


@pytest.mark.task(2)
def test_confirming_an_order_answers_within_the_budget(system, world, budget):
    api = system.start_api()
    assert_confirm_within_budget(api, world, budget("confirm"), requests=10)


@pytest.mark.task(2)
def test_the_answer_says_the_order_is_confirmed(system, world):
    api = system.start_api()
    response = confirm(api, 42)
    assert response.status_code == 200, (
        f"POST /orders/42/confirm answered {response.status_code}: {response.text[:300]}"
    )
    assert response.json() == {"status": "confirmed", "order_id": 42}, (
        f"POST /orders/42/confirm answered {response.json()}; it should answer "
        '{"status": "confirmed", "order_id": 42}.'
    )
    statuses = [h["status"] for h in world.order_history(42)]
    assert "confirmed" in statuses, (
        "The answer came, but the database never recorded order 42 as confirmed. "
        "Keep `await shop.update_order_status(order_id, \"confirmed\")` in the request."
    )


@pytest.mark.task(3)
def test_every_side_effect_still_happens_once(system, world):
    api = system.start_api()
    for order_id in (47, 48):
        assert confirm(api, order_id).status_code == 200
    assert_side_effects_exactly_once(world, [47, 48], timeout=20)


@pytest.mark.task(4)
def test_an_unknown_order_is_404_and_sends_nothing(system, world):
    api = system.start_api()
    response = confirm(api, UNKNOWN_ORDER)
    assert response.status_code == 404, (
        f"POST /orders/{UNKNOWN_ORDER}/confirm answered {response.status_code}; there is no such order, "
        "so the answer should be 404. Look at what shop.get_order_from_db raises for an unknown id."
    )
    sent = [SHORT_NAMES[c.service] for c in wait_quiet(world, 1.0, 10) if c.service in SIDE_EFFECTS]
    assert not sent, f"Nothing should be sent for an unknown order, but the world saw: {', '.join(sent)}."
