"""The pytest plugin: `pytest exercises/NN` runs the self-checks against starter/NN.

Options: --impl starter|reference|PATH, --redis server|embedded|URL, --ticketrail-report FILE (one JSON
line a test, written as each test ends), --ticketrail-grading for the grading runner's runs, and --side-by-side N
(checks at once, on pytest-xdist workers: ticketrail.spread; this process then hands them out and writes the report).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Iterator

import pytest
from _pytest._code.code import ReprFileLocation, TerminalRepr

from ticketrail import config as grading_config
from ticketrail import notdone, spread, timeline, waiting
from ticketrail.childcall import CallResult, call_in_child
from ticketrail.procs import STUDENT_TZ
from ticketrail.report import ReportLine, ReportWriter
from ticketrail.report_seal import KEY_VARIABLE
from ticketrail.kit import exercise_of, find_kit_root, resolve_impl
from ticketrail.redisd import RedisHandle, choose_backend, start_redis
from ticketrail.sandbox import Sandbox, SandboxError, activate, isolate_network
from ticketrail.system import CouldNotStart, System, tell_once_across
from ticketrail.worldctl import WorldControl, WorldProcess


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ticketrail")
    group.addoption("--impl", default="starter",
                    help="the implementation to check: starter (default), reference, or a folder")
    group.addoption("--redis", default=None,
                    help="server (a private redis-server), embedded (fakeredis over TCP) or a redis:// URL")
    group.addoption("--grading-yml", default=None, help="grading.yml to use (default: the kit's)")
    group.addoption("--ticketrail-report", default=None, help="write one JSON line per test to this file")
    group.addoption("--ticketrail-grading", action="store_true",
                    help="a grading run (the grading runner's): the report is sealed with the runner's key, and as "
                         "root student programs run in the sandbox unless --student-user says otherwise")
    group.addoption("--student-user", default=None,
                    help="run student programs as this uid:gid; `auto`: as a uid of their own when root (the "
                         "sandbox, the default when grading as root); `none`: as yourself")
    group.addoption("--ticketrail-only", default=None, help="run only these grader tests (comma-separated names)")
    group.addoption("--side-by-side", type=int, default=None, metavar="N",
                    help=f"run up to N checks at once, each with its own Redis, world and programs (default "
                         f"{spread.SIDE_BY_SIDE}; 1: one after the other); pytest's own -n N overrides it")
    group.addoption("--isolation", default="auto", choices=("auto", "uid"),
                    help="with the sandbox: auto (a bubblewrap jail where this machine builds one) or uid (the uid "
                         "alone, as where namespaces are refused)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "task(n): the README task this check is about")
    for warning in ("ignore::DeprecationWarning", "ignore::PendingDeprecationWarning", "ignore::ResourceWarning",
                    "ignore::pytest.PytestUnknownMarkWarning", "ignore::pytest.PytestUnraisableExceptionWarning",
                    "ignore::pytest.PytestUnhandledThreadExceptionWarning"):
        config.addinivalue_line("filterwarnings", warning)
    path = config.getoption("--ticketrail-report")
    if config.getoption("--ticketrail-grading") and not path:
        raise pytest.UsageError("--ticketrail-grading needs --ticketrail-report FILE: a grading's verdict is its report")
    config.addinivalue_line("markers", f"{spread.SLOW}: a check of tens of seconds, started first when checks run "
                                       "side by side")
    told = spread.spread(config, start_crash=_StartCrash)
    _report.open(None if spread.is_worker(config) else path)
    if told is not None:
        config.stash[_TOLD] = told
    tell_once_across(told or spread.worker_told_folder(config))
    # Side by side, the workers run the programs, each in a sandbox of its own: this process starts none.
    config.stash[_SANDBOX] = None if told is not None else _start_sandbox(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _report.close()
    told = config.stash.get(_TOLD, None)
    if told is not None:
        shutil.rmtree(told, ignore_errors=True)
    sandbox = config.stash.get(_SANDBOX, None)
    if sandbox is not None:
        sandbox.close()


_SANDBOX = pytest.StashKey["Sandbox | None"]()
_TOLD = pytest.StashKey[str]()


def _start_sandbox(config: pytest.Config) -> Sandbox | None:
    """With --student-user: the sandbox, and (when the Redis is private) a network of this run's own."""
    spec = config.getoption("--student-user")
    if spec is None and config.getoption("--ticketrail-grading") and os.geteuid() == 0:
        spec = "auto"  # grading as root: the student's programs never run as root
    if not spec or spec == "none":
        return None
    try:
        kit = find_kit_root(Path(str(config.rootpath)), Path.cwd())
        also = [Path(config.getoption("--grading-yml")).resolve()] if config.getoption("--grading-yml") else []
        sandbox = activate(spec, kit, also, isolation=config.getoption("--isolation"))
    except (SandboxError, FileNotFoundError) as error:
        raise pytest.UsageError(f"the sandbox for student programs: {error}") from None
    if sandbox is None:
        return None
    if "://" in choose_backend(config.getoption("--redis")):
        sandbox.notes.append("network shared with the host: the Redis named by --redis lives outside")
    else:
        reason = isolate_network()
        sandbox.notes.append("network: a private loopback for this run" if reason is None else
                             f"network shared with the host ({reason}): grade one submission at a time")
    return sandbox


