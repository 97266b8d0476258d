"""A student program's crash, read as one line: `app.py:7: SyntaxError: expected ':' — the API could not start`.

A program that dies at start under uvicorn prints forty lines of uvicorn, click and importlib
frames before the one that matters. The functions here read a program's log text and keep
what the learner wrote: the frames whose file is in the student's folder, the caret lines of a
SyntaxError, and the exception. They are pure: text in, text out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

HEADER = "Traceback (most recent call last):"
_HEADER = re.compile(r"^(?P<indent>[ \t]*)Traceback \(most recent call last\):\s*$")
_FRAME = re.compile(r'^(?P<indent>[ \t]*)  File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+?))?\s*$')
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::(?: (?P<message>.*))?)?\s*$")
_SYNTAX = ("SyntaxError", "IndentationError", "TabError")
# What uvicorn and python print, without a traceback, when they cannot load the program at all.
_LOAD_FAILURES = (
    re.compile(r"^\s*ERROR:\s+(?P<message>Error loading ASGI app\..*?)\.?\s*$"),
    re.compile(r"^.*?python[\d.]*: (?P<message>can't open file .*)$"),
)


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str | None  # None for the frame a SyntaxError points into
    body: tuple[str, ...]  # the source line and caret lines below it, as printed


@dataclass(frozen=True)
class Traceback:
    start: int  # index of its first line in the text
    end: int  # index after its exception line
    indent: str
    frames: tuple[Frame, ...]
    error: str  # "KeyError"
    message: str  # its first line


@dataclass(frozen=True)
class Crash:
    headline: str  # the one line
    traceback: str  # the student's frames and the exception ("" when the log has no traceback)
    file: str | None = None  # relative to the student's folder
    line: int | None = None
    error: str = ""

    def __str__(self) -> str:
        return f"{self.headline}\n{self.traceback}" if self.traceback else self.headline


# After a crash's line, in every check it fails but the one that told it in full.
TOLD_ELSEWHERE = " (the traceback is shown with the first check that started it)"


def told_whole(messages: list[str]) -> list[str]:
    """`messages` with each crash told elsewhere (its line and TOLD_ELSEWHERE) replaced by the message that tells
    it in full, wherever that one stands: a surface that says a repeated message once then says the crash once,
    and one that shows each message alone shows it whole."""
    in_full: dict[str, str] = {}
    for message in messages:
        line = _first_line(message)
        if not line.endswith(TOLD_ELSEWHERE):
            in_full.setdefault(line, message)
    whole = []
    for message in messages:
        line = _first_line(message)
        told = line.endswith(TOLD_ELSEWHERE)
        whole.append(in_full.get(line.removesuffix(TOLD_ELSEWHERE), message) if told else message)
    return whole


def _first_line(text: str) -> str:
    return text.partition("\n")[0]


def tracebacks(text: str) -> list[Traceback]:
    """Every Python traceback in `text`, with or without its header line (a SyntaxError in the
    script python was asked to run has none), in order."""
    lines = text.splitlines()
    found = []
    index = 0
    while index < len(lines):
        header = _HEADER.match(lines[index])
        frame = _FRAME.match(lines[index])
        if not header and not frame:
            index += 1
            continue
        indent = header["indent"] if header else frame["indent"]
        at = index + 1 if header else index
        frames = []
        while at < len(lines) and (frame := _FRAME.match(lines[at])) and frame["indent"] == indent:
            body = []
            at += 1
            while at < len(lines) and lines[at].startswith(indent + "    "):
                body.append(lines[at][len(indent):])
                at += 1
            frames.append(Frame(frame["file"], int(frame["line"]), frame["function"], tuple(body)))
        raised = _EXCEPTION.match(lines[at][len(indent):]) if at < len(lines) and lines[at].startswith(indent) \
            and not lines[at][len(indent):].startswith(" ") else None
        if frames and raised:
            start = index
            if not header:  # a log's last lines can begin inside a frame: its source lines belong to this one
                floor = found[-1].end if found else 0
                while start > floor and lines[start - 1].startswith(indent + "    "):
                    start -= 1
            found.append(Traceback(start, at + 1, indent, tuple(frames), raised["type"], raised["message"] or ""))
            index = at + 1
        else:
            index = max(at, index + 1)
    return found


def _died_of(found: list[Traceback], roots: tuple[str, ...]) -> Traceback | None:
    """The last traceback through the student's files: the one the program died of."""
    return next((t for t in reversed(found) if any(_is_students(f.file, roots) for f in t.frames)), None)


def _student_roots(student_dir: Path | Iterable[Path]) -> tuple[str, ...]:
    folders = [student_dir] if isinstance(student_dir, (str, Path)) else list(student_dir)
    roots = set()
    for folder in folders:
        roots.add(str(folder).rstrip("/") + "/")
        roots.add(str(Path(folder).resolve()).rstrip("/") + "/")
    return tuple(sorted(roots, key=len, reverse=True))


