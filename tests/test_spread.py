"""A run's checks go to as many side-by-side workers as it selects checks, at most: never one that runs nothing."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from helpers import KIT
from ticketrail.spread import checks_selected

GRADER = "test_an_event_read_but_not_acknowledged_when_a_subscriber_crashed_is_recovered_and_handled_once"


class Options:
    """What checks_selected reads of a pytest config."""

    def __init__(self, *args: str, keyword: str = "", only: str | None = None) -> None:
        self.args = list(args)
        self._options = {"keyword": keyword, "--ticketrail-only": only}

    def getoption(self, name: str):
        return self._options[name]


def collected(*args: str) -> int:
    done = subprocess.run([sys.executable, "-m", "pytest", *args, "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=KIT, capture_output=True, text=True)
    figures = re.search(r"(\d+)(?:/\d+)? tests? collected|no tests collected", done.stdout)
    assert figures, f"pytest's collection did not say how many it collected:\n{done.stdout[-2000:]}{done.stderr}"
    return int(figures[1] or 0)


@pytest.mark.parametrize("selection", [
    ("exercises/01",), ("graders/04",), ("graders/05", "-k", "crash or subscriber"), ("exercises/03", "-k", "worker"),
    ("graders/02", "-k", "test_enqueue"), ("exercises/06", "-k", "not day"), ("graders/01", "-k", "nothing_by_this"),
])
def test_the_count_read_from_the_files_is_the_count_pytest_collects(selection):
    folder, *rest = selection
    keyword = rest[1] if rest else ""
    counted = checks_selected(Options(folder, keyword=keyword), [KIT / folder])
    assert counted == collected(*selection, "--impl", "reference"), (
        f"for {' '.join(selection)} the files give {counted} checks and pytest collects another number: a run "
        "would start workers that run nothing, or fewer than it could use")


def test_named_checks_count_one_each():
    node = "exercises/01/test_fix_the_slow_endpoint.py::test_the_answer_says_the_order_is_confirmed"
    assert checks_selected(Options(node), [KIT / node.split("::")[0]]) == 1
    assert checks_selected(Options("graders/05", only=f"{GRADER},{GRADER}"), [KIT / "graders/05"]) == 1


def test_a_single_check_runs_without_workers():
    node = "exercises/01/test_fix_the_slow_endpoint.py::test_the_answer_says_the_order_is_confirmed"
    done = subprocess.run([sys.executable, "-m", "pytest", node, "--impl", "reference", "-p", "no:cacheprovider"],
                          cwd=KIT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "bringing up nodes" not in done.stdout and "workers" not in done.stdout, (
        f"one check was handed to side-by-side workers, each an interpreter and a pytest of its own:\n{done.stdout}")
