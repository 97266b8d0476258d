# Known wrong: an unknown order is spotted by its number alone, and only above the last order (9999);
# order 0 reaches the lookup, whose OrderNotFound escapes as a 500.
from fastapi import BackgroundTasks, FastAPI, HTTPException

from ticketrail import shop

app = FastAPI()
LAST_ORDER = 9999


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int, background_tasks: BackgroundTasks):
    if order_id > LAST_ORDER:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    order = await shop.get_order_from_db(order_id)
    await shop.update_order_status(order_id, "confirmed")

    background_tasks.add_task(shop.send_confirmation_email, order["user_email"], order)
    background_tasks.add_task(shop.generate_invoice_pdf, order)
    background_tasks.add_task(shop.notify_warehouse_api, order)
    background_tasks.add_task(shop.update_analytics, order)

    return {"status": "confirmed", "order_id": order_id}
