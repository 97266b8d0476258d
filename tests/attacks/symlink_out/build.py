# attack: hand in app.py as a symbolic link to the kit's own reference/01/app.py (a path a student can guess)
# honest: 0 a link is not the student's file: refused, so the exercise has no app.py (and as the sandbox's uid it could not be read anyway)
# proof: symbolic link
"""Builds the submission: the link must point at this kit's reference, wherever the kit lives."""

import os
from pathlib import Path


def build(dest: Path, kit: Path) -> Path:
    folder = dest / "symlink_out"
    (folder / "01").mkdir(parents=True)
    os.symlink(kit / "reference" / "01" / "app.py", folder / "01" / "app.py")
    os.symlink(kit / "graders", folder / "01" / "graders")
    return folder