def _is_students(file: str, roots: tuple[str, ...]) -> bool:
    # A relative file name is one the program was started with (`python worker.py`): the student's.
    return file.startswith(roots) or not file.startswith(("/", "<"))


def _shown(file: str, roots: tuple[str, ...]) -> str:
    for root in roots:
        if file.startswith(root):
            return file[len(root):]
    return file


def _render(found: Traceback, roots: tuple[str, ...], note_left_out: bool) -> list[str]:
    mine = [f for f in found.frames if _is_students(f.file, roots)]
    # A SyntaxError alone points into a file: no call stack, so no header either (as python prints it).
    lines = [HEADER] if note_left_out or any(f.function for f in mine) else []
    left_out = len(found.frames) - len(mine)
    if note_left_out and left_out:
        lines.append(f"  ({left_out} frame{'s' if left_out != 1 else ''} outside your files left out)")
    for frame in mine:
        where = f'  File "{_shown(frame.file, roots)}", line {frame.line}'
        lines.append(where + (f", in {frame.function}" if frame.function else ""))
        lines += frame.body
    lines.append(f"{found.error}: {found.message}" if found.message else found.error)
    return [found.indent + line for line in lines]


def crash(log: str, student_dir: Path | Iterable[Path], role: str, happened: str = "could not start") -> Crash | None:
    """What killed a program, from its log: the one line, and its traceback cut to the student's frames.

    `role` names the program for a learner ("the API", "the worker"); `happened` ends the line.
    The traceback chosen is the last one with a frame in the student's folder (else the last one):
    the one the program died of. None when the log shows no error at all.
    """
    roots = _student_roots(student_dir)
    found = tracebacks(log)
    ending = f" — {role} {happened}"
    if not found:
        for line in reversed(log.splitlines()):
            for pattern in _LOAD_FAILURES:
                failure = pattern.match(line)
                if failure:
                    message = failure["message"]
                    for root in roots:
                        message = message.replace(root, "")
                    return Crash(message.rstrip(".") + ending, "")
        return None
    chosen = _died_of(found, roots) or found[-1]
    mine = [f for f in chosen.frames if _is_students(f.file, roots)]
    where = None
    if mine:
        pointed = [f for f in mine if f.function is None] if chosen.error in _SYNTAX else []
        where = (pointed or mine)[-1]
    said = f"{chosen.error}: {chosen.message}" if chosen.message else chosen.error
    headline = f"{_shown(where.file, roots)}:{where.line}: {said}{ending}" if where else f"{said}{ending}"
    text = "\n".join(line[len(chosen.indent):] for line in _render(chosen, roots, note_left_out=False))
    return Crash(headline, text, _shown(where.file, roots) if where else None, where.line if where else None,
                 chosen.error)


def died_loading(log: str, student_dir: Path | Iterable[Path]) -> bool:
    """Whether the program in `log` died before its files had loaded: a load failure, or a traceback that
    does not start in the `if __name__ == "__main__":` block of the script it ran. A worker whose main loop
    raised on the first job it took had loaded: it did not die starting, however soon it died."""
    roots = _student_roots(student_dir)
    found = tracebacks(log)
    chosen = _died_of(found, roots)
    if chosen is None:
        return True
    outermost = next(f for f in chosen.frames if _is_students(f.file, roots))
    if outermost.function != "<module>":
        return True  # a SyntaxError's frame, or a load through importlib (uvicorn's): nothing had run yet
    path = Path(outermost.file)
    if not path.is_absolute():
        path = Path(roots[-1]) / path if roots else path
    return not any(first <= outermost.line <= last for first, last in _main_blocks(path))


def _main_blocks(script: Path) -> list[tuple[int, int]]:
    try:
        tree = ast.parse(script.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return []
    return [(node.lineno, node.end_lineno or node.lineno) for node in tree.body
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) and "__name__" in ast.unparse(node.test)]


def cut_tracebacks(text: str, student_dir: Path | Iterable[Path]) -> str:
    """`text` with each traceback that passes through the student's files cut down to those frames
    (a line says how many were left out). Everything else, other tracebacks included, stays as it is:
    a 500 that uvicorn logged reads as the endpoint's own lines and the exception."""
    roots = _student_roots(student_dir)
    lines = text.splitlines()
    out: list[str] = []
    at = 0
    for found in tracebacks(text):
        out += lines[at:found.start]
        if any(_is_students(f.file, roots) for f in found.frames):
            out += _render(found, roots, note_left_out=True)
        else:
            out += lines[found.start:found.end]
        at = found.end
    out += lines[at:]
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
