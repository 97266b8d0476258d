# attack: the world as a memory bomb: calls whose arguments are tens of MiB, and a flood of calls
# honest: 0 it never serves an app; the world refuses a body past its cap and a ledger past its size
# proof: ATTACK world refused the big call
from ticketrail.shop import sync as shop

try:
    shop.update_analytics({"id": 1, "padding": "x" * (48 * 1024 * 1024)})
    print("ATTACK world took the big call", flush=True)
except shop.ShopError as error:
    print(f"ATTACK world refused the big call: {str(error)[:120]}", flush=True)
raise SystemExit("ATTACK world: done; this submission serves no app")
