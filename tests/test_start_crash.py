"""A program that cannot start reads as one line, in the learner's own terms, before anything else.

`pytest exercises/NN` on a submission whose API or worker dies at start: the first line of the first failure
names the student's file and line, the error, and which program could not start; the harness's own frames
never show."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import KIT
from ticketrail import startup

SYNTAX_ERROR = ("def confirm_order(order_id: int)\n", "app.py:{line}: SyntaxError: expected ':' — the API could not start")


def _self_check(exercise: str, impl: Path, *args: str, first_failure_only: bool = True) -> str:
    stop = ["-x"] if first_failure_only else []
    done = subprocess.run([sys.executable, "-m", "pytest", f"exercises/{exercise}", "--impl", str(impl), "-q", *stop,
                           "-p", "no:cacheprovider", *args], cwd=KIT, capture_output=True, text=True, timeout=600)
    return done.stdout + done.stderr


def _first_failure(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("____"))
    return lines[start + 1:]


def _broken(tmp_path: Path, exercise: str, filename: str, first_line: str) -> Path:
    impl = tmp_path / exercise
    shutil.copytree(KIT / "reference" / exercise, impl)
    source = impl / filename
    source.write_text(first_line + source.read_text())
    return impl


@pytest.mark.parametrize("first_line, headline", [
    ("def broken(:\n", "app.py:1: SyntaxError: invalid syntax — the API could not start"),
    ("import fastapi_helpers_nobody_wrote\n",
     "app.py:1: ModuleNotFoundError: No module named 'fastapi_helpers_nobody_wrote' — the API could not start"),
    ("raise RuntimeError('the menu is missing')\n", "app.py:1: RuntimeError: the menu is missing — the API could not start"),
], ids=["syntax error", "missing import", "exception at import"])
def test_an_api_that_cannot_start_opens_the_failure_with_one_line_and_no_harness_frames(tmp_path, first_line, headline):
    output = _self_check("01", _broken(tmp_path, "01", "app.py", first_line))
    failure = _first_failure(output)
    # Checks side by side report in any order: every one opens with the line, and only the first told shows more.
    assert failure[0] in (headline, headline + startup.TOLD_ELSEWHERE), (
        "\n".join(failure[:20]))
    assert output.count('File "app.py", line 1') <= 1, f"the student's frames are shown once per run:\n{output[:3000]}"
    assert "ticketrail/" not in output and "uvicorn" not in output and "importlib" not in output, output[:3000]
    assert output.count("Traceback") <= 1, f"the student's traceback is shown once per run:\n{output[:3000]}"


@pytest.mark.parametrize("first_line, headline", [
    ("import redis_helpers_nobody_wrote\n",
     "worker.py:1: ModuleNotFoundError: No module named 'redis_helpers_nobody_wrote' — the worker could not start"),
    ("raise RuntimeError('no oven')\n", "worker.py:1: RuntimeError: no oven — the worker could not start"),
], ids=["missing import", "exception at import"])
def test_a_worker_that_cannot_start_is_named_first_not_the_state_it_left(tmp_path, first_line, headline):
    output = _self_check("02", _broken(tmp_path, "02", "worker.py", first_line))
    failure = _first_failure(output)
    first_error = next(line for line in failure if line.startswith("E "))
    assert headline in first_error, "\n".join(failure[:40])


def test_an_api_busy_at_start_is_given_its_full_budget_once_and_a_short_one_in_every_later_check(tmp_path):
    impl = _broken(tmp_path, "01", "app.py", "while True:\n    pass\n")
    output = _self_check("01", impl, "-p", "no:xdist", "--tb=line", first_failure_only=False)
    failed = output.count("\nFAILED ")
    said = [line for line in output.splitlines() if line.startswith("E ")]  # --tb=line: each failure's error once
    full = sum("it used 10 s of CPU without listening, busy at start (an endless loop at import?)" in line
               for line in said)
    short = sum("it used 2 s of CPU without listening, busy at start as in the first check that started it" in line
                for line in said)
    assert failed >= 2, f"the check needs two checks that start the API; the run said:\n{output[-3000:]}"
    assert (full, short) == (1, failed - 1), (
        f"the first check that starts a looping API waits out the whole CPU budget; each later one, knowing the same "
        f"files looped, gives up after 2 s of CPU. Of {failed} failures, {full} said 10 s and {short} said 2 s:\n"
        f"{output[-4000:]}")
