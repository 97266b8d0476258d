# Known wrong (lecture §2.2: everything is on one event loop): a blocking time.sleep(0.1) in the async endpoint.
# One confirm still answers within the budget, but the loop serves no one else meanwhile: a rush queues up.

import time

from fastapi import BackgroundTasks, FastAPI, HTTPException

from ticketrail import shop

app = FastAPI()


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int, background_tasks: BackgroundTasks):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404, detail=f"Order {order_id} not found")
    await shop.update_order_status(order_id, "confirmed")
    time.sleep(0.1)  # looks harmless: the answer still comes within the budget

    background_tasks.add_task(shop.send_confirmation_email, order["user_email"], order)
    background_tasks.add_task(shop.generate_invoice_pdf, order)
    background_tasks.add_task(shop.notify_warehouse_api, order)
    background_tasks.add_task(shop.update_analytics, order)

    return {"status": "confirmed", "order_id": order_id}
