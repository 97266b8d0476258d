from fastapi import BackgroundTasks, FastAPI, HTTPException

from ticketrail import shop

app = FastAPI()


async def side_effects(order: dict) -> None:
    await shop.send_confirmation_email(order["user_email"], order)
    await shop.generate_invoice_pdf(order)
    await shop.notify_warehouse_api(order)
    await shop.update_analytics(order)


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int, background_tasks: BackgroundTasks):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404)
    await shop.update_order_status(order_id, "confirmed")
    background_tasks.add_task(side_effects, order)
    background_tasks.add_task(shop.send_confirmation_email, order["user_email"], order)
    background_tasks.add_task(shop.generate_invoice_pdf, order)
    background_tasks.add_task(shop.notify_warehouse_api, order)
    background_tasks.add_task(shop.update_analytics, order)
    return {"status": "confirmed", "order_id": order_id}
