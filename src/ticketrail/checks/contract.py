"""The student's API over HTTP, as the checks call it: confirm an order, read a job's status, replay a job."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from ticketrail.system import Api

UNKNOWN_ORDER = 99999
# The shop has orders 1 to 9999: far beyond them, and just past either end.
UNKNOWN_ORDERS = (UNKNOWN_ORDER, 10000, 0)


def order_ids(start: int = 1000) -> itertools.count:
    return itertools.count(start)


def confirm(api: Api, order_id: int, timeout: float | None = None) -> httpx.Response:
    """POST /orders/{id}/confirm, waiting `timeout` seconds for the answer instead of the client's own."""
    return api.client.post(f"/orders/{order_id}/confirm",
                           timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout)


def confirm_answer(api: Api, order_id: int, timeout: float | None = None) -> Any:
    """The JSON of a confirm that should succeed: any other answer fails the check."""
    __tracebackhide__ = True
    response = confirm(api, order_id, timeout)
    assert response.status_code == 200, (
        f"POST /orders/{order_id}/confirm answered {response.status_code}: {response.text[:300]}"
    )
    return response.json()


def confirm_for_job(api: Api, order_id: int) -> str:
    """Confirm an order and return the `email_job_id` of the answer."""
    __tracebackhide__ = True
    body = confirm_answer(api, order_id)
    job_id = body.get("email_job_id") if isinstance(body, dict) else None
    assert isinstance(job_id, str) and job_id, (
        f"POST /orders/{order_id}/confirm answered {body}; the contract is "
        f'{{"status": "confirmed", "order_id": {order_id}, "email_job_id": "<the job\'s id>"}}: '
        "the customer's order number, to ask about later (lecture §3.3)."
    )
    assert body.get("status") == "confirmed" and body.get("order_id") == order_id, (
        f"POST /orders/{order_id}/confirm answered {body}; it should say "
        f'"status": "confirmed" and "order_id": {order_id} besides the email_job_id.'
    )
    return job_id


def status_of(api: Api, job_id: str) -> httpx.Response:
    return api.client.get(f"/jobs/{job_id}/status")


def job_status(api: Api, job_id: str) -> dict | None:
    """GET /jobs/{id}/status, or None for a 404; any other failure reads as the status `<HTTP nnn>`."""
    response = status_of(api, job_id)
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        return {"status": f"<HTTP {response.status_code}>", "body": response.text[:200]}
    return response.json()


def replay(api: Api, job_id: str) -> httpx.Response:
    return api.client.post(f"/jobs/{job_id}/replay")
