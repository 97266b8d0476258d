"""The test report: one JSON line per test, written by the plugin as each test ends and read by the grading
runner, `ticketrail check` and `ticketrail validate`; and the one pytest command line that makes one.

A grading run (`grading=True`) is sealed (report_seal.py) and its verdict is the kit's alone: no conftest,
the kit's own ini, an environment scrubbed of what the calling shell set, and as root the sandbox. A
self-check run is what `pytest exercises/NN` gives a student.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from ticketrail import bytecode, procfs
from ticketrail._libc import die_with_parent
from ticketrail.report_seal import KEY_VARIABLE, ReportSeal

OUTCOMES = ("passed", "failed", "error", "skipped", "collect_error")
# What the calling shell may set that would shape a grading run: pytest's options, a Redis of its own, the kit's keys.
_SHELL_ONLY = ("PYTEST_", "REDIS_URL", "TICKETRAIL_")


class ReportError(ValueError):
    """The report is not what the plugin writes; the message says where."""


@dataclass
class ReportLine:
    nodeid: str
    name: str | None  # the test function's name; None for a file that could not be collected
    outcome: str = "passed"  # one of OUTCOMES
    duration: float = 0.0  # setup, call and teardown together
    message: str = ""  # the failure in a line (a start crash: its whole text), or why the test was skipped
    details: str = ""  # the failure as pytest tells it (its end, when long)
    task: int | None = None  # the README task (`@pytest.mark.task(n)`)
    timelines: list[dict] = field(default_factory=list)  # the customers' timelines its message holds (timeline.py)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, entry: dict, number: int = 0) -> ReportLine:
        names = {field.name for field in fields(cls)}
        known = {key: value for key, value in entry.items() if key in names}  # not the seal's "mac"
        try:
            line = cls(**known)
        except TypeError:
            raise ReportError(f"line {number} of the report is not a test's line") from None
        if not (isinstance(line.nodeid, str) and isinstance(line.name, (str, type(None)))
                and line.outcome in OUTCOMES and isinstance(line.duration, (int, float))
                and isinstance(line.message, str) and isinstance(line.details, str)
                and isinstance(line.task, (int, type(None)))
                and isinstance(line.timelines, list) and all(isinstance(entry, dict) for entry in line.timelines)):
            raise ReportError(f"line {number} of the report is not a test's line")
        return line


class ReportWriter:
    """Appends lines and flushes each at once: what a run killed half-way wrote stays readable.

    With a key, every line is sealed and closing writes a last line that counts them."""

    def __init__(self, path: Path | str, key: str = "") -> None:
        self._file: IO[str] | None = open(path, "a", encoding="utf-8")
        self._seal = ReportSeal(key) if key else None
        self._lines = 0

    def write(self, line: ReportLine) -> None:
        self._write(line.to_json())

    def close(self) -> None:
        if self._file is None:
            return
        if self._seal is not None:
            self._write({"end": True, "lines": self._lines})
        self._file.close()
        self._file = None

    def _write(self, entry: dict) -> None:
        assert self._file is not None, "the report is closed"
        if self._seal is not None:
            entry = self._seal.sign(entry)
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()
        self._lines += 1


def read_report(path: Path, seal: ReportSeal | None = None, finished: bool = True) -> list[ReportLine]:
    """The report's test lines. With a seal, only lines the plugin wrote whole and in order, up to its closing
    line when the run `finished` by itself; anything else raises ReportError."""
    entries = [_entry(text, number) for number, text in enumerate(path.read_text(errors="replace").splitlines(), 1)
               if text.strip()]
    problem = seal.check(entries, finished) if seal is not None else None
    if problem:
        raise ReportError(problem)
    return [ReportLine.from_json(entry, number) for number, entry in enumerate(entries, 1) if not entry.get("end")]


def follow_report(path: Path, writing: Callable[[], bool], poll: float = 0.1) -> Iterator[ReportLine]:
    """Each test's line as the plugin writes it, until `writing()` turns false and the rest is read."""
    seen = 0
    while True:
        done = not writing()
        # The plugin ends every line with a newline: what follows the last one is still being written.
        complete = path.read_text(encoding="utf-8", errors="replace").split("\n")[:-1]
        for number, text in enumerate(complete[seen:], seen + 1):
            if text.strip() and not (entry := _entry(text, number)).get("end"):
                yield ReportLine.from_json(entry, number)
        seen = len(complete)
        if done:
            return
        time.sleep(poll)


