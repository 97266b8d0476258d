"""What the async and the blocking shop clients share: the address, the request, the errors."""

from __future__ import annotations

import os
from typing import Any

import httpx

CALL_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
# The world answers plain HTTP on a Unix socket or the loopback. Left to verify=True, every transport loads the
# CA bundle (about 40 ms of CPU in each program, and in each thread that calls the shop) for TLS never spoken.
NO_TLS = False
LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


class ShopError(Exception):
    """Something went wrong talking to the shop's outside services."""


class OrderNotFound(ShopError):
    """The order id is not in the database."""


class ServiceError(ShopError):
    """The outside service failed; trying again later may work."""


for _error in (ShopError, OrderNotFound, ServiceError):
    _error.__module__ = "ticketrail.shop"  # what a student imports and sees in a traceback


def world_url() -> str:
    url = os.environ.get("TICKETRAIL_WORLD_URL")
    if not url:
        raise ShopError(
            "TICKETRAIL_WORLD_URL is not set, so the shop's services cannot be reached. "
            "Start the system with `ticketrail run NN`, or let the checks start it (`pytest exercises/NN`)."
        )
    return url.rstrip("/")


def world_socket() -> str | None:
    """The world's Unix socket, when the harness gives one: calls over it are known by the caller's pid."""
    return os.environ.get("TICKETRAIL_WORLD_SOCKET") or None


def request(service: str, args: dict[str, Any], idempotency_key: Any = None) -> dict[str, Any]:
    return {
        "url": f"{world_url()}/call/{service}",
        "json": {"args": args, "idempotency_key": None if idempotency_key is None else str(idempotency_key)},
    }


def answer(service: str, response: httpx.Response) -> Any:
    try:
        payload = response.json()
    except ValueError:
        payload = {"error": response.text[:200]}
    if response.status_code == 404 and service in ("get_order_from_db", "update_order_status"):
        raise OrderNotFound(payload.get("error", "order not found"))
    if response.status_code >= 400:
        raise ServiceError(f"{service} failed: {payload.get('error', response.status_code)}")
    return payload.get("result")


