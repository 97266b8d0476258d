"""A self-check on the untouched starter says what is wrong as soon as the contract rules the wait out, in words
that name it, instead of waiting out a deadline meant for a slow machine."""

from __future__ import annotations

import re
import subprocess
import sys

from helpers import KIT


def _starter_self_check(exercise: str, *select: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", f"exercises/{exercise}", "--impl", "starter", "-q",
                           "-p", "no:cacheprovider", "-p", "no:xdist", "-k", " or ".join(select)],
                          cwd=KIT, capture_output=True, text=True, timeout=600)
    return done.stdout + done.stderr


def test_exercise_04_tells_a_starter_that_a_killed_workers_job_and_an_unreadable_message_are_on_no_list():
    output = _starter_self_check("04", "killed_mid_email", "unreadable_message")
    assert "2 failed" in output, f"Both checks should fail on the starter:\n{output[-3000:]}"
    assert "its job has been on no list of the rail for 4 s" in output and "BRPOPLPUSH" in output, (
        f"The killed worker's job, taken with plain BRPOP, should be reported lost after a lease and 2 s, with the "
        f"cure; look at exercises/04's killed-worker check and checks/rail.Nowhere:\n{output[-3000:]}")
    assert "taken off the rail and dropped" in output, (
        f"The starter forgets an unreadable message; the check should say it was dropped, not wait 10 s for the "
        f"dead letters:\n{output[-3000:]}")


def test_exercise_06_tells_a_starter_whose_schedulers_sleep_away_from_the_clock_so_after_5_s():
    output = _starter_self_check("06", "two_schedulers")
    assert "1 failed" in output, f"The check should fail on the starter:\n{output[-3000:]}"
    assert re.search(r"for [5-9] s no scheduler woke up even once", output) and "sleeps 300 s" in output, (
        f"The starter's schedulers sleep 300 s; the check should say so once none has woken for 5 s (see "
        f"ClockedSchedulers._away_watch), not after the 20 s deadline:\n{output[-3000:]}")