def pytest_report_header(config: pytest.Config) -> list[str]:
    sandbox = config.stash.get(_SANDBOX, None)
    if sandbox is None:
        if os.geteuid() == 0 and config.getoption("--student-user") == "none":
            return ["WARNING: ticketrail runs student programs as root (--student-user none): they can do anything "
                    "root can on this machine"]
        return []
    return [f"ticketrail sandbox: student programs run as uid {sandbox.uid}", *sandbox.notes]


# --- the kit, the exercise, the implementation --------------------------------------------


@pytest.fixture(scope="session")
def kit_root(request: pytest.FixtureRequest) -> Path:
    return find_kit_root(Path(str(request.config.rootpath)), Path(str(request.node.path)))


@pytest.fixture(scope="session")
def grading(request: pytest.FixtureRequest, kit_root: Path) -> grading_config.GradingConfig:
    path = request.config.getoption("--grading-yml") or kit_root / "grading.yml"
    return grading_config.load(path)


@pytest.fixture
def exercise(request: pytest.FixtureRequest, grading: grading_config.GradingConfig) -> grading_config.ExerciseSpec:
    exercise_id = exercise_of(Path(str(request.node.path)))
    if exercise_id is None:
        pytest.fail(f"{request.node.path} is not inside exercises/NN or graders/NN", pytrace=False)
    return grading.exercise(exercise_id)


@pytest.fixture
def impl_dir(request: pytest.FixtureRequest, kit_root: Path, exercise: grading_config.ExerciseSpec) -> Path:
    return resolve_impl(kit_root, request.config.getoption("--impl"), exercise.id)


@pytest.fixture
def budget(exercise: grading_config.ExerciseSpec):
    return exercise.budget


# --- services: Redis and the world --------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisHandle]:
    handle = start_redis(request.config.getoption("--redis"), sandbox=request.config.stash.get(_SANDBOX, None))
    yield handle
    handle.stop()


@pytest.fixture
def redis_url(redis_server: RedisHandle) -> str:
    """A Redis that is empty when the test starts."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str, redis_server: RedisHandle):
    client = redis_server.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def world_process(request: pytest.FixtureRequest) -> Iterator[WorldProcess]:
    sandbox = request.config.stash.get(_SANDBOX, None)
    if sandbox is None:
        process = WorldProcess()
    else:
        process = WorldProcess(python=sandbox.python, user=sandbox.services["world"].user,
                               folder=sandbox.service_folder("world"))
    yield process
    process.stop()


@pytest.fixture
def world(world_process: WorldProcess, exercise: grading_config.ExerciseSpec) -> WorldControl:
    """The outside world, reset: an empty ledger, no faults, the exercise's time scale."""
    world_process.control.reset(exercise.time_scale)
    return world_process.control


# --- the student's programs ---------------------------------------------------------------


@pytest.fixture
def system(request: pytest.FixtureRequest, impl_dir: Path, redis_url: str, world: WorldControl,
           exercise: grading_config.ExerciseSpec) -> Iterator[System]:
    """Start the implementation's API and programs; all are stopped when the test ends."""
    started = System(impl_dir, redis_url, world.url, exercise.env, sandbox=request.config.stash.get(_SANDBOX, None),
                     world_socket=world.socket)
    request.node._ticketrail_system = started
    _name_copy(request.node, started.impl_dir, started.source_dir)
    world.programs = started.programs
    waiting.watch(started)
    yield started
    waiting.watch(None)
    world.programs = dict
    started.stop()


