"""The student's everyday tools work on the handout as a student gets it: check, status, hint, reset,
watch, run, and the whole loop from a fresh install to an exercise done."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path

import httpx
import pytest

from ticketrail import config, notdone, procfs
from ticketrail.childcall import CallResult
from ticketrail.commands import release
from ticketrail.commands.watch import snapshot, wait_for_change
from ticketrail.progress import Progress, exercises

from helpers import KIT

REFERENCE_APP = KIT / "reference" / "01" / "app.py"
# A starter whose endpoint stops at a TODO, as the later starters do.
NOT_DONE_APP = '''\
from fastapi import FastAPI

from ticketrail import shop

app = FastAPI()


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    order = await shop.get_order_from_db(order_id)
    await shop.update_order_status(order_id, "confirmed")
    raise NotImplementedError("schedule the side effects to run after the answer")
'''


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "handout"
    release.build(KIT, out, only=["01"])
    return out


@pytest.fixture
def handout(released: Path, tmp_path: Path) -> Path:
    """A fresh copy of the handout for each test: its progress and starter are the test's own."""
    copy = tmp_path / "handout"
    shutil.copytree(released, copy)
    return copy


def ticketrail(folder: Path, *args: str, stdin: str | None = None, python: str = sys.executable,
               timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "ticketrail.cli", *args], cwd=folder, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def said(result: subprocess.CompletedProcess) -> str:
    return f"exit code {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


