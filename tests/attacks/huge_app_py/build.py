# attack: a 2 MiB app.py (a correct app under a mountain of comments), to exhaust the grader's memory or disk
# honest: 0 a student file may be at most 1 MiB: refused, so the exercise has no app.py
# proof: MiB
"""Builds the submission: a 2 MiB file has no place in the kit's repository."""

from pathlib import Path

APP = (Path(__file__).parent.parent / "control_correct" / "01" / "app.py").read_text()


def build(dest: Path, kit: Path) -> Path:
    folder = dest / "huge_app_py"
    (folder / "01").mkdir(parents=True)
    padding = ("# " + "padding " * 12 + "\n") * (2 * 1024 * 1024 // 100)
    (folder / "01" / "app.py").write_text(APP + padding)
    return folder