@pytest.fixture
def call_student_function(request: pytest.FixtureRequest, impl_dir: Path, exercise: grading_config.ExerciseSpec):
    """`call_student_function("worker", "next_due", [3], freeze="2026-02-14T10:30:00Z")` in a child."""
    sandbox = request.config.stash.get(_SANDBOX, None)
    folder = sandbox.workspace(impl_dir) if sandbox is not None else impl_dir
    _name_copy(request.node, folder, impl_dir)

    def call(module: str, function: str, args: list | None = None, kwargs: dict | None = None,
             freeze: str | None = None, env: dict[str, str] | None = None) -> CallResult:
        base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TZ": STUDENT_TZ,
                **exercise.env, **(env or {})}
        result = call_in_child(folder, module, function, args, kwargs, freeze, base,
                               user=sandbox.user if sandbox is not None else None,
                               jail=sandbox.jail(folder) if sandbox is not None else None)
        request.node._ticketrail_calls = [*getattr(request.node, "_ticketrail_calls", []), (module, function, result)]
        return result

    yield call
    if sandbox is not None:
        sandbox.reap()
        sandbox.discard(folder)


# --- timeouts, logs in reports, the grading report ------------------------------------------


@functools.lru_cache(maxsize=4)
def _load_config(path: str) -> grading_config.GradingConfig:
    return grading_config.load(path)


class TestTimeout(BaseException):
    """Raised in a test that ran past its time (a BaseException so student-facing helpers cannot swallow it)."""


def _test_timeout(item: pytest.Item) -> float | None:
    exercise_id = exercise_of(Path(str(item.path)))
    if exercise_id is None or threading.current_thread() is not threading.main_thread():
        return None
    try:
        root = find_kit_root(Path(str(item.config.rootpath)), Path(str(item.path)))
        path = item.config.getoption("--grading-yml") or root / "grading.yml"
        return _load_config(str(path)).exercise(exercise_id).test_timeout
    except (grading_config.ConfigError, FileNotFoundError):
        return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    seconds = _test_timeout(item)
    if not seconds:
        return

    def expire(signum, frame):
        signal.setitimer(signal.ITIMER_REAL, 0)
        raise TestTimeout(f"this check did not finish within {seconds:.0f} s (grading.yml: timeouts.test)")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.setitimer(signal.ITIMER_REAL, 0)


def _task_of(item: pytest.Item) -> int | None:
    marker = item.get_closest_marker("task")
    return marker.args[0] if marker is not None and marker.args else None


def _say_when_not_done(item: pytest.Item, call: pytest.CallInfo) -> None:
    """A check that failed on a program that crashed says so first, in one line; one that failed on a
    NotImplementedError or a missing function says which task is not done yet."""
    if call.excinfo is None or call.excinfo.errisinstance(pytest.skip.Exception):
        return
    findings = [found for module, function, result in getattr(item, "_ticketrail_calls", [])
                if (found := notdone.from_call(result, module, function))]
    started = getattr(item, "_ticketrail_system", None)
    if started is not None:
        findings += notdone.from_logs(started.children, started.impl_dir)
    headline = notdone.headline(_task_of(item), findings)
    if headline:
        notdone.annotate(call.excinfo.value, headline)
    crashed = started.first_crash() if started is not None else None
    if crashed is not None and not call.excinfo.errisinstance(CouldNotStart) \
            and crashed.headline not in str(call.excinfo.value):
        notdone.annotate(call.excinfo.value, str(crashed))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    if call.when == "call":
        _say_when_not_done(item, call)
    outcome = yield
    report = outcome.get_result()
    could_not_start = call.excinfo is not None and call.excinfo.errisinstance(CouldNotStart)
    if could_not_start:
        # The student's crash says it all: no harness frames around it, and no log repeating it.
        report.longrepr = _StartCrash(str(call.excinfo.value))
        report.ticketrail_start_crash = True  # from a worker, its text arrives as a plain string (spread)
    report.ticketrail_task = _task_of(item)
    if call.when == "setup":
        timeline.take_drawn()  # a test's own timelines only
    elif call.when == "call" and report.failed:
        report.ticketrail_timelines = [drawn.to_json() for drawn in timeline.take_drawn()]
    report.ticketrail_copies = getattr(item, "_ticketrail_copies", [])
    started = getattr(item, "_ticketrail_system", None)
    if report.failed and started is not None and call.when == "call" and not could_not_start:
        for title, text in started.logs_for_report():
            report.sections.append((f"student program: {title}", text or "(printed nothing)"))


