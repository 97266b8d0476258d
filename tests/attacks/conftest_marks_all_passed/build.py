# attack: hand in a conftest.py (submission root and 01/), a sitecustomize.py and a pytest.ini that turn every pytest report into "passed"
# honest: 12 only app.py is ever taken from a submission, and the graders never run in the student's folder; the app answers an unknown order with 418 (to report it), so it loses only the 404 test
# proof: sitecustomize:not-loaded
"""Builds the submission: its conftest.py must not sit in the kit's own tests/, where pytest would load it."""

from pathlib import Path

CONFTEST = '''\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome, report.longrepr = "passed", None
'''

SITECUSTOMIZE = '''\
# Imported at interpreter start-up when its folder is on sys.path: every pytest report becomes "passed".
import builtins
import sys

_real_import = builtins.__import__


def _import(name, *args, **kwargs):
    module = _real_import(name, *args, **kwargs)
    reports = sys.modules.get("_pytest.reports")
    if hasattr(reports, "TestReport") and not getattr(reports, "_forged", False):
        original = reports.TestReport.__init__

        def forged(self, *a, **k):
            original(self, *a, **k)
            self.outcome, self.longrepr = "passed", None

        reports.TestReport.__init__, reports._forged = forged, True
    return module


builtins.__import__ = _import
'''

APP = '''\
import sys

from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import PlainTextResponse

from ticketrail import shop

EVIDENCE = (f"sitecustomize:{'loaded' if 'sitecustomize' in sys.modules else 'not-loaded'} "
            f"conftest:{'loaded' if 'conftest' in sys.modules else 'not-loaded'}")

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
'''


def build(dest: Path, kit: Path) -> Path:
    folder = dest / "conftest_marks_all_passed"
    (folder / "01").mkdir(parents=True)
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "01" / "conftest.py").write_text(CONFTEST)
    (folder / "01" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (folder / "01" / "pytest.ini").write_text("[pytest]\naddopts = -p no:ticketrail -p no:cacheprovider\n")
    (folder / "01" / "app.py").write_text(APP)
    return folder
