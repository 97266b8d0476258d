# Known wrong: the side effects start together, and the answer waits until the first one is done.
import asyncio

from fastapi import FastAPI, HTTPException

from ticketrail import shop

app = FastAPI()


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    await shop.update_order_status(order_id, "confirmed")

    side_effects = [
        asyncio.create_task(shop.send_confirmation_email(order["user_email"], order)),
        asyncio.create_task(shop.generate_invoice_pdf(order)),
        asyncio.create_task(shop.notify_warehouse_api(order)),
        asyncio.create_task(shop.update_analytics(order)),
    ]
    # Wait until the work has got going, then answer; the rest keeps running.
    await asyncio.wait(side_effects, return_when=asyncio.FIRST_COMPLETED)

    return {"status": "confirmed", "order_id": order_id}
