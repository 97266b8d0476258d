"""The shop's outside services, for student code (async flavour).

    from ticketrail import shop
    order = await shop.get_order_from_db(42)

Blocking twins with the same names live in `ticketrail.shop.sync`, for workers.
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import datetime, timezone
from typing import Any

import httpx

from ticketrail.shop._wire import (
    CALL_TIMEOUT,
    LIMITS,
    NO_TLS,
    OrderNotFound,
    ServiceError,
    ShopError,
    answer,
    request,
    world_socket,
    world_url,
)

__all__ = [
    "OrderNotFound",
    "ServiceError",
    "ShopError",
    "add_loyalty_points",
    "check_service_health",
    "cleanup_expired_sessions",
    "generate_invoice_pdf",
    "get_order_from_db",
    "notify_warehouse_api",
    "now",
    "send_confirmation_email",
    "update_analytics",
    "update_order_status",
    "write_audit_log",
]


# One client per event loop: a client keeps its connections, so a busy endpoint's calls reuse them.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


def _client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        transport = httpx.AsyncHTTPTransport(uds=world_socket(), limits=LIMITS, verify=NO_TLS)
        client = _clients[loop] = httpx.AsyncClient(timeout=CALL_TIMEOUT, trust_env=False, transport=transport)
    return client


async def _call(service: str, args: dict[str, Any], idempotency_key: Any = None) -> Any:
    response = await _client().post(**request(service, args, idempotency_key))
    return answer(service, response)


async def get_order_from_db(order_id: int) -> dict:
    return await _call("get_order_from_db", {"order_id": order_id})


async def update_order_status(order_id: int, status: str) -> None:
    await _call("update_order_status", {"order_id": order_id, "status": status})


async def send_confirmation_email(email: str, order: Any, idempotency_key: Any = None) -> str:
    return await _call("send_confirmation_email", {"email": email, "order": order}, idempotency_key)


async def generate_invoice_pdf(order: Any, idempotency_key: Any = None) -> bytes:
    return (await _call("generate_invoice_pdf", {"order": order}, idempotency_key)).encode()


async def notify_warehouse_api(order: Any, idempotency_key: Any = None) -> None:
    await _call("notify_warehouse_api", {"order": order}, idempotency_key)


async def update_analytics(order: Any, idempotency_key: Any = None) -> None:
    await _call("update_analytics", {"order": order}, idempotency_key)


async def write_audit_log(event: Any, idempotency_key: Any = None) -> None:
    await _call("write_audit_log", {"event": event, "order": _order_of(event)}, idempotency_key)


async def add_loyalty_points(order: Any, idempotency_key: Any = None) -> None:
    await _call("add_loyalty_points", {"order": order}, idempotency_key)


async def check_service_health(idempotency_key: Any = None) -> None:
    await _call("check_service_health", {}, idempotency_key)


async def cleanup_expired_sessions(idempotency_key: Any = None) -> None:
    await _call("cleanup_expired_sessions", {}, idempotency_key)


async def now() -> datetime:
    """The shop's clock: real time, unless a grader has set it."""
    response = await _client().get(f"{world_url()}/clock")
    return datetime.fromtimestamp(response.json()["now"], tz=timezone.utc)


def _order_of(event: Any) -> Any:
    return event.get("order_id") if isinstance(event, dict) else None
