"""A student program that dies at start reads as one line, from the logs real programs print."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ticketrail.startup import crash, cut_tracebacks, died_loading, tracebacks

# As the harness starts a student's programs: -E ignores PYTHON* variables, -s the user site, -B writes no bytecode.
PYTHON = [sys.executable, "-E", "-s", "-B", "-u"]
ROLES = {"app.py": "the API", "worker.py": "the worker"}

SYNTAX_ERROR = '''\
from fastapi import FastAPI

app = FastAPI()


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int)
    return {"status": "confirmed", "order_id": order_id}
'''
MISSING_MODULE = '''\
import json

import redos
from fastapi import FastAPI

app = FastAPI()
'''
RAISES_AT_IMPORT = '''\
import os

from fastapi import FastAPI


def email_sender():
    return os.environ["SMTP_HOST"]


SENDER = email_sender()
app = FastAPI()
'''


def start(folder: Path, program: str) -> str:
    """Run `program` as the harness runs it and return what it printed before it died."""
    argv = [*PYTHON, "-m", "uvicorn", "app:app", "--port", "0"] if program == "app.py" else [*PYTHON, program]
    done = subprocess.run(argv, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, f"{program} was meant to die at start but exited 0; it printed:\n{done.stderr}"
    return done.stdout + done.stderr


def broken(tmp_path: Path, program: str, source: str, **more: str) -> tuple[Path, str]:
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / program).write_text(source)
    for name, text in more.items():
        (folder / f"{name}.py").write_text(text)
    return folder, start(folder, program)


def explain(log: str, found) -> str:
    return f"what the program printed:\n{log}\n--- what was made of it:\n{found}"


@pytest.mark.parametrize("program", ROLES)
def test_a_missing_colon_reads_as_the_file_line_and_error_in_one_line(tmp_path, program):
    folder, log = broken(tmp_path, program, SYNTAX_ERROR)
    found = crash(log, folder, ROLES[program])
    assert found is not None, explain(log, found)
    assert found.headline == f"{program}:7: SyntaxError: expected ':' — {ROLES[program]} could not start", \
        explain(log, found)
    assert found.traceback.splitlines()[-3:] == [
        "    async def confirm_order(order_id: int)",
        "                                          ^",
        "SyntaxError: expected ':'",
    ], "the caret under the line is what shows where the colon is missing\n" + explain(log, found)


@pytest.mark.parametrize("program", ROLES)
def test_a_missing_module_names_the_import_line(tmp_path, program):
    folder, log = broken(tmp_path, program, MISSING_MODULE)
    found = crash(log, folder, ROLES[program])
    assert found is not None and found.headline == (
        f"{program}:3: ModuleNotFoundError: No module named 'redos' — {ROLES[program]} could not start"
    ), explain(log, found)
    assert found.traceback == (f'Traceback (most recent call last):\n  File "{program}", line 3, in <module>\n'
                               "    import redos\nModuleNotFoundError: No module named 'redos'"), explain(log, found)


@pytest.mark.parametrize("program", ROLES)
def test_an_exception_raised_at_import_points_at_the_students_innermost_line(tmp_path, program):
    folder, log = broken(tmp_path, program, RAISES_AT_IMPORT)
    found = crash(log, folder, ROLES[program])
    assert found is not None and found.headline == (
        f"{program}:7: KeyError: 'SMTP_HOST' — {ROLES[program]} could not start"
    ), "the line is the student's innermost frame (not os.environ's)\n" + explain(log, found)
    shown = found.traceback.splitlines()
    frames = [line for line in shown if line.startswith("  File ")]
    assert frames == [f'  File "{program}", line 10, in <module>', f'  File "{program}", line 7, in email_sender'], \
        explain(log, found)
    assert shown[-1] == "KeyError: 'SMTP_HOST'", explain(log, found)


def test_the_error_the_program_died_of_is_the_last_one_it_printed(tmp_path):
    folder, log = broken(tmp_path, "worker.py", (
        "import logging\n\ntry:\n    PARALLEL = int('four')\nexcept ValueError:\n"
        "    logging.exception('PARALLEL is not a number: using 1')\n\nimport redos\n"))
    assert log.count("Traceback") == 2, "the worker was meant to log one error and die of another:\n" + log
    found = crash(log, folder, "the worker")
    assert found is not None and found.headline.startswith("worker.py:8: ModuleNotFoundError"), explain(log, found)


def test_the_api_traceback_holds_none_of_uvicorn_click_or_importlib(tmp_path):
    folder, log = broken(tmp_path, "app.py", RAISES_AT_IMPORT)
    assert all(word in log for word in ("uvicorn", "click", "importlib")), \
        "the log was meant to show uvicorn's own frames, which are what gets cut:\n" + log
    found = crash(log, folder, "the API")
    for word in ("uvicorn", "click", "importlib", "frozen", str(folder)):
        assert word not in found.traceback, f"{word!r} is still in the cut traceback\n" + explain(log, found)
    assert len(log.splitlines()) > 30 and len(found.traceback.splitlines()) == 8, explain(log, found)


def test_an_error_in_a_module_the_api_imports_names_that_module(tmp_path):
    folder, log = broken(tmp_path, "app.py", "from fastapi import FastAPI\n\nfrom pricing import total\n\n"
                         "app = FastAPI()\n", pricing="def total(order):\n    return order['price'] *\n")
    found = crash(log, folder, "the API")
    assert found is not None and found.headline.startswith("pricing.py:2: SyntaxError: invalid syntax"), \
        explain(log, found)
    assert '  File "app.py", line 3, in <module>' in found.traceback, \
        "the import that led there is the student's frame too\n" + explain(log, found)


def test_an_api_module_without_an_app_reads_as_uvicorns_one_line(tmp_path):
    folder, log = broken(tmp_path, "app.py", "from fastapi import FastAPI\n\nshop = FastAPI()\n")
    found = crash(log, folder, "the API")
    assert found is not None and found.headline == \
        'Error loading ASGI app. Attribute "app" not found in module "app" — the API could not start', \
        explain(log, found)


POISON_MESSAGE = '''\
import json


def handle(raw):
    return json.loads(raw)["task"]


def main():
    for raw in ["{not json"]:
        handle(raw)


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("program", ROLES)
@pytest.mark.parametrize("source", [SYNTAX_ERROR, MISSING_MODULE, RAISES_AT_IMPORT], ids=["syntax", "import", "raises"])
def test_a_program_that_dies_while_its_files_load_died_loading(tmp_path, program, source):
    folder, log = broken(tmp_path, program, source)
    assert died_loading(log, folder), "a crash while the files load is a program that could not start\n" + log


def test_a_worker_whose_main_loop_raised_on_its_first_job_had_started(tmp_path):
    folder, log = broken(tmp_path, "worker.py", POISON_MESSAGE)
    assert "JSONDecodeError" in log, "the worker was meant to die of the job it took:\n" + log
    assert not died_loading(log, folder), ("it died of the job it took, in main(), after it had loaded: it "
                                           "started, then stopped\n" + log)
    assert crash(log, folder, "the worker", "stopped").headline.startswith("worker.py:5: json.decoder.JSONDecodeError")


def test_a_log_without_an_error_is_no_crash():
    log = "INFO:     Started server process [12]\nINFO:     Waiting for application startup.\n"
    assert crash(log, Path("/tmp/student"), "the API") is None


def test_a_traceback_is_found_in_a_log_indented_by_a_message():
    log = "The worker exited at start. The last lines it printed:\n" + "\n".join(
        "    " + line for line in ["Traceback (most recent call last):", '  File "/s/worker.py", line 2, in <module>',
                                   "    import redos", "ModuleNotFoundError: No module named 'redos'"])
    found = crash(log, Path("/s"), "the worker")
    assert found is not None and found.headline.startswith("worker.py:2: ModuleNotFoundError"), explain(log, found)
    assert [t.error for t in tracebacks(log)] == ["ModuleNotFoundError"]


# --- a 500 as uvicorn logs it ---------------------------------------------------------------

FAILING_ENDPOINT = '''\
from fastapi import FastAPI

app = FastAPI()


def total(order):
    return order["price"] * order["quantity"]


@app.post("/orders/{order_id}/confirm")
async def confirm_order(order_id: int):
    return {"total": total({"price": 3})}
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f} s still not {what}")
        time.sleep(0.05)


def test_a_500s_traceback_is_cut_to_the_endpoints_own_frames(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "app.py").write_text(FAILING_ENDPOINT)
    log_path = tmp_path / "api.log"
    port = free_port()
    with open(log_path, "w") as log_file:
        server = subprocess.Popen([*PYTHON, "-m", "uvicorn", "app:app", "--port", str(port)], cwd=folder,
                                  stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Uvicorn running" in log_path.read_text() or server.poll() is not None, 30,
                 "serving (the log: see api.log)")
        assert server.poll() is None, log_path.read_text()
        assert httpx.post(f"http://127.0.0.1:{port}/orders/1/confirm", timeout=30).status_code == 500
        wait_for(lambda: "KeyError: 'quantity'" in log_path.read_text(), 30, "logging the KeyError")
    finally:
        server.terminate()
        server.wait(30)
    log = log_path.read_text()
    cut = cut_tracebacks(log, folder)
    assert "starlette" in log and "starlette" not in cut, cut
    assert "\n".join(line for line in cut.splitlines() if line.startswith(("  File", "KeyError"))) == (
        '  File "app.py", line 12, in confirm_order\n  File "app.py", line 7, in total\nKeyError: \'quantity\''
    ), cut
    assert "frames outside your files left out" in cut and 'POST /orders/1/confirm HTTP/1.1" 500' in cut, \
        "the request line and a note of what was cut stay\n" + cut


def test_a_traceback_that_never_enters_the_students_files_is_left_whole():
    log = ("ERROR:    Exception in ASGI application\nTraceback (most recent call last):\n"
           '  File "/venv/lib/python3.11/site-packages/starlette/routing.py", line 5, in handle\n'
           "    await self.app(scope)\nRuntimeError: boom\n")
    assert cut_tracebacks(log, Path("/student")) == log


def test_a_log_tail_that_begins_inside_a_frame_is_cut_whole(tmp_path):
    folder, log = broken(tmp_path, "app.py", SYNTAX_ERROR)
    lines = log.splitlines()
    inside = next(n for n in range(len(lines) - 20, 0, -1) if lines[n].startswith("    "))
    tail = "\n".join(lines[inside:])  # as a failed check quotes a program's last lines
    assert not tail.startswith(("Traceback", "  File")), "the tail was meant to begin inside a frame:\n" + tail
    cut = cut_tracebacks(tail, folder)
    assert cut.splitlines()[0] == "Traceback (most recent call last):", cut
    assert cut.splitlines()[-1] == "SyntaxError: expected ':'" and "importlib" not in cut, cut


# --- what `ticketrail check` shows of a failed check's message --------------------------------


def test_check_keeps_a_long_messages_first_lines_and_the_error_it_ends_with(tmp_path):
    from ticketrail.commands.check import MESSAGE_LINES, shown_message

    folder, log = broken(tmp_path, "app.py", RAISES_AT_IMPORT)
    message = ("ticketrail.procs.ChildFailed: api (app.py) exited with code 1 before it answered on port 4000.\n"
               "The last lines it printed:\n" + "\n".join(f"INFO: line {n}" for n in range(60)) + "\n" + log)
    for student_dir in (folder, None):  # None: the student's folder is not known, nothing is cut
        shown, left_out = shown_message(message, student_dir)
        assert shown[0] == "api (app.py) exited with code 1 before it answered on port 4000.", "\n".join(shown)
        assert shown[-1] == "KeyError: 'SMTP_HOST'" and left_out > 0, "\n".join(shown)
        assert any(line.endswith("app.py\", line 7, in email_sender") for line in shown), \
            "the student's frame above the error stays\n" + "\n".join(shown)
        assert len(shown) <= MESSAGE_LINES + 6, "\n".join(shown)
