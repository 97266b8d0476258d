from fastapi import BackgroundTasks, FastAPI

from ticketrail import shop

app = FastAPI()


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int, background_tasks: BackgroundTasks):
    order = await shop.get_order_from_db(order_id)
    await shop.update_order_status(order_id, "confirmed")
    background_tasks.add_task(shop.send_confirmation_email, order["user_email"], order)
    background_tasks.add_task(shop.generate_invoice_pdf, order)
    background_tasks.add_task(shop.notify_warehouse_api, order)
    background_tasks.add_task(shop.update_analytics, order)
    return {"status": "confirmed", "order_id": order_id}
