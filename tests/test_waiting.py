"""Waits that know the programs: they give up at once when a program failed on its own, and say what each was doing."""

import time

import pytest

from ticketrail import waiting
from ticketrail.system import System
from ticketrail.waiting import WaitTimeout, wait_until


@pytest.fixture
def programs(tmp_path):
    system = System(tmp_path, "redis://127.0.0.1:1/0", "http://127.0.0.1:1")
    waiting.watch(system)
    yield system
    waiting.watch(None)
    system.stop()


def test_a_wait_gives_up_at_once_when_a_program_it_needs_failed_on_its_own(programs, tmp_path):
    (tmp_path / "worker.py").write_text("import sys\nprint('starting')\nsys.exit(3)\n")
    programs.start_program("worker.py")
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as failed:
        wait_until(lambda: False, timeout=60, describe=lambda: "the email was never sent")
    assert time.monotonic() - started < 10, "the wait should not run to its 60 s deadline"
    message = str(failed.value)
    assert "worker.py exited with code 3 while the check waited" in message, message
    assert "starting" in message and "the email was never sent" in message, message


def test_a_wait_gives_up_when_a_program_reached_work_marked_not_done(programs, tmp_path):
    (tmp_path / "worker.py").write_text(
        "import time\ntry:\n    raise NotImplementedError('task 2: send the email')\n"
        "except NotImplementedError:\n    import traceback; traceback.print_exc()\ntime.sleep(60)\n")
    programs.start_program("worker.py")
    with pytest.raises(WaitTimeout) as failed:
        wait_until(lambda: False, timeout=60, describe=lambda: "the email was never sent")
    assert 'raised NotImplementedError ("task 2: send the email")' in str(failed.value), str(failed.value)


def test_a_program_stopped_by_the_harness_is_not_a_reason_to_give_up(programs, tmp_path):
    (tmp_path / "worker.py").write_text("import time\ntime.sleep(60)\n")
    worker = programs.start_program("worker.py")
    worker.kill()
    assert programs.hopeless() is None


def test_a_wait_that_runs_out_says_a_spinning_program_is_busy(programs, tmp_path):
    (tmp_path / "worker.py").write_text("while True:\n    pass\n")
    programs.start_program("worker.py")
    with pytest.raises(WaitTimeout) as failed:
        wait_until(lambda: False, timeout=4, describe=lambda: "no job was taken")
    message = str(failed.value)
    assert "worker.py: busy:" in message and "stuck in a loop" in message, message
