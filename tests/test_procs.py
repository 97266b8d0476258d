"""A program the harness started ends with the harness, whatever ends it."""

import os
import signal
import subprocess
import sys
import time

from ticketrail import procfs

HARNESS = """
import sys, time
from pathlib import Path
from ticketrail.procs import Child
child = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"], Path("."), {{"PATH": "/usr/bin:/bin"}},
              log_dir=Path({log_dir!r}))
print(child.pid, flush=True)
time.sleep(120)
"""


def test_a_program_ends_when_the_harness_that_started_it_is_killed(tmp_path):
    harness = subprocess.Popen([sys.executable, "-c", HARNESS.format(log_dir=str(tmp_path))], cwd=tmp_path,
                               stdout=subprocess.PIPE, text=True)
    program = int(harness.stdout.readline())
    assert procfs.stat_fields(program) is not None, "the program should be running while its harness is"
    harness.send_signal(signal.SIGKILL)
    harness.wait()
    deadline = time.monotonic() + 10
    while (fields := procfs.stat_fields(program)) is not None and fields[0] != b"Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    fields = procfs.stat_fields(program)
    assert fields is None or fields[0] == b"Z", (
        f"process {program} ({fields[0] if fields else '-'}) outlived the harness that started it, killed")
    try:
        os.kill(program, signal.SIGKILL)
    except ProcessLookupError:
        pass
