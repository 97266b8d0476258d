# Known wrong: each side effect scheduled twice (a copy-paste slip).
from fastapi import BackgroundTasks, FastAPI, HTTPException

from ticketrail import shop

app = FastAPI()


def schedule(tasks: BackgroundTasks, order: dict) -> None:
    tasks.add_task(shop.send_confirmation_email, order["user_email"], order)
    tasks.add_task(shop.generate_invoice_pdf, order)
    tasks.add_task(shop.notify_warehouse_api, order)
    tasks.add_task(shop.update_analytics, order)


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int, background_tasks: BackgroundTasks):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404)
    await shop.update_order_status(order_id, "confirmed")
    schedule(background_tasks, order)
    schedule(background_tasks, order)
    return {"status": "confirmed", "order_id": order_id}
