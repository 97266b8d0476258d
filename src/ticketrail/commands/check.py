"""`ticketrail check [NN]`: the self-checks of an exercise, summed up per README task.

pytest runs in a process of its own (as `pytest exercises/NN` would, in the student's own
environment), writing one report line per check as it ends; each result is printed as it
comes, then a line per task and what the failed checks saw. Its full output goes to
.ticketrail/logs/check-NN.txt.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ticketrail import learner, readme, startup
from ticketrail.commands._common import check_impl, check_redis, exercise_argument, find_kit, impl_argument, \
    interrupt_on_terminate, redis_argument, redis_line
from ticketrail.kit import Kit, KitError
from ticketrail.progress import DONE, IN_PROGRESS, STATE_DIR, Exercise, Progress, exercises, find_exercise, fingerprint, \
    standing
from ticketrail.report import ReportLine, follow_report, pytest_command, stop_pytest

PASS, FAIL = "✔", "✘"
MESSAGE_LINES = 30  # of a failed check's message: its first lines, the lines an error is raised at, its last lines
MESSAGE_TAIL = 8


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check", help="run an exercise's self-checks, with a summary per task")
    exercise_argument(parser, optional=True, help="the exercise number, e.g. 01 (default: every exercise in progress)")
    impl_argument(parser, find_kit())
    redis_argument(parser)
    parser.set_defaults(handler=run)


@dataclass
class CheckRun:
    exercise: Exercise
    checks: list[ReportLine] = field(default_factory=list)
    returncode: int | None = None
    log_path: Path | None = None
    seconds: float = 0.0
    student_dir: Path | None = None  # whose frames a traceback in a message keeps

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and bool(self.checks) and all(c.outcome == "passed" for c in self.checks)

    @property
    def broken(self) -> bool:
        """pytest itself failed (a usage error, a check that would not import): no verdict."""
        return self.returncode not in (0, 1) or any(c.outcome == "collect_error" for c in self.checks)


def run_checks(root: Path, exercise: Exercise, impl: str = "starter", redis: str | None = None,
               on_check: Callable[[ReportLine], None] = lambda check: None, timeout: float = 900) -> CheckRun:
    logs = root / STATE_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result = CheckRun(exercise, log_path=logs / f"check-{exercise.id}.txt", student_dir=_student_dir(root, impl,
                                                                                                   exercise.id))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ticketrail-check-") as scratch:
        report = Path(scratch) / "report.jsonl"
        report.touch()
        # Not a grading: no sandbox, and the student's environment as it is (their REDIS_URL names their Redis).
        command = pytest_command(root, exercise.checks_dir, impl, report, grading=False,
                                 shell_environment=True, redis=redis)
        deadline = started + timeout
        with open(result.log_path, "wb") as output:
            process = command.start(output)
            try:
                for check in follow_report(report, lambda: process.poll() is None and time.monotonic() < deadline):
                    result.checks.append(check)
                    on_check(check)
            finally:  # Ctrl-C, a kill or the deadline: pytest stops its Redis, world and programs on SIGINT
                stop_pytest(process, grace=20)
        result.returncode = process.returncode
    result.seconds = time.monotonic() - started
    return result


def _student_dir(root: Path, impl: str, exercise_id: str) -> Path | None:
    try:
        return Kit(root).impl_folder(impl, exercise_id)
    except KitError:
        return None


def shown_message(message: str, student_dir: Path | None, limit: int = MESSAGE_LINES) -> tuple[list[str], int]:
    """The lines of a failed check's message to print, and how many were left out.

    Tracebacks keep only the student's frames. A message still longer than `limit` keeps its first
    lines, each exception line with the student's frame above it, and its last lines: the error
    a program died of is never the part that is cut.
    """
    text = learner.message(message)
    if student_dir is not None:
        text = startup.cut_tracebacks(text, student_dir)
    lines = text.splitlines()
    if len(lines) <= limit:
        return lines, 0
    kept = set(range(limit - MESSAGE_TAIL)) | set(range(len(lines) - MESSAGE_TAIL, len(lines)))
    for found in startup.tracebacks(text):
        frames = [i for i in range(found.start, found.end) if startup.HEADER not in lines[i]
                  and lines[i].lstrip().startswith("File ")]
        kept |= set(range(frames[-1] if frames else found.end - 1, found.end))
    shown: list[str] = []
    for index in sorted(kept):
        if shown and index - 1 not in kept:
            shown.append("…")
        shown.append(lines[index])
    return shown, len(lines) - len(kept)


def sentence(test_name: str) -> str:
    return test_name.removeprefix("test_").replace("_", " ")


def _task_label(tasks: dict[int, readme.Task], number: int | None) -> str:
    if number is None:
        return "Other checks"
    task = tasks.get(number)
    return f"Task {number} · {task.title}" if task else f"Task {number}"


def summary(run: CheckRun, root: Path) -> str:
    tasks = {t.number: t for t in readme.tasks(readme.read(run.exercise.checks_dir))}
    by_task: dict[int | None, list[ReportLine]] = {}
    for check in run.checks:
        if check.name:
            by_task.setdefault(check.task, []).append(check)
    lines = []
    width = max([len(_task_label(tasks, n)) for n in by_task] + [10])
    for number in sorted(by_task, key=lambda n: (n is None, n or 0)):
        checks = by_task[number]
        good = sum(1 for c in checks if c.outcome == "passed")
        mark = PASS if good == len(checks) else FAIL
        counted = f"{good} of {len(checks)} checks pass" if len(checks) > 1 else f"{good} of 1 check passes"
        lines.append(f"  {mark} {_task_label(tasks, number):<{width}}  {counted}")
    failed = [c for c in run.checks if c.outcome != "passed"]
    if failed:
        lines += ["", "What the failing checks saw:"]
    # A start crash is told in full by one check, whichever reports first: show it whole where it first appears.
    texts = startup.told_whole([learner.message(c.message or c.details or c.outcome) for c in failed])
    said_by: dict[str, str] = {}
    for check, text in zip(failed, texts):
        message, left_out = shown_message(text, run.student_dir)
        name = sentence(check.name) if check.name else "collecting the checks"
        task = f" (task {check.task})" if check.task else ""
        lines += ["", f"{FAIL} {name}{task}"]
        # The same crash fails every check (only its port differs): say it once.
        same = re.sub(r"\d+", "N", "\n".join(message))
        if same in said_by:
            lines.append(f"    The same as for “{said_by[same]}” above.")
            continue
        said_by[same] = name
        lines += [f"    {line}" for line in message]
        if left_out:
            lines.append(f"    ({left_out} more lines in {_shown(run.log_path, root)})")
    return "\n".join(lines)


def _shown(path: Path | None, root: Path) -> str:
    if path is None:
        return ""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def check_exercise(root: Path, exercise: Exercise, impl: str = "starter", redis: str | None = None) -> CheckRun:
    """Run, print and remember one exercise's checks (remembered only for the student's own starter/NN)."""
    print(f"Checking exercise {exercise.id} · {exercise.title} ({impl if impl != 'starter' else f'starter/{exercise.id}'})")
    print(redis_line(redis))
    before = fingerprint(exercise)

    def show(check: ReportLine) -> None:
        if check.name:
            mark = PASS if check.outcome == "passed" else FAIL
            print(f"  {mark} {sentence(check.name)}", flush=True)

    run = run_checks(root, exercise, impl, redis, on_check=show)
    print()
    if run.broken:
        tail = run.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:] if run.log_path else []
        print(f"The checks could not run (pytest exit code {run.returncode}). The end of its output:")
        print("\n".join(f"    {line}" for line in tail))
        return run
    print(summary(run, root))
    print()
    passed = sum(1 for c in run.checks if c.outcome == "passed")
    if impl == "starter":
        progress = Progress(root)
        progress.record_check(exercise, before, [
            {"name": c.name, "task": c.task, "outcome": c.outcome} for c in run.checks if c.name
        ], run.passed)
    if run.passed:
        print(f"{PASS} Exercise {exercise.id} is done: all {passed} checks pass ({run.seconds:.0f} s). "
              "`ticketrail status` shows where you are.")
    else:
        print(f"{passed} of {len(run.checks)} checks pass ({run.seconds:.0f} s). "
              f"Stuck? `ticketrail hint {exercise.id}`. Everything pytest printed: {_shown(run.log_path, root)}")
    return run


def run(options: argparse.Namespace) -> int:
    kit = Kit.find()
    root = kit.root
    chosen_id = kit.exercise(options.exercise).id if options.exercise else None
    impl = check_impl(kit, options.impl, [chosen_id] if chosen_id else [])
    check_redis(options.redis)
    interrupt_on_terminate()  # a `kill` stops a check as Ctrl-C does, so pytest stops what it started
    if chosen_id:
        chosen = [find_exercise(root, chosen_id)]
    else:
        progress = Progress(root)
        standings = [standing(root, e, progress) for e in exercises(root)]
        for entry in standings:
            if entry.state == DONE:
                print(f"{PASS} {entry.exercise.id} · {entry.exercise.title}: done, and unchanged since it passed "
                      "(not checked again).")
        chosen = [s.exercise for s in standings if s.state == IN_PROGRESS]
        if not chosen:
            print("No exercise is in progress: `ticketrail status` shows where you are, "
                  "`ticketrail check NN` checks one exercise.")
            return 0
        print()
    results = []
    for index, exercise in enumerate(chosen):
        if index:
            print("\n" + "─" * 72 + "\n")
        results.append(check_exercise(root, exercise, impl, options.redis))
    return 0 if all(r.passed for r in results) else 1
