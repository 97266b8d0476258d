"""The pizza shop's outside services, with the durations the lecture gives them."""

from __future__ import annotations

# The header that carries the grader's token to the world's control endpoints (/_ledger, /_faults). Here, not in
# world.py: the harness names it too, and importing the server would cost every pytest process its web stack.
TOKEN_HEADER = "X-World-Token"

# Seconds at time_scale 1.0 (lecture §1.1). The world multiplies by its time_scale.
DURATIONS: dict[str, float] = {
    "get_order_from_db": 0.05,
    "update_order_status": 0.05,
    "send_confirmation_email": 3.0,
    "generate_invoice_pdf": 2.0,
    "notify_warehouse_api": 1.0,
    "update_analytics": 0.5,
    # The listeners of §4.3 and §5.1 that react to OrderConfirmed.
    "write_audit_log": 0.1,
    "add_loyalty_points": 0.2,
    # The clock's work of §1.3: scheduled jobs.
    "check_service_health": 0.2,
    "cleanup_expired_sessions": 1.0,
}

SIDE_EFFECTS = (
    "send_confirmation_email",
    "generate_invoice_pdf",
    "notify_warehouse_api",
    "update_analytics",
)

SHORT_NAMES = {
    "get_order_from_db": "DB read",
    "update_order_status": "DB write",
    "send_confirmation_email": "email",
    "generate_invoice_pdf": "PDF",
    "notify_warehouse_api": "warehouse",
    "update_analytics": "analytics",
    "write_audit_log": "audit",
    "add_loyalty_points": "loyalty",
    "check_service_health": "health check",
    "cleanup_expired_sessions": "cleanup",
}

FIRST_ORDER, LAST_ORDER = 1, 9999


def order_exists(order_id: int) -> bool:
    return FIRST_ORDER <= order_id <= LAST_ORDER


def order_record(order_id: int) -> dict:
    return {
        "id": order_id,
        "user_email": f"customer{order_id}@example.com",
        "total": round(10 + (order_id * 7.31) % 90, 2),
    }
