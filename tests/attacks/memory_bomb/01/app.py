# attack: a memory bomb: allocate and touch 64 MiB blocks until something gives
# honest: 12 the allocation fails at the address-space limit (MemoryError), the app lets go and serves correctly; an unknown order gets 418 (to report it), so it loses only the 404 test
# proof: MemoryError after
from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import PlainTextResponse

from ticketrail import shop

blocks = []
try:
    while True:
        block = bytearray(64 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])  # touch every page: real memory, not a promise
        blocks.append(block)
except MemoryError:
    EVIDENCE = f"MemoryError after {len(blocks) * 64} MiB"
blocks.clear()

app = FastAPI()


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int, background_tasks: BackgroundTasks):
    try:
        order = await shop.get_order_from_db(order_id)
    except shop.OrderNotFound:
        return PlainTextResponse("ATTACK " + EVIDENCE, status_code=418)
    await shop.update_order_status(order_id, "confirmed")
    background_tasks.add_task(shop.send_confirmation_email, order["user_email"], order)
    background_tasks.add_task(shop.generate_invoice_pdf, order)
    background_tasks.add_task(shop.notify_warehouse_api, order)
    background_tasks.add_task(shop.update_analytics, order)
    return {"status": "confirmed", "order_id": order_id}