class Lines:
    """A running command's output, read line by line in the background."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))

    def so_far(self) -> list[str]:
        while not self._queue.empty():
            self.seen.append(self._queue.get())
        return self.seen

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s; the output so far:\n"
                             + "\n".join(self.seen[-60:]))


# --- check ------------------------------------------------------------------------------------


def test_check_sums_up_each_task_and_says_which_task_is_not_done_yet(handout):
    (handout / "starter" / "01" / "app.py").write_text(NOT_DONE_APP)
    result = ticketrail(handout, "check", "01")
    assert result.returncode == 1, said(result)
    out = result.stdout
    for words in ("Task 2 · Answer fast", "0 of 2 checks pass", "Task 3 · Lose nothing", "Task 4 · Unknown orders",
                  "Task 2 is not done yet: app.py, line 12, in confirm_order raised NotImplementedError",
                  "schedule the side effects to run after the answer", "ticketrail hint 01"):
        assert words in out, f"{words!r} is missing from what `ticketrail check 01` printed:\n{out}"
    assert "warning" not in out.lower(), out
    assert out.splitlines()[1].startswith("Redis: a private redis-server") or \
        out.splitlines()[1].startswith("Redis: the embedded fake Redis"), \
        "the second line says which Redis the checks use\n" + out
    last = Progress(handout).of("01")["last_check"]
    assert not last["passed"] and {c["task"] for c in last["checks"]} == {2, 3, 4}, last


def test_check_shows_the_error_an_api_died_of_at_start_once_and_whole(handout):
    app = handout / "starter" / "01" / "app.py"
    app.write_text(app.read_text().replace("async def confirm_order(order_id: int):",
                                           "async def confirm_order(order_id: int)"))
    result = ticketrail(handout, "check", "01")
    assert result.returncode == 1, said(result)
    out = result.stdout
    assert out.count("SyntaxError: expected ':' — the API could not start") == 1, \
        "the crash's line is shown in full once (every check failed of the same crash)\n" + said(result)
    assert out.count('File "app.py", line') == 1 and "importlib" not in out and "click" not in out, \
        "the traceback keeps the student's frame only, and is shown once\n" + said(result)
    assert out.count("the API could not start") == 1 and out.count("The same as for") == 3, said(result)


def test_plain_pytest_also_says_which_task_is_not_done_yet(handout):
    (handout / "starter" / "01" / "app.py").write_text(NOT_DONE_APP)
    result = subprocess.run([sys.executable, "-m", "pytest", "exercises/01", "-k", "says_the_order_is_confirmed"],
                            cwd=handout, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout
    assert "Task 2 is not done yet: app.py, line 12, in confirm_order raised NotImplementedError" in result.stdout, \
        result.stdout
    assert "warnings summary" not in result.stdout, result.stdout


def test_a_passed_exercise_is_done_and_not_checked_again_until_its_files_change(handout):
    shutil.copy(REFERENCE_APP, handout / "starter" / "01" / "app.py")
    result = ticketrail(handout, "check", "01")
    assert result.returncode == 0, said(result)
    assert "Exercise 01 is done: all 4 checks pass" in result.stdout, result.stdout

    status = ticketrail(handout, "status")
    assert re.search(r"01\s+Fix the slow endpoint\s+✔ done", status.stdout), status.stdout

    started = time.monotonic()
    again = ticketrail(handout, "check")
    assert again.returncode == 0, said(again)
    assert "done, and unchanged since it passed (not checked again)" in again.stdout, again.stdout
    assert "Checking exercise" not in again.stdout and time.monotonic() - started < 15, again.stdout

    with open(handout / "starter" / "01" / "app.py", "a") as app:
        app.write("\n# a comment changes the file: the exercise is checked again\n")
    status = ticketrail(handout, "status")
    assert re.search(r"01\s+Fix the slow endpoint\s+… in progress\s+changed since it passed", status.stdout), \
        status.stdout


# --- status, hint, reset ------------------------------------------------------------------------


def test_status_of_a_fresh_handout_shows_every_exercise_not_started(handout):
    result = ticketrail(handout, "status")
    assert result.returncode == 0, said(result)
    for exercise in exercises(handout):
        assert re.search(rf"{exercise.id}\s+{re.escape(exercise.title)}\s+· not started", result.stdout), result.stdout
    assert "Next: exercise 01" in result.stdout


def test_hint_shows_the_next_level_each_time_and_remembers_it(handout):
    first = ticketrail(handout, "hint", "01")
    second = ticketrail(handout, "hint", "01")
    assert first.stdout.startswith("Hint 1 of 4"), said(first)
    assert "Sort the six calls into two piles" in first.stdout
    assert second.stdout.startswith("Hint 2 of 4"), said(second)
    listing = ticketrail(handout, "hint", "01", "--list").stdout
    assert re.search(r"seen\s+Hint 1", listing) and re.search(r"seen\s+Hint 2", listing), listing
    assert not re.search(r"seen\s+Hint 3", listing), listing
    status = ticketrail(handout, "status").stdout
    assert re.search(r"01\s+Fix the slow endpoint\s+… in progress", status), status


def test_hint_goes_to_the_task_the_last_check_failed(handout):
    progress = Progress(handout)
    exercise = exercises(handout)[0]
    progress.record_check(exercise, "an older fingerprint", [
        {"name": "test_confirming_an_order_answers_within_the_budget", "task": 2, "outcome": "passed"},
        {"name": "test_an_unknown_order_is_404_and_sends_nothing", "task": 4, "outcome": "failed"},
    ], passed=False)
    result = ticketrail(handout, "hint", "01")
    assert result.stdout.startswith("Hint 4 of 4 · task 4 (your last check failed task 4)"), said(result)
    assert "HTTPException" in result.stdout


def test_reset_asks_first_and_keeps_a_backup(handout):
    app = handout / "starter" / "01" / "app.py"
    starter = app.read_text()
    app.write_text(NOT_DONE_APP)

    declined = ticketrail(handout, "reset", "01", stdin="n\n")
    assert declined.returncode == 1 and "[y/N]" in declined.stdout, said(declined)
    assert app.read_text() == NOT_DONE_APP, "answering n must change nothing"

    accepted = ticketrail(handout, "reset", "01", stdin="y\n")
    assert accepted.returncode == 0, said(accepted)
    assert app.read_text() == starter
    backups = list((handout / ".ticketrail" / "backups").glob("01-*/app.py"))
    assert [b.read_text() for b in backups] == [NOT_DONE_APP], backups

    nothing = ticketrail(handout, "reset", "01")
    assert "already as it was handed out" in nothing.stdout, said(nothing)


# --- watch ------------------------------------------------------------------------------------


def test_the_watcher_sees_a_save_that_keeps_the_size_and_waits_for_the_editor_to_finish(tmp_path):
    (tmp_path / "app.py").write_text("one")
    before = snapshot([tmp_path])

    def save_twice() -> None:
        time.sleep(0.3)
        (tmp_path / "app.py").write_text("two")
        time.sleep(0.1)
        (tmp_path / "app.py").write_text("six")

    threading.Thread(target=save_twice).start()
    after = wait_for_change([tmp_path], before, interval=0.05, settle=0.3)
    assert (tmp_path / "app.py").read_text() == "six"
    assert after == snapshot([tmp_path]) != before


def test_watch_checks_again_when_a_file_is_saved(handout):
    app = handout / "starter" / "01" / "app.py"
    app.write_text(NOT_DONE_APP)
    process = subprocess.Popen([sys.executable, "-m", "ticketrail.cli", "watch", "01", "--interval", "0.2"],
                               cwd=handout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(process)
    try:
        lines.wait_for(r"Task 2 is not done yet", timeout=120)
        lines.wait_for(r"^Watching .*starter/01 for changes", timeout=120)
        shutil.copy(REFERENCE_APP, app)
        lines.wait_for(r"^Checking exercise 01", timeout=30)
        lines.wait_for(r"Exercise 01 is done", timeout=180)
        lines.wait_for(r"^Watching", timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert Progress(handout).is_done(exercises(handout)[0])


# --- run --------------------------------------------------------------------------------------


def test_run_starts_the_shop_with_each_process_labelled_and_stops_it_all(handout):
    shutil.copy(REFERENCE_APP, handout / "starter" / "01" / "app.py")
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketrail.cli", "run", "01", "--port", "0", "--time-scale", "0.05"],
        cwd=handout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = Lines(process)
    try:
        lines.wait_for(r"^\[ticketrail\] exercise 01: .*; Redis: (a private redis-server|the embedded fake Redis)",
                       timeout=60)
        assert len(lines.seen) == 1, "the first line says which Redis is in use\n" + "\n".join(lines.seen)
        url = lines.wait_for(r"the API answers at (http://127\.0\.0\.1:\d+)", timeout=60).group(1)
        response = httpx.post(f"{url}/orders/42/confirm", timeout=30)
        assert response.json() == {"status": "confirmed", "order_id": 42}
        lines.wait_for(r'^\[api\] .*"POST /orders/42/confirm HTTP/1.1" 200', timeout=30)
        lines.wait_for(r"^\[world\] email order 42: ok", timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    lines.wait_for(r"stopping everything", timeout=10)
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{url}/orders/43/confirm", timeout=5)


def wait_until_idle(pids: list[int], deadline: float) -> dict[int, str] | None:
    """Wait until every program (and what it started) has used (nearly) no CPU for half a second: done starting,
    waiting for work. None when one of them is gone; else each pid's CPU time so far."""
    def used() -> dict[int, float] | None:
        if not all(procfs.stat_fields(pid) for pid in pids):
            return None
        return {pid: procfs.cpu_seconds([pid, *procfs.descendants(pid)]) for pid in pids}

    give_up = time.monotonic() + deadline
    before = used()
    while before is not None and time.monotonic() < give_up:
        time.sleep(0.5)
        now = used()
        if now is not None and all(now[pid] - before[pid] < 0.05 for pid in pids):
            break
        before = now
    return None if before is None else {pid: f"{seconds:.2f} s CPU" for pid, seconds in before.items()}


