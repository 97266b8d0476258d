from fastapi import FastAPI, HTTPException

from ticketrail import shop

app = FastAPI()


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    try:
        await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        raise HTTPException(status_code=404)
    await shop.update_order_status(order_id, "confirmed")
    # TODO email, pdf, warehouse, analytics (they made it slow)
    return {"status": "confirmed", "order_id": order_id}
