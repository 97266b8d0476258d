"""Text from student programs and names, made safe to show: in Markdown, HTML, CSV, JSON and a terminal.

A program's output may hold terminal escapes (ESC, BEL), NUL bytes or bidirectional overrides; a display name
may start with `=`. Shown raw, the first repaint the instructor's terminal or hide text, the second becomes a
spreadsheet formula. Both are kept visible instead of removed, so nothing the program printed is lost.
"""

from __future__ import annotations

import re

# C0 controls have a printable picture each (U+2400 + code): ESC shows as ␛, BEL as ␇, NUL as ␀.
_PICTURES = {code: chr(0x2400 + code) for code in range(0x20) if chr(code) not in "\n\t"}
_PICTURES[0x7F] = "\u2421"  # ␡
# C1 controls (a terminal takes U+009B as ESC [) and the marks that reorder or hide text have no picture.
_SPELLED = "\u0080-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_UNSAFE = re.compile(f"[\u0000-\u0008\u000b-\u001f\u007f{_SPELLED}]")

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code in _PICTURES:
        return _PICTURES[code]
    return f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}"


def clean(text: str) -> str:
    """`text` with every control character but newline and tab made visible: `\\x1b` becomes `␛`, U+202E the
    six characters `\\u202e`. A Windows line end (CR LF) is a line end; a lone CR shows as `␍`."""
    return _UNSAFE.sub(_show, text.replace("\r\n", "\n"))


def cell(text: str) -> str:
    """`clean(text)` for a spreadsheet cell: a value a spreadsheet would read as a formula (it starts with
    `=`, `+`, `-`, `@` or a tab) starts with `'`, which shows it as the text it is."""
    text = clean(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
