"""The checks of one run side by side: a check mostly waits on the student's programs and the world's simulated
time, so exercises/NN and graders/NN hand their checks to pytest-xdist workers, each with its own Redis, world,
sandbox and programs. Latency measurements still run alone: they take a machine-wide lock (ticketrail.latency).

The checks marked `slow` (tens of seconds: a simulated day) start first, one to a worker: xdist deals its first
checks in consecutive pairs, and a worker never gives up the check queued behind the one it runs, so two slow
checks side by side in a file would otherwise run one after the other on one worker.
"""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path
from typing import Callable

import pytest

from ticketrail import bytecode
from ticketrail.kit import TEST_FOLDERS, exercise_of

SIDE_BY_SIDE = 3
SLOW = "slow"
_SPREAD = "ticketrail_spread"  # in a worker's workerinput: the folder where start-up crashes are told once


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def worker_told_folder(config: pytest.Config) -> str | None:
    """In a worker of a spread run: the run's folder of crashes already told (see system.tell_once_across)."""
    return getattr(config, "workerinput", {}).get(_SPREAD)


def spread(config: pytest.Config, start_crash: Callable[[str], object]) -> str | None:
    """Hand this run's checks to workers, unless the caller chose (-n N, -p no:xdist), debugs, only collects, or
    runs anything but exercises/NN and graders/NN. Returns the run's folder of crashes already told, or None
    when the checks run here."""
    if is_worker(config) or not config.pluginmanager.has_plugin("xdist") or config.getoption("collectonly"):
        return None
    paths = [Path(str(arg).split("::")[0]).resolve() for arg in config.args]
    if not paths or not all(_checks_of_exercises(path) for path in paths):
        return None
    count = min(config.getoption("--side-by-side") or SIDE_BY_SIDE, checks_selected(config, paths))
    if config.option.numprocesses is None and not config.getoption("usepdb") and count > 1:
        config.option.numprocesses = count
        config.option.tx = ["popen"] * count
        config.option.dist = "load"
    if config.getoption("dist") == "no" or not config.getoption("tx"):
        return None
    bytecode.keep_for_children()  # each worker would otherwise compile the kit and rewrite its asserts again
    told = tempfile.mkdtemp(prefix="ticketrail-told-")
    config.pluginmanager.register(_Controller(told, start_crash), "ticketrail-spread")
    return told


def _checks_of_exercises(path: Path) -> bool:
    """exercises/, graders/, a folder of one exercise, or a file in one."""
    return path.name in TEST_FOLDERS or exercise_of(path / "_") is not None or exercise_of(path) is not None


def checks_selected(config: pytest.Config, paths: list[Path]) -> int:
    """How many checks the run can select, read from its test files before pytest collects them (the checks of
    exercises/ and graders/ are module-level functions, not parametrized). A worker more than there are checks
    would cost an interpreter and pytest's start, half a second of CPU, and run nothing: one check runs here."""
    only = config.getoption("--ticketrail-only")
    if only:
        return len({name for name in only.split(",") if name})
    if all("::" in str(arg) for arg in config.args):
        return len(config.args)
    checks = [(name, file) for path in paths for file in _test_files(path) for name in _check_names(file)]
    keyword = config.getoption("keyword")
    if not keyword:
        return len(checks)
    try:
        from _pytest.mark.expression import Expression

        expression = Expression.compile(keyword)
    except Exception:  # pytest's own parser, not a public one: if it changes, spread as if all were selected
        return len(checks)
    # As -k matches: a part of the check's name, its file's or its folder's, in any case.
    return sum(expression.evaluate(lambda part, **_: any(part.lower() in name.lower() for name in
                                                         (check, file.name, file.parent.name)))
               for check, file in checks)


def _test_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(path.rglob("test_*.py")) if path.is_dir() else []


def _check_names(file: Path) -> list[str]:
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ["(unreadable: pytest will say why)"]
    return [node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")]


def slow_first(items: list[pytest.Item]) -> None:
    """The same order in every worker (xdist checks that they collected alike): slow checks, then the others."""
    items.sort(key=lambda item: item.get_closest_marker(SLOW) is None)


class _Controller:
    def __init__(self, told: str, start_crash: Callable[[str], object]) -> None:
        self.told = told
        self.start_crash = start_crash  # the plugin's failure text of a start-up crash, from the string it arrives as

    def pytest_configure_node(self, node) -> None:
        node.workerinput[_SPREAD] = self.told

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A learner reads which check failed, not which worker ran it ("[gw2] linux -- Python 3.11 ...").
        if hasattr(report, "node"):
            del report.node
        if getattr(report, "ticketrail_start_crash", False) and isinstance(report.longrepr, str):
            report.longrepr = self.start_crash(report.longrepr)

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log):
        from xdist.scheduler import LoadScheduling

        class OneToEachInTurn(LoadScheduling):
            """xdist's load scheduling, but its first checks dealt one to each worker in turn, and the rest one at
            a time to whichever worker finishes."""

            def __init__(self, config: pytest.Config, log=None) -> None:
                super().__init__(config, log)
                self.maxschedchunk = 1

            def schedule(self) -> None:
                if self.collection is None and self._check_nodes_have_same_collection():
                    self.collection = next(iter(self.node2collection.values()))
                    self.pending[:] = range(len(self.collection))
                    if not self.collection:
                        return
                    for _ in range(2):  # a worker runs a check once it holds the next one
                        for node in self.nodes:
                            if self.pending:
                                self._send_tests(node, 1)
                    if not self.pending:
                        for node in self.nodes:
                            node.shutdown()
                    return
                super().schedule()

        return OneToEachInTurn(config, log)
