"""While requests are timed, the measured programs come first for the cores; afterwards they weigh as before."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ticketrail.latency import exclusive
from ticketrail.priority import MEASURING_NICE, favoured
from ticketrail.waiting import wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/proc/self/autogroup").exists(),
                                reason="raising a session's weight takes root and a kernel with autogroups")


# A program that stays until it is killed: what the favour acts on, not a wait of the test's.
IDLE = [sys.executable, "-c", "import signal; signal.pause()"]


def autogroup_nice(pid: int) -> int | None:
    """None for the kernel's root group, whose weight cannot be changed: a process that no session since boot
    separated from init (a CI job started without a session of its own) shows an empty file."""
    fields = Path(f"/proc/{pid}/autogroup").read_text().split()
    return int(fields[-1]) if fields else None


def test_a_program_in_a_session_of_its_own_is_favoured_only_while_the_lock_is_held(tmp_path):
    # Every program the harness starts has a session (so an autogroup) of its own, as this one.
    program = subprocess.Popen(IDLE, start_new_session=True)
    try:
        assert autogroup_nice(program.pid) == 0
        with exclusive(tmp_path):
            during = autogroup_nice(program.pid), autogroup_nice(os.getpid())
        after = autogroup_nice(program.pid), autogroup_nice(os.getpid())
    finally:
        program.kill()
        program.wait()
    in_root_group = after[1] is None
    expected = (MEASURING_NICE, None if in_root_group else MEASURING_NICE)
    assert during == expected, (
        f"while the lock was held the program's session weighed nice {during[0]} and the measuring process's "
        f"{during[1]}; expected {expected}, or other gradings' load stretches the requests timed")
    assert after == (0, None if in_root_group else 0), (
        f"after the measurement the sessions kept nice {after}: put the old weight back")


def test_a_program_started_during_the_measurement_is_put_back_with_its_session(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", "import signal, subprocess, sys; sys.stdin.readline(); "
                               f"p = subprocess.Popen({IDLE!r}); print(p.pid, flush=True); signal.pause()"],
                              start_new_session=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with exclusive(tmp_path):
            parent.stdin.write("go\n")
            parent.stdin.flush()
            started = int(parent.stdout.readline())
            during = autogroup_nice(started)
        after = autogroup_nice(started)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the parent's session: it and the program it started
        parent.wait()
    assert during == MEASURING_NICE, f"a child of a measured program weighed nice {during} during the measurement"
    assert after == 0, f"a program started during the measurement kept nice {after} afterwards"


def test_a_measurement_whose_requests_hang_is_not_favoured_past_its_limit(tmp_path):
    program = subprocess.Popen(IDLE, start_new_session=True)
    try:
        with favoured(longest=0.2):
            during = autogroup_nice(program.pid)
            wait_until(lambda: autogroup_nice(program.pid) == 0, timeout=10, describe=lambda: (
                f"10 s after its limit of 0.2 s the measured program still weighed nice {autogroup_nice(program.pid)}"))
    finally:
        program.kill()
        program.wait()
    assert during == MEASURING_NICE
