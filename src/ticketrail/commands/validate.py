"""`ticketrail validate`: the kit checks itself before an instructor trusts it with a class.

For each exercise (all of them, or those named with --exercise):

1. the reference earns full marks N times in a row (--repeat) on each Redis backend;
2. the starter earns nothing: every point is tied to the student's own work;
3. every grader test fails on at least one known-wrong solution (tests/wrong/NN/*): the matrix of grader
   tests by known-wrong solutions is printed, and a test that none of them fails is named;
4. the audit (graders/NN/audit.yml) holds: every rule the README states is printed with its grader test and
   its known-wrong solution, and a rule whose known-wrong solution passes its grader, a rule missing either,
   and a known-wrong solution no rule names are problems;
5. no visible self-check is stricter than the hidden graders. Checkable meaning, over every solution the kit
   knows (the reference, the starter, each known-wrong one): a self-check fails a solution only if the
   graders take points from it too. So the reference passes every self-check, and no solution a self-check
   rejects earns full marks: a student is never sent after a bug the graders do not mark. Beside each
   self-check the grader that fails everything it fails is named (its hidden sibling); when no single
   grader does, the grader that catches each solution instead.

Every grader run is a grading run as `ticketrail grade` makes it (its own pytest, the sandbox when root), and
every self-check run is the one `ticketrail check` makes for a student (no sandbox), in the same clean
environment as the grading runs; several at a time (--jobs). A known-wrong solution holding only some
student files is laid over the reference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ticketrail import audit as audits
from ticketrail import config as grading_config
from ticketrail.grading.runner import ExerciseResult, run_exercise
from ticketrail.commands._common import kit_as_it_is_now
from ticketrail.kit import Kit
from ticketrail.redisd import BACKENDS
from ticketrail.report import pytest_command, read_report, stop_pytest

CAUGHT, MISSED, BROKEN = "✗", "·", "!"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("validate", help="prove the graders right: reference, starter, known-wrong "
                                                    "solutions, self-checks")
    parser.add_argument("-e", "--exercise", action="append", default=[], metavar="NN",
                        help="validate this exercise (repeat, or comma-separate); default: every one with a reference")
    parser.add_argument("-n", "--repeat", type=int, default=3, metavar="N",
                        help="grade the reference N times on each backend (default 3)")
    parser.add_argument("--redis", default=",".join(BACKENDS),
                        help=f"the backends for the reference, comma-separated (default {','.join(BACKENDS)})")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="grading runs at a time (default 2)")
    parser.set_defaults(handler=validate)


@dataclass
class Solution:
    name: str  # reference, starter, or the folder name of a known-wrong solution or a correct alternative
    folder: Path
    known_wrong: bool = False
    graded: ExerciseResult | None = None
    checks: dict[str, str] = field(default_factory=dict)  # self-check → outcome
    alternative: bool = False  # tests/right/NN: correct another way, so it earns full marks

    def fails(self, test: str) -> bool:
        assert self.graded is not None
        return any(t.name == test and not t.passed for t in self.graded.tests)


@dataclass
class Report:
    exercise: str
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def say(self, line: str = "") -> None:
        self.lines.append(line)

    def problem(self, line: str) -> None:
        self.problems.append(line)
        self.lines.append(f"  PROBLEM: {line}")


def validate(options: argparse.Namespace) -> int:
    kit = kit_as_it_is_now()
    root, config = kit.root, kit.config
    wanted = [kit.exercise(item).id for value in options.exercise for item in value.split(",") if item.strip()]
    exercises = [eid for eid in config.exercises if (eid in wanted or not wanted) and (root / "reference" / eid).is_dir()]
    backends = [b.strip() for b in options.redis.split(",") if b.strip()]
    started = time.monotonic()
    reports = []
    with tempfile.TemporaryDirectory(prefix="ticketrail-validate-") as scratch, \
            ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        for eid in exercises:
            report = check_exercise(root, config, eid, backends, options.repeat, Path(scratch), pool)
            print("\n".join(report.lines), flush=True)
            reports.append(report)
    failing = [r for r in reports if r.problems]
    print(f"\nValidated {len(reports)} exercise{'s' if len(reports) != 1 else ''} in {time.monotonic() - started:.0f} s: "
          + ("every check holds." if not failing else
             f"problems in {', '.join(r.exercise for r in failing)} ({sum(len(r.problems) for r in failing)})."))
    return 1 if failing else 0


def check_exercise(root: Path, config: grading_config.GradingConfig, eid: str, backends: list[str], repeat: int,
                   scratch: Path, pool: ThreadPoolExecutor) -> Report:
    spec = config.exercise(eid)
    report = Report(eid)
    report.say(f"\n== {eid} {spec.title} ({spec.max_points:g} points, {len(spec.tests)} grader tests)")
    solutions = [Solution("reference", root / "reference" / eid), Solution("starter", root / "starter" / eid)]
    kit = Kit(root)

    def laid_over(folder: Path) -> Path:  # the reference's files, and the solution's own over those
        return kit.assemble(eid, root / "reference" / eid, folder, into=scratch / f"{eid}-{folder.name}" / eid)

    wrong_root = root / "tests" / "wrong" / eid
    for folder in sorted(p for p in wrong_root.iterdir() if p.is_dir()) if wrong_root.is_dir() else []:
        solutions.append(Solution(folder.name, laid_over(folder), known_wrong=True))
    right_root = root / "tests" / "right" / eid
    for folder in sorted(p for p in right_root.iterdir() if p.is_dir()) if right_root.is_dir() else []:
        solutions.append(Solution(folder.name, laid_over(folder), alternative=True))

    def grade(folder: Path, redis: str | None) -> ExerciseResult:
        return run_exercise(root, config, eid, folder, redis=redis)

    repeats = {(backend, n): pool.submit(grade, solutions[0].folder, backend)
               for backend in backends for n in range(repeat)}
    others = {s.name: pool.submit(grade, s.folder, None) for s in solutions[1:]}
    checks = {s.name: pool.submit(self_checks, root, eid, s.folder, scratch) for s in solutions}

    # 1. the reference, N times on each backend
    for backend in backends:
        results = [repeats[(backend, n)].result() for n in range(repeat)]
        scores = " ".join(f"{r.score:g}" for r in results)
        full = all(r.score == r.max_score and r.status == "graded" for r in results)
        report.say(f"  reference on {backend}: {scores} of {spec.max_points:g}, {repeat} runs "
                   f"({sum(r.duration for r in results) / len(results):.0f} s each)")
        if not full:
            for r in results:
                lost = [f"{t.name}: {t.message[:200]}" for t in r.tests if not t.passed]
                if lost or r.status != "graded":
                    report.problem(f"the reference lost points on {backend} ({r.status} {r.score:g}): {lost[:3]} {r.note[:300]}")
    solutions[0].graded = repeats[(backends[0], 0)].result()
    for solution in solutions[1:]:
        solution.graded = others[solution.name].result()
    for solution in solutions:
        solution.checks = checks[solution.name].result()

    # 2. the starter
    starter = solutions[1]
    report.say(f"  starter: {starter.graded.score:g} of {spec.max_points:g}")
    if starter.graded.score > 0:
        earned = ", ".join(t.name for t in starter.graded.tests if t.passed and t.name in spec.tests)
        report.problem(f"the untouched starter earns {starter.graded.score:g} points ({earned}): tie those points "
                       "to the student's own work")

    # 3. correct alternatives (tests/right/NN): full marks, and every self-check passes
    for solution in (s for s in solutions if s.alternative):
        lost = [t.name for t in solution.graded.tests if not t.passed]
        failed_checks = sorted(name for name, outcome in solution.checks.items() if outcome != "passed")
        report.say(f"  correct alternative {solution.name}: {solution.graded.score:g} of {spec.max_points:g}")
        if lost or solution.graded.status != "graded":
            report.problem(f"the correct alternative {solution.name} lost points ({solution.graded.status}): "
                           f"{', '.join(lost)}; a grader is stricter than the contract, or the alternative is wrong")
        if failed_checks:
            report.problem(f"the correct alternative {solution.name} fails self-checks: {', '.join(failed_checks)}")

    # 4. the matrix of grader tests by known-wrong solutions
    wrong = [s for s in solutions if s.known_wrong]
    for solution in wrong:
        if solution.graded.status != "graded":
            report.problem(f"{solution.name} could not be graded ({solution.graded.status}): {solution.graded.note[:300]}")
    report.say("")
    report.say(_matrix(spec, [starter, *wrong]))
    if not wrong:
        report.problem(f"no known-wrong solutions in tests/wrong/{eid}/")
    for name in uncaught(spec, wrong):
        report.problem(f"no known-wrong solution fails {name}: add one it catches to tests/wrong/{eid}/")

    # 5. the audit: each rule of the README, its grader test and the known-wrong solution it fails
    report.say("")
    check_audit(report, root, spec, {s.name: s for s in wrong})

    # 6. no self-check stricter than the graders
    report.say("")
    by_name = {s.name: s for s in solutions}
    for name, failing, covering, unmarked in self_check_cover(spec, solutions):
        if unmarked:
            report.problem(f"self-check {name} is stricter than the graders: it fails {', '.join(unmarked)}, "
                           "which every grader passes")
        elif not failing:
            report.say(f"  self-check {name}: passes every known solution")
        elif covering:
            report.say(f"  self-check {name}: fails {', '.join(failing)}; so does {covering[0]}")
        else:
            caught = "; ".join(f"{w} by {next(t for t in spec.tests if by_name[w].fails(t))}" for w in failing)
            report.say(f"  self-check {name}: fails {', '.join(failing)}; no one grader fails them all, "
                       f"each is caught: {caught}")
    if not any(s.checks for s in solutions):
        report.problem(f"exercises/{eid} ran no self-check")
    return report


def check_audit(report: Report, root: Path, spec: grading_config.ExerciseSpec, wrong: dict[str, Solution]) -> None:
    path = audits.audit_path(root, spec.id)
    if not path.is_file():
        report.problem(f"no audit: write {path.relative_to(root)}, every rule of exercises/{spec.id}/README.md "
                       "with its grader test and known-wrong solution")
        return
    try:
        audit = audits.load(path, spec.id)
    except grading_config.ConfigError as error:
        report.problem(str(error))
        return
    report.say(f"  audit ({path.relative_to(root)}): {len(audit.rules)} rules")
    for problem in audits.problems(audit, spec, audits.wrong_root(root, spec.id)):
        report.problem(problem)
    for rule in audit.rules:
        report.say(f"  - [{rule.where}] {rule.rule}")
        report.say(f"      grader {', '.join(rule.graders) or '(none)'}; known-wrong {', '.join(rule.wrong) or '(none)'}")
        for name, grader in rule_misses(rule, wrong):
            report.problem(f"rule on line {rule.line}: known-wrong {name} passes {grader}, the grader meant to catch it")
    for name in audits.unnamed_wrong(audit, audits.wrong_root(root, spec.id)):
        report.problem(f"known-wrong {name} is named by no rule in {path.relative_to(root)}: which rule does it break?")


def rule_misses(rule: audits.Rule, wrong: dict[str, Solution]) -> list[tuple[str, str]]:
    """(known-wrong, grader) pairs of a rule where the solution was graded and that grader did not fail it."""
    return [(name, grader) for name in rule.wrong if name in wrong and wrong[name].graded is not None
            for grader in rule.graders if not wrong[name].fails(grader)]


def uncaught(spec: grading_config.ExerciseSpec, wrong: list[Solution]) -> list[str]:
    """The grader tests that no known-wrong solution fails."""
    return [name for name in spec.tests if not any(s.fails(name) for s in wrong)]


def self_check_cover(spec: grading_config.ExerciseSpec,
                     solutions: list[Solution]) -> list[tuple[str, list[str], list[str], list[str]]]:
    """Per self-check: the solutions it fails, the grader tests that fail every one of them, and the
    solutions it fails that every grader passes (then the self-check is stricter than the graders)."""
    found = []
    for name in sorted({check for s in solutions for check in s.checks}):
        failing = [s for s in solutions if s.checks.get(name, "not_run") != "passed"]
        covering = [test for test in spec.tests if all(s.fails(test) for s in failing)] if failing else []
        unmarked = [s.name for s in failing if not any(s.fails(test) for test in spec.tests)]
        found.append((name, sorted(s.name for s in failing), covering, sorted(unmarked)))
    return found


def self_checks(root: Path, eid: str, folder: Path, scratch: Path) -> dict[str, str]:
    """Run exercises/NN on `folder` as `ticketrail check` would; self-check name → outcome (those that ran)."""
    report = Path(tempfile.mkstemp(prefix=f"checks-{eid}-", suffix=".jsonl", dir=scratch)[1])
    process = pytest_command(root, root / "exercises" / eid, folder, report, grading=False).start(subprocess.DEVNULL)
    try:
        process.wait(1800)
    except subprocess.TimeoutExpired:
        stop_pytest(process)
    return {line.name: line.outcome for line in read_report(report) if line.name}


def _matrix(spec: grading_config.ExerciseSpec, solutions: list[Solution]) -> str:
    """Rows: grader tests; columns: solutions (numbered, named below); ✗ the test fails it (caught), · passes."""
    width = max(len(name) for name in spec.tests)
    header = " " * (width + 2) + " ".join(f"{i:>2}" for i in range(1, len(solutions) + 1))
    rows = [header]
    for name in spec.tests:
        cells = []
        for solution in solutions:
            test = next((t for t in solution.graded.tests if t.name == name), None)
            cells.append(BROKEN if test is None or test.outcome in ("error", "not_run") else
                         CAUGHT if not test.passed else MISSED)
        caught = any(c != MISSED for c, s in zip(cells, solutions) if s.known_wrong)
        rows.append(f"  {name.ljust(width)} " + " ".join(f"{c:>2}" for c in cells) + ("" if caught else "   <- caught by none"))
    legend = [f"  {i:>2} {s.name} ({s.graded.score:g})" + ("" if s.known_wrong else ", not counted") for i, s in
              enumerate(solutions, start=1)]
    return "\n".join(["  grader tests × known solutions: " + f"{CAUGHT} fails it (caught), {MISSED} passes, "
                      f"{BROKEN} did not run", *rows, *legend])
