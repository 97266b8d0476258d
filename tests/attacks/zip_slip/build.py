# attack: a zip whose entries climb out of the submission (../, absolute paths, a link to the reference) to plant files where the grader reads or runs them
# honest: 12 the climbing entries are refused and nothing is written outside; its 01/app.py is correct but answers an unknown order with 418, so it loses only the 404 test
# proof: climbs out | absolute path | symbolic link
"""Builds the submission: a zip with hostile entry names."""

import stat
import zipfile
from pathlib import Path

APP = (Path(__file__).parent.parent / "control_correct" / "01" / "app.py").read_text().replace(
    'raise HTTPException(status_code=404, detail=f"Order {order_id} not found")',
    'return PlainTextResponse("ATTACK zip slip: this app.py is the only entry taken", status_code=418)',
).replace("from fastapi import BackgroundTasks, FastAPI, HTTPException",
          "from fastapi import BackgroundTasks, FastAPI\nfrom fastapi.responses import PlainTextResponse")
PLANTED = "raise SystemExit('planted by a zip entry: the grader ran a file a zip wrote outside its submission')\n"


def build(dest: Path, kit: Path) -> Path:
    path = dest / "zip_slip.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("01/app.py", APP)
        archive.writestr("../../../../../../../../tmp/ticketrail-attack-zip-slip.py", PLANTED)
        archive.writestr("01/../../ticketrail-attack-zip-escaped.py", PLANTED)
        archive.writestr("/tmp/ticketrail-attack-zip-absolute.py", PLANTED)
        link = zipfile.ZipInfo("01/worker.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, str(kit / "reference" / "01" / "app.py"))
    return path
