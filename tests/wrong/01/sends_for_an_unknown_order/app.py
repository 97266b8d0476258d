# Known wrong: the side effects are started before the order is looked up; each looks it up itself.
import asyncio

from fastapi import FastAPI, HTTPException

from ticketrail import shop

app = FastAPI()
background = set()


async def analytics(order_id: int) -> None:
    # Analytics only counts confirmations: the id is all it needs.
    await shop.update_analytics({"id": order_id, "total": 0})


async def the_rest(order_id: int) -> None:
    order = await shop.get_order_from_db(order_id)
    await asyncio.gather(
        shop.send_confirmation_email(order["user_email"], order),
        shop.generate_invoice_pdf(order),
        shop.notify_warehouse_api(order),
    )


def later(coroutine) -> None:
    task = asyncio.create_task(coroutine)
    background.add(task)
    task.add_done_callback(background.discard)


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    later(analytics(order_id))
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    await shop.update_order_status(order_id, "confirmed")
    later(the_rest(order_id))
    return {"status": "confirmed", "order_id": order["id"]}
