"""Turning "NotImplementedError somewhere in a log" into "task 2 is not done yet".

A starter marks the student's work with `raise NotImplementedError("…")`. When a check
fails and a student program died on one of those (or a function the check calls does
not exist yet), the learner should read that first, not a timeout or a 500.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterable

from ticketrail.childcall import CallResult
from ticketrail.procs import Child

_RAISED = re.compile(r"^(?:\w+\.)*NotImplementedError(?::\s*(?P<message>.*))?$")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)')
_TASK = re.compile(r"\btask\s+(\d+)", re.I)


def from_log(log: str, program: str, impl_dir: Path) -> str | None:
    """'worker.py, line 31, in handle raised NotImplementedError ("send the email")', from the last one in a log."""
    student_dirs = (str(impl_dir), str(Path(impl_dir).resolve()))
    lines = log.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        raised = _RAISED.match(lines[index].strip())
        if not raised:
            continue
        where = program
        for frame_line in reversed(lines[:index]):
            frame = _FRAME.match(frame_line)
            if frame and (frame["file"].startswith(student_dirs) or not frame["file"].startswith("/")):
                where = f"{frame['file'].rsplit('/', 1)[-1]}, line {frame['line']}, in {frame['function']}"
                break
        message = (raised["message"] or "").strip()
        return f"{where} raised NotImplementedError" + (f' ("{message}")' if message else "")
    return None


def from_logs(children: Iterable[Child], impl_dir: Path, settle: float = 0.25, timeout: float = 1.5) -> list[str]:
    """Findings in the programs' logs. A server logs a traceback just *after* it answered 500, so
    a check can fail before the log says why: wait until the logs stop growing (or say why)."""
    children = list(children)
    deadline = time.monotonic() + timeout
    sizes, quiet_since = None, time.monotonic()
    while True:
        logs = [(child, child.log()) for child in children]
        findings = [found for child, log in logs if (found := from_log(log, child.name, impl_dir))]
        now = time.monotonic()
        current = [len(log) for _, log in logs]
        if current != sizes:
            sizes, quiet_since = current, now
        if findings or now - quiet_since >= settle or now >= deadline:
            return findings
        time.sleep(0.05)


def from_call(call: CallResult, module: str, function: str) -> str | None:
    if call.ok:
        return None
    if call.error == "NotImplementedError":
        return f"{module}.{function} raised NotImplementedError" + (f' ("{call.message}")' if call.message else "")
    if call.error == "AttributeError" and f"'{function}'" in call.message:
        return f"{module}.py has no function {function} yet"
    if call.error == "ModuleNotFoundError" and f"'{module}'" in call.message:
        return f"there is no {module}.py yet"
    return None


def headline(task: int | None, findings: Iterable[str]) -> str | None:
    findings = list(dict.fromkeys(findings))
    if not findings:
        return None
    # A TODO that names its task ("task 3: record each stage") knows better than the check's marker.
    named = _TASK.search(findings[0])
    task = int(named.group(1)) if named else task
    what = f"Task {task} is not done yet" if task is not None else "This part is not done yet"
    return f"{what}: {'; '.join(findings)}. Write that part (see the README), then check again."


def annotate(error: BaseException, text: str) -> bool:
    """Put `text` before an exception's message, as pytest will print it. False if it cannot."""
    if hasattr(error, "msg") and isinstance(getattr(error, "msg"), str):  # pytest.fail's exception
        error.msg = f"{text}\n\n{error.msg}"  # type: ignore[attr-defined]
        return True
    if error.args and isinstance(error.args[0], str):
        error.args = (f"{text}\n\n{error.args[0]}", *error.args[1:])
        return True
    if not error.args:
        error.args = (text,)
        return True
    return False
