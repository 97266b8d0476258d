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

SYNTAX_ERROR = ("def confirm_order(order_id: int)\n", "app.py:{line}: SyntaxError: expected ':' — the API could not start")


def _self_check(exercise: str, impl: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", f"exercises/{exercise}", "--impl", str(impl), "-q", "-x",
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
    assert failure[0] == headline, "\n".join(failure[:20])
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