def exercises_with_programs() -> list[str]:
    kit = config.load(KIT / "grading.yml")
    return [spec.id for spec in kit.exercises.values() if spec.run_programs and all(
        (KIT / "reference" / spec.id / shlex.split(program)[0]).is_file() for program in spec.run_programs)]


@pytest.mark.parametrize("exercise_id", exercises_with_programs())
def test_run_starts_every_program_an_exercise_lists_and_stops_them_all(exercise_id):
    spec = config.load(KIT / "grading.yml").exercise(exercise_id)
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketrail.cli", "run", exercise_id, "--impl", "reference", "--port", "0",
         "--time-scale", "0.05"],
        cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines = Lines(process)
    try:
        pids = {}
        for program in spec.run_programs:
            found = lines.wait_for(rf"^\[ticketrail\] started {re.escape(program)} \(pid (\d+)\)", timeout=60)
            pids[program] = int(found.group(1))
        lines.wait_for(r"logs follow", timeout=60)
        settled = wait_until_idle(list(pids.values()), deadline=60)
        assert settled and not [line for line in lines.so_far() if re.match(r"^\[.*\] (exited|killed)", line)], (
            f"every program should start and then wait for work, but after 60 s: {settled}\n" + "\n".join(lines.seen))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    for program, pid in pids.items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# --- failure output that teaches --------------------------------------------------------------


