"""The batch's progress on stderr: a bar with the count, who is being graded and an ETA on a terminal;
one plain line per finished grading otherwise (CI logs, a pipe).

Labels hold students' names (a folder's or zip's name, the student's choice): shown through
textsafe.clean, on one line, so no name can move the cursor or ring the instructor's terminal."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from ticketrail.textsafe import clean


def one_line(text: str) -> str:
    return clean(text).replace("\n", "\u2424").replace("\t", " ")


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.current: dict[str, float] = {}
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._shown = False

    def eta(self) -> str:
        if not self.done:
            return "--"
        elapsed = time.monotonic() - self.started
        return duration(elapsed / self.done * (self.total - self.done))

    def begin(self, label: str) -> None:
        with self._lock:
            self.current[one_line(label)] = time.monotonic()
            self._draw()

    def end(self, label: str, line: str) -> None:
        line = one_line(line)
        with self._lock:
            self.current.pop(one_line(label), None)
            self.done += 1
            if self.tty:
                self._clear()
                print(line, file=self.stream)
                self._draw()
            else:
                print(f"[{self.done:>{len(str(self.total))}}/{self.total}] {line}  (ETA {self.eta()})",
                      file=self.stream, flush=True)

    def refresh(self) -> None:
        with self._lock:
            self._draw()

    def close(self) -> None:
        with self._lock:
            self._clear()

    def _draw(self) -> None:
        if not self.tty or not self.total:
            return
        width = shutil.get_terminal_size((100, 20)).columns
        filled = int(20 * self.done / self.total)
        bar = "#" * filled + "." * (20 - filled)
        now = ", ".join(self.current) or "-"
        text = f"[{bar}] {self.done}/{self.total}  ETA {self.eta()}  grading: {now}"
        self.stream.write("\r" + text[: width - 1].ljust(width - 1))
        self.stream.flush()
        self._shown = True

    def _clear(self) -> None:
        if self.tty and self._shown:
            width = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + " " * (width - 1) + "\r")
            self.stream.flush()
            self._shown = False
