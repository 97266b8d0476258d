# attack: a git checkout whose .git/HEAD is a FIFO: a grader that opens it waits forever, and the batch with it
# honest: 13 a correct solution; the FIFO is not opened, so the batch goes on
# proof: -
"""Builds the submission: a correct app.py in a checkout whose HEAD is a named pipe."""

import os
import shutil
from pathlib import Path

APP = Path(__file__).parent.parent / "control_correct" / "01" / "app.py"


def build(dest: Path, kit: Path) -> Path:
    student = dest / "git_head_fifo"
    (student / "01").mkdir(parents=True)
    shutil.copy(APP, student / "01" / "app.py")
    (student / ".git").mkdir()
    os.mkfifo(student / ".git" / "HEAD")
    return student
