"""The overworked endpoint of lecture §1.1: the cashier makes every pizza herself.

Run it with `ticketrail run 01`, then confirm an order and watch the clock:

    curl -X POST http://127.0.0.1:8000/orders/42/confirm
"""

import time

from fastapi import FastAPI

from ticketrail import shop

app = FastAPI()


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    start = time.time()

    # Step 1: business logic (what the customer NEEDS)
    order = await shop.get_order_from_db(order_id)
    await shop.update_order_status(order_id, "confirmed")

    # Step 2: side effects (what the customer does NOT need to wait for)
    await shop.send_confirmation_email(order["user_email"], order)
    await shop.generate_invoice_pdf(order)
    await shop.notify_warehouse_api(order)
    await shop.update_analytics(order)

    print(f"Response time: {time.time() - start:.1f}s")
    return {"status": "confirmed", "order_id": order_id}