def _entry(text: str, number: int) -> dict:
    try:
        entry = json.loads(text)
    except ValueError:
        raise ReportError(f"line {number} of the report is not JSON") from None
    if not isinstance(entry, dict):
        raise ReportError(f"line {number} of the report is not an object")
    return entry


@dataclass(frozen=True)
class PytestCommand:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    seal_key: str | None  # a grading run's: its report is read with ReportSeal(seal_key)

    def start(self, output: IO[bytes] | int) -> subprocess.Popen:
        """pytest in a session of its own (a terminal's Ctrl-C reaches only its caller, which passes on one SIGINT),
        ended by SIGINT, so that it tears down what it started, should its caller die."""
        return subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)

    def seal(self) -> ReportSeal | None:
        return ReportSeal(self.seal_key) if self.seal_key else None


def pytest_command(kit_root: Path, tests: Path, impl: Path | str, report: Path, *, grading: bool,
                   shell_environment: bool = False, redis: str | None = None, grading_yml: Path | None = None,
                   student_user: str | None = None, only: Iterable[str] = (), isolation: str = "auto",
                   side_by_side: int | None = None) -> PytestCommand:
    """`tests` (graders/NN or exercises/NN) on `impl`, one report line per test into `report`.

    `grading`: the run's points count, so the report is sealed and, as root, student programs run in the sandbox
    unless `student_user` says otherwise. `shell_environment`: keep the caller's environment as it is (a student's
    own shell, whose REDIS_URL names their Redis); otherwise what the shell set for pytest, Redis or the kit is
    dropped, as a run whose verdict is compared or counted needs."""
    argv = [
        sys.executable, "-m", "pytest", str(tests), "--impl", str(impl), "--ticketrail-report", str(report),
        "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:warnings", "--noconftest",
        "--rootdir", str(kit_root), "-c", str(kit_root / "pyproject.toml"),
        "-q", "--tb=short", "--no-header", "--color=no", "-rN",
    ]
    options = {"--redis": redis, "--grading-yml": grading_yml, "--student-user": student_user,
               "--ticketrail-only": ",".join(sorted(only)) or None, "--isolation": None if isolation == "auto" else isolation,
               "--side-by-side": side_by_side}
    argv += [part for option, value in options.items() if value for part in (option, str(value))]
    env = dict(os.environ) if shell_environment else {
        name: value for name, value in os.environ.items() if not name.startswith(_SHELL_ONLY)}
    env = bytecode.kept(env)
    key = None
    if grading:
        argv.append("--ticketrail-grading")
        key = env[KEY_VARIABLE] = secrets.token_hex(32)
    return PytestCommand(argv, env, kit_root, key)


def stop_pytest(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGINT first, so that pytest tears its fixtures down (Redis, the world, the student's programs);
    then SIGKILL for the whole tree, found while its parent links still hold."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGINT)
        process.wait(grace)
        return
    except subprocess.TimeoutExpired:
        pass
    kill_tree(process.pid)
    process.wait()


def kill_tree(pid: int) -> None:
    """SIGKILL a process, its descendants and their process groups (student programs run in groups of their own)."""
    own_group = os.getpgrp()
    for member in [*procfs.descendants(pid), pid]:
        try:
            group = os.getpgid(member)
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
            os.kill(member, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _die_with_parent() -> None:
    die_with_parent(signal.SIGINT)
