# attack: control characters and spreadsheet formulas for the instructor: a display name starting with =, and ESC, BEL and NUL in what the program prints and raises
# honest: 0 it never serves an app; the name and the text reach every output escaped
# proof: ATTACK escape
"""Builds the submission: a student folder whose name is a formula, holding an app.py that prints terminal escapes."""

from pathlib import Path

NAME = '=1+1 "Ada"'
APP = '''import sys
print("ATTACK escape \\x1b]0;pwned\\x07\\x1b[2J\\x00 done", flush=True)
raise SystemExit("ATTACK escape \\x1b[31mred\\x1b[0m \\x07 \\x00 =cmd|' /C calc'!A0")
'''


def build(dest: Path, kit: Path) -> Path:
    student = dest / NAME
    (student / "01").mkdir(parents=True)
    (student / "01" / "app.py").write_text(APP)
    return student
