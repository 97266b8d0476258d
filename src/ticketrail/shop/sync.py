"""The shop's outside services as blocking calls, for workers and other plain programs.

    from ticketrail.shop import sync as shop
    shop.send_confirmation_email("a@example.com", {"id": 42}, idempotency_key=job_id)
"""

from __future__ import annotations

import os
import threading
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


# One client per thread: a client keeps its connections, so a call reuses one;
# a client is safe to reuse in its own thread.
_local = threading.local()


def _client() -> httpx.Client:
    client = getattr(_local, "client", None)
    if client is None or os.getpid() != getattr(_local, "pid", None):
        transport = httpx.HTTPTransport(uds=world_socket(), limits=LIMITS, verify=NO_TLS)
        client = _local.client = httpx.Client(timeout=CALL_TIMEOUT, trust_env=False, transport=transport)
        _local.pid = os.getpid()
    return client


def _call(service: str, args: dict[str, Any], idempotency_key: Any = None) -> Any:
    response = _client().post(**request(service, args, idempotency_key))
    return answer(service, response)


def get_order_from_db(order_id: int) -> dict:
    return _call("get_order_from_db", {"order_id": order_id})


def update_order_status(order_id: int, status: str) -> None:
    _call("update_order_status", {"order_id": order_id, "status": status})


def send_confirmation_email(email: str, order: Any, idempotency_key: Any = None) -> str:
    return _call("send_confirmation_email", {"email": email, "order": order}, idempotency_key)


def generate_invoice_pdf(order: Any, idempotency_key: Any = None) -> bytes:
    return _call("generate_invoice_pdf", {"order": order}, idempotency_key).encode()


def notify_warehouse_api(order: Any, idempotency_key: Any = None) -> None:
    _call("notify_warehouse_api", {"order": order}, idempotency_key)


def update_analytics(order: Any, idempotency_key: Any = None) -> None:
    _call("update_analytics", {"order": order}, idempotency_key)


def write_audit_log(event: Any, idempotency_key: Any = None) -> None:
    _call("write_audit_log", {"event": event, "order": event.get("order_id") if isinstance(event, dict) else None}, idempotency_key)


def add_loyalty_points(order: Any, idempotency_key: Any = None) -> None:
    _call("add_loyalty_points", {"order": order}, idempotency_key)


def check_service_health(idempotency_key: Any = None) -> None:
    _call("check_service_health", {}, idempotency_key)


def cleanup_expired_sessions(idempotency_key: Any = None) -> None:
    _call("cleanup_expired_sessions", {}, idempotency_key)


def now() -> datetime:
    """The shop's clock: real time, unless a grader has set it."""
    response = _client().get(f"{world_url()}/clock")
    return datetime.fromtimestamp(response.json()["now"], tz=timezone.utc)
