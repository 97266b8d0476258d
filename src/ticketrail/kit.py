"""Where things are: the kit's folders, an exercise's id, the implementation under test."""

from __future__ import annotations

import re
from pathlib import Path

EXERCISE_ID = re.compile(r"^\d\d$")
TEST_FOLDERS = ("exercises", "graders")


def exercise_of(test_path: Path) -> str | None:
    """'03' for exercises/03/test_x.py or graders/03/test_x.py, else None."""
    folder = test_path.parent
    if EXERCISE_ID.match(folder.name) and folder.parent.name in TEST_FOLDERS:
        return folder.name
    return None


def find_kit_root(*starts: Path) -> Path:
    """The nearest folder above any of `starts` that holds grading.yml."""
    for start in starts:
        for folder in [start, *start.parents]:
            if (folder / "grading.yml").is_file():
                return folder
    raise FileNotFoundError(f"no grading.yml above {', '.join(map(str, starts))}: is this a Ticket Rail kit?")


def resolve_impl(root: Path, impl: str, exercise_id: str) -> Path:
    """starter/NN, reference/NN, or a folder (PATH/NN when it has one, else PATH itself)."""
    if impl in ("starter", "reference"):
        folder = root / impl / exercise_id
    else:
        path = Path(impl).expanduser().resolve()
        folder = path / exercise_id if (path / exercise_id).is_dir() else path
    if not folder.is_dir():
        raise FileNotFoundError(f"--impl {impl}: there is no folder {folder} for exercise {exercise_id}")
    return folder
