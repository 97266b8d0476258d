# attack: a git checkout whose .git/HEAD points outside it (ref: /proc/self/cwd/reference/01/app.py), for the grader to read the reference into the records
# honest: 13 a correct solution; its HEAD names no commit, so none is recorded, and nothing of the reference is read
# proof: -
"""Builds the submission: a correct app.py in a checkout whose HEAD points at the kit's reference."""

import shutil
from pathlib import Path

APP = Path(__file__).parent.parent / "control_correct" / "01" / "app.py"


def build(dest: Path, kit: Path) -> Path:
    student = dest / "git_head_outside"
    (student / "01").mkdir(parents=True)
    shutil.copy(APP, student / "01" / "app.py")
    (student / ".git").mkdir()
    (student / ".git" / "HEAD").write_text("ref: /proc/self/cwd/reference/01/app.py\n")
    return student
