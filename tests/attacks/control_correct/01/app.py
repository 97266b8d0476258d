# attack: none; a control graded in the same batch as the attacks, which must leave it alone
# honest: 13 a correct solution (BackgroundTasks, lecture §2.1) earns every point
# proof: -
# brokers: both
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
    background_tasks.add_task(shop.send_confirmation_email, order["user_email"], order)
    background_tasks.add_task(shop.generate_invoice_pdf, order)
    background_tasks.add_task(shop.notify_warehouse_api, order)
    background_tasks.add_task(shop.update_analytics, order)
    return {"status": "confirmed", "order_id": order_id}
