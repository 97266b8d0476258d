# Known wrong: the side effects are scheduled first ("they only run after the answer anyway"), and an
# unknown order is answered with a returned JSONResponse, which still carries them.
from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import JSONResponse

from ticketrail import shop

app = FastAPI()


async def email_and_invoice(order_id: int) -> None:
    order = await shop.get_order_from_db(order_id)
    await shop.send_confirmation_email(order["user_email"], order)
    await shop.generate_invoice_pdf(order)


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int, background_tasks: BackgroundTasks):
    # BackgroundTasks run after the response is sent, so where they are added makes no difference.
    # The warehouse and analytics only need to know which order.
    background_tasks.add_task(shop.notify_warehouse_api, {"id": order_id})
    background_tasks.add_task(shop.update_analytics, {"id": order_id})
    background_tasks.add_task(email_and_invoice, order_id)

    try:
        await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        return JSONResponse({"detail": f"Order {order_id} not found"}, status_code=404)
    await shop.update_order_status(order_id, "confirmed")

    return {"status": "confirmed", "order_id": order_id}