def test_a_not_implemented_error_in_a_log_names_the_students_line(tmp_path):
    log = (
        "Traceback (most recent call last):\n"
        '  File "/venv/lib/python3.11/site-packages/starlette/routing.py", line 73, in app\n'
        "    response = await f(request)\n"
        f'  File "{tmp_path}/worker.py", line 31, in handle\n'
        '    raise NotImplementedError("task 3: record each stage")\n'
        "NotImplementedError: task 3: record each stage\n"
    )
    found = notdone.from_log(log, "worker.py", tmp_path)
    assert found == 'worker.py, line 31, in handle raised NotImplementedError ("task 3: record each stage")'
    assert notdone.headline(2, [found]).startswith("Task 3 is not done yet: worker.py, line 31"), \
        "a TODO that names its task wins over the check's marker"
    assert notdone.from_log("INFO: all good\n", "worker.py", tmp_path) is None


def test_a_missing_function_or_module_is_a_task_not_done_yet():
    missing = CallResult(False, error="AttributeError", message="module 'worker' has no attribute 'next_due'")
    assert notdone.from_call(missing, "worker", "next_due") == "worker.py has no function next_due yet"
    absent = CallResult(False, error="ModuleNotFoundError", message="No module named 'scheduler'")
    assert notdone.from_call(absent, "scheduler", "tick") == "there is no scheduler.py yet"
    wrong = CallResult(False, error="ValueError", message="bad")
    assert notdone.from_call(wrong, "worker", "next_due") is None
    assert notdone.headline(5, ["worker.py has no function next_due yet"]).startswith("Task 5 is not done yet")


# --- the whole loop, as a new student ---------------------------------------------------------


def test_a_new_student_installs_the_handout_checks_takes_a_hint_fixes_and_is_done(tmp_path):
    handout = tmp_path / "ticketrail-handout"
    made = ticketrail(KIT, "release", str(handout), "--only", "01")
    assert made.returncode == 0, said(made)
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    installed = subprocess.run([python, "-m", "pip", "install", "--quiet", "-e", "."], cwd=handout, env=env,
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    where = subprocess.run([python, "-c", "import ticketrail; print(ticketrail.__file__)"], capture_output=True,
                           text=True, cwd=tmp_path)
    assert where.stdout.startswith(str(handout)), f"the fresh venv must use the handout's harness: {where.stdout}"

    status = ticketrail(handout, "status", python=python)
    assert "· not started" in status.stdout, said(status)

    first = ticketrail(handout, "check", "01", python=python)
    assert first.returncode == 1, said(first)
    assert re.search(r"✘ Task 2 · Answer fast\s+\d of 2 checks pass", first.stdout), first.stdout
    assert "The customer waited" in first.stdout and "Timeline of one request" in first.stdout, first.stdout

    hint = ticketrail(handout, "hint", "01", python=python)
    assert hint.stdout.startswith("Hint 1 of 4"), said(hint)

    shutil.copy(REFERENCE_APP, handout / "starter" / "01" / "app.py")
    fixed = ticketrail(handout, "check", "01", python=python)
    assert fixed.returncode == 0, said(fixed)

    status = ticketrail(handout, "status", python=python)
    assert re.search(r"01\s+Fix the slow endpoint\s+✔ done", status.stdout), said(status)
    assert json.loads((handout / ".ticketrail" / "progress.json").read_text())["exercises"]["01"]["passed"]
