# attack: a git checkout whose .git/HEAD is a link to /dev/zero: a grader that reads it whole runs out of memory
# honest: 13 a correct solution; the link is not followed, so the batch goes on
# proof: -
"""Builds the submission: a correct app.py in a checkout whose HEAD is a link to /dev/zero."""

import os
import shutil
from pathlib import Path

APP = Path(__file__).parent.parent / "control_correct" / "01" / "app.py"


def build(dest: Path, kit: Path) -> Path:
    student = dest / "git_head_devzero"
    (student / "01").mkdir(parents=True)
    shutil.copy(APP, student / "01" / "app.py")
    (student / ".git").mkdir()
    os.symlink("/dev/zero", student / ".git" / "HEAD")
    return student
