"""Call one function of student code in a child process and hand back its result as JSON.

The test process never imports student code; for the rare check of a pure function
(the next due time, the backoff schedule) it starts `python -m ticketrail.childcall`
in the student's folder, optionally under freezegun, and reads one line of JSON.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ticketrail import timings
from ticketrail.sandbox.jail import Jail
from ticketrail.procs import Child, python_argv

MARK = "@@ticketrail-result@@"
REQUEST_VARIABLE = "TICKETRAIL_CALL"


def _encode(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"__seconds__": value.total_seconds()}
    raise TypeError(f"cannot send a {type(value).__name__} back as JSON")


def _decode(obj: dict) -> Any:
    if set(obj) == {"__datetime__"}:
        return dt.datetime.fromisoformat(obj["__datetime__"])
    if set(obj) == {"__seconds__"}:
        return dt.timedelta(seconds=obj["__seconds__"])
    return obj


def _child_main() -> None:
    request = json.loads(os.environ.pop(REQUEST_VARIABLE))
    sys.path.insert(0, ".")
    outcome: dict[str, Any]
    try:
        # Import first, then freeze: freezegun swaps the clock in modules already loaded, while some
        # libraries (pydantic, so FastAPI) cannot even be imported once datetime is its fake class.
        module = importlib.import_module(request["module"])
        function = getattr(module, request["function"])
        freezer = None
        if request.get("freeze"):
            from freezegun import freeze_time

            freezer = freeze_time(request["freeze"])
            freezer.start()
        try:
            args = json.loads(json.dumps(request.get("args", [])), object_hook=_decode)
            kwargs = json.loads(json.dumps(request.get("kwargs", {})), object_hook=_decode)
            outcome = {"ok": True, "value": function(*args, **kwargs)}
        finally:
            if freezer is not None:
                freezer.stop()
    except BaseException as error:  # the student's code may raise anything, SystemExit included
        outcome = {"ok": False, "error": type(error).__name__, "message": str(error),
                   "traceback": traceback.format_exc(limit=5)}
    try:
        line = json.dumps(outcome, default=_encode)
    except TypeError as error:
        line = json.dumps({"ok": False, "error": "TypeError", "message": str(error), "traceback": ""})
    sys.stdout.write(f"\n{MARK}{line}\n")
    sys.stdout.flush()


@dataclass
class CallResult:
    ok: bool
    value: Any = None
    error: str | None = None
    message: str = ""
    traceback: str = ""
    output: str = ""


@timings.timed("start", "childcall {module}.{function}")
def call_in_child(
    impl_dir: Path,
    module: str,
    function: str,
    args: list | None = None,
    kwargs: dict | None = None,
    freeze: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    user: tuple[int, int] | None = None,
    jail: Jail | None = None,
) -> CallResult:
    """Run `module.function(*args, **kwargs)` in `impl_dir`, under frozen time if `freeze` is given.

    The child is a student program like any other: limits, its uid and jail, and its output capped."""
    request = json.dumps({"module": module, "function": function, "args": args or [],
                          "kwargs": kwargs or {}, "freeze": freeze}, default=_encode)
    log_dir = Path(tempfile.mkdtemp(prefix="ticketrail-call-"))
    try:
        child = Child(f"{module}.{function}", python_argv("-m", "ticketrail.childcall"), Path(impl_dir),
                      {**(env or {}), REQUEST_VARIABLE: request}, user=user, log_dir=log_dir, jail=jail)
        try:
            child.process.wait(timeout)
        except subprocess.TimeoutExpired:
            child.stop(grace=0)
            return CallResult(False, error="Timeout", message=f"{module}.{function} did not return within {timeout:.0f} s")
        child.stop(grace=0)  # whatever it left running in its group goes too
        output = child.log()
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)
    if MARK not in output:
        return CallResult(False, error="Crashed",
                          message=f"the child exited with code {child.process.returncode} before answering",
                          output=output[-2000:])
    printed, _, line = output.rpartition(MARK)
    payload = json.loads(line.strip().splitlines()[0], object_hook=_decode)
    return CallResult(payload["ok"], payload.get("value"), payload.get("error"), payload.get("message", ""),
                      payload.get("traceback", ""), printed[-2000:])


if __name__ == "__main__":
    _child_main()