class _StartCrash(TerminalRepr):
    """The crash text as the failure, with its first line as the summary's message: a plain string would
    put the whole traceback in pytest's short summary wherever that is not trimmed (on CI, or with -vv)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reprcrash = ReprFileLocation("", 0, text.splitlines()[0] if text else "")

    def toterminal(self, tw) -> None:
        for line in self.text.splitlines():
            tw.line(line)


def _name_copy(item: pytest.Item, copy: Path, source: Path) -> None:
    """The sandbox runs a copy of the implementation: messages should name the folder it was copied from."""
    if copy != source:
        item._ticketrail_copies = [*getattr(item, "_ticketrail_copies", []), (f"{copy}/", f"{source}/")]


def _as_handed_in(report: pytest.TestReport, text: str) -> str:
    for copy, source in getattr(report, "ticketrail_copies", []):
        text = text.replace(copy, source)
    return text


class _Report:
    """The report (report.ReportWriter) fed from pytest's reports: a test's setup, call and teardown make one
    line, written when its teardown ends. With the runner's key (`report_seal.KEY_VARIABLE`) the lines are sealed."""

    def __init__(self) -> None:
        self.writer: ReportWriter | None = None
        self.pending: dict[str, ReportLine] = {}

    def open(self, path: str | None) -> None:
        key = os.environ.pop(KEY_VARIABLE, "")  # before any program starts, so that none inherits it
        self.writer = ReportWriter(path, key) if path else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def add(self, report: pytest.TestReport) -> None:
        line = self.pending.setdefault(report.nodeid, ReportLine(
            report.nodeid, report.nodeid.split("::")[-1].split("[")[0], task=getattr(report, "ticketrail_task", None)))
        line.duration += report.duration
        if report.failed and line.outcome == "passed":
            line.outcome = "failed" if report.when == "call" else "error"
            # A start crash is its whole text here: its headline alone is for pytest's short summary.
            crash = None if isinstance(report.longrepr, _StartCrash) else getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longrepr)[-2000:]
            line.message = _as_handed_in(report, message)
            line.details = _as_handed_in(report, report.longreprtext)[-8000:]
            line.timelines = getattr(report, "ticketrail_timelines", [])
        elif report.skipped and report.when in ("setup", "call"):
            line.outcome = "skipped"
            line.message = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        if report.when == "teardown":
            self.writer.write(self.pending.pop(report.nodeid))


_report = _Report()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _report.writer is not None:
        _report.add(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed and _report.writer is not None:
        _report.writer.write(ReportLine(report.nodeid, None, "collect_error", message=str(report.longrepr)[-2000:],
                                        details=report.longreprtext[-8000:]))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """In graders/NN every test needs a points entry in grading.yml, and every entry a test."""
    by_exercise: dict[tuple[Path, str], set[str]] = {}
    for item in items:
        path = Path(str(item.path))
        exercise_id = exercise_of(path)
        if exercise_id is not None and path.parent.parent.name == "graders":
            by_exercise.setdefault((path.parent, exercise_id), set()).add(item.name.split("[")[0])
    problems: list[str] = []
    for (graders_dir, exercise_id), names in by_exercise.items():
        root = find_kit_root(Path(str(config.rootpath)), graders_dir)
        path = config.getoption("--grading-yml") or root / "grading.yml"
        try:
            problems += grading_config.load(path).check_tests(exercise_id, names, graders_dir)
        except grading_config.ConfigError as error:
            problems.append(str(error))
    if problems:
        raise pytest.UsageError("grading.yml and the graders disagree:\n  " + "\n  ".join(problems))
    only = config.getoption("--ticketrail-only")
    if only:
        wanted = set(only.split(","))
        unknown = wanted - {item.name.split("[")[0] for item in items}
        if unknown:
            raise pytest.UsageError(f"--ticketrail-only names no such test: {', '.join(sorted(unknown))}")
        deselected = [item for item in items if item.name.split("[")[0] not in wanted]
        items[:] = [item for item in items if item.name.split("[")[0] in wanted]
        config.hook.pytest_deselected(items=deselected)
    if spread.worker_told_folder(config) is not None:
        spread.slow_first(items)
