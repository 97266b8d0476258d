"""What a batch hands the instructor, built from the records: Gradescope results.json per student,
grades.csv (one row per student), tests.csv (one row per test), feedback/<student>.md, report.html
(the class at a glance), a summary table.

Points and visibility come from grading.yml as it is now, applied to the recorded outcomes,
so changing them needs no regrading. Hidden tests show their name and outcome only.
Every text that came from a submission (its name, its programs' output) passes through textsafe
on its way out: no terminal escapes in the feedback, no formulas in the spreadsheets.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from pathlib import Path

from ticketrail.config import ExerciseSpec, GradingConfig
from ticketrail.grading.records import Record, write_atomically
from ticketrail.grading.runner import ExerciseResult, TestResult
from ticketrail.grading.submissions import Identity, identity
from ticketrail.feedback_html import write_feedback_html
from ticketrail.textsafe import cell, clean

SCORED = ("graded", "timeout", "missing")  # an exercise in any other state has no score yet, not a 0


def points(value: float) -> str:
    return f"{value:g}"


def humanize(test_name: str) -> str:
    words = test_name.removeprefix("test_").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def for_learner(message: str) -> str:
    """A failure message as the learner reads it: without pytest's exception prefix and its `assert ...`
    introspection, which repeat the message in code."""
    text = re.sub(r"^(AssertionError|Failed): ", "", clean(message).strip())
    lines = text.splitlines()
    for index, line in enumerate(lines[1:], 1):
        if line.startswith("assert "):
            return "\n".join(lines[:index]).rstrip()
    return text


def rescored(spec: ExerciseSpec, result: ExerciseResult) -> ExerciseResult:
    """The recorded outcomes under grading.yml's current points and visibility."""
    recorded = {test.name: test for test in result.tests}
    tests = []
    for name, test_spec in spec.tests.items():
        test = recorded.get(name) or TestResult(name, "not_run", 0.0, test_spec.points, test_spec.visibility,
                                                message="this test did not run")
        tests.append(replace(test, score=test_spec.points if test.passed else 0.0, max_score=test_spec.points,
                             visibility=test_spec.visibility))
    return replace(result, title=spec.title, tests=tests)


class ClassView:
    """The class as the exports see it: each student's record, the exercises to show, their current specs."""

    def __init__(self, config: GradingConfig, students: list[str], records: dict[str, Record | None],
                 exercise_ids: list[str]) -> None:
        self.config = config
        self.students = students
        self.records = records
        self.exercise_ids = exercise_ids

    def identity(self, student: str) -> Identity:
        return identity(student)

    def result(self, student: str, exercise_id: str) -> ExerciseResult | None:
        record = self.records.get(student)
        if record is None or exercise_id not in record.exercises:
            return None
        return rescored(self.config.exercise(exercise_id), record.exercises[exercise_id].result)

    def score(self, student: str, exercise_id: str) -> float | None:
        result = self.result(student, exercise_id)
        return result.score if result is not None and result.status in SCORED else None

    def max_score(self, exercise_id: str) -> float:
        return self.config.exercise(exercise_id).max_points

    def total(self, student: str) -> float | None:
        scores = [self.score(student, eid) for eid in self.exercise_ids]
        return None if any(score is None for score in scores) else sum(scores)

    def status(self, student: str) -> str:
        """What is not plain about the student's grading, exercises grouped: "02, 03 missing; 05 timeout"."""
        record = self.records.get(student)
        grouped: dict[str, list[str]] = {}
        for eid in self.exercise_ids:
            result = self.result(student, eid)
            if result is None:
                grouped.setdefault("not graded", []).append(eid)
            elif result.status != "graded":
                grouped.setdefault(result.status, []).append(eid)
        notes = [f"{', '.join(ids)} {status}" for status, ids in grouped.items()]
        if record is not None and record.problems:
            count = len(record.problems)
            notes.append(f"{count} problem{'s' if count > 1 else ''} with the submission")
        if self.identity(student).late:
            notes.append("late")
        return "; ".join(notes) or "ok"


# --- Gradescope ---------------------------------------------------------------------------


def _test_output(test: TestResult, result: ExerciseResult) -> str:
    if test.visibility == "hidden":
        return ""  # Gradescope never shows it to the student; the instructor has tests.csv and the records
    if result.status in ("ungradable", "rejected"):
        return "Not graded yet: the grading could not run on this submission. Your instructor will look at it."
    return "" if test.passed else for_learner(test.message)


def gradescope_results(view: ClassView, student: str) -> dict:
    """A results.json as Gradescope documents it (top level: score, execution_time, output, tests, ...)."""
    record = view.records.get(student)
    tests: list[dict] = []
    total, seconds, summary = 0.0, 0.0, []
    for eid in view.exercise_ids:
        result = view.result(student, eid)
        if result is None:
            continue
        scored = result.status in SCORED
        seconds += result.duration
        summary.append(f"- **{eid} {result.title}**: " + (
            f"{points(result.score)} / {points(result.max_score)}" if scored else "not graded yet"
        ) + ("" if result.status == "graded" else f" ({_status_words(result)})"))
        for number, test in enumerate(result.tests, 1):
            entry: dict = {
                "name": f"{eid} {result.title}: {humanize(test.name)}",
                "number": f"{int(eid)}.{number}" if eid.isdigit() else f"{eid}.{number}",
                "max_score": test.max_score,
                "status": "passed" if test.passed else "failed",
                "visibility": test.visibility,
                "tags": [f"exercise-{eid}"],
            }
            if scored:
                entry["score"] = test.score
                total += test.score
            output = _test_output(test, result)
            if output:
                entry["output"] = output
                entry["output_format"] = "text"
            tests.append(entry)
    output = "\n".join(summary)
    if record is not None and record.problems:
        output += "\n\n**About your submission:**\n" + "\n".join(f"- {clean(problem)}" for problem in record.problems)
    return {
        "score": total,
        "execution_time": round(seconds),
        "output": output,
        "output_format": "md",
        "tests": tests,
        "extra_data": {
            "student": clean(student),
            "name": clean(view.identity(student).name),
            "id": clean(view.identity(student).id),
            "source": clean(record.source) if record else "",
            "commit": record.commit if record else None,
            "exercises": {eid: {"status": item.status, "key": item.key}
                          for eid, item in (record.exercises.items() if record else [])},
        },
    }


def _status_words(result: ExerciseResult) -> str:
    return {
        "missing": "files missing",
        "timeout": "stopped at the time limit; the checks that finished kept their points",
        "ungradable": "the grading run could not reach a verdict",
        "rejected": "the submission could not be opened safely",
    }.get(result.status, result.status)


# --- CSV ----------------------------------------------------------------------------------
# Written for spreadsheets as much as for csv readers: a BOM so that Excel reads UTF-8 (O'Brien, Nguyễn),
# CR LF line ends and quoting as RFC 4180 has them, and every text cell through textsafe.cell, so that
# no name or message becomes a formula. Numbers are written as numbers.

BOM = "\ufeff"
CELL_CAP = 4000  # a message longer than this is in the records; Excel's hard limit is 32,767 characters


def _spreadsheet(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return BOM + out.getvalue()


def grades_csv(view: ClassView) -> str:
    rows = [["student", "name", "id", *view.exercise_ids, "total", "max", "status"]]
    maximum = sum(view.max_score(eid) for eid in view.exercise_ids)
    for student in view.students:
        who = view.identity(student)
        scores = [view.score(student, eid) for eid in view.exercise_ids]
        total = view.total(student)
        rows.append([cell(student), cell(who.name), cell(who.id), *("" if s is None else points(s) for s in scores),
                     "" if total is None else points(total), points(maximum), cell(view.status(student))])
    return _spreadsheet(rows)


def tests_csv(view: ClassView) -> str:
    rows = [["student", "name", "exercise", "test", "visibility", "status", "outcome", "score", "max_score",
             "seconds", "message"]]
    for student in view.students:
        name = cell(view.identity(student).name)
        for eid in view.exercise_ids:
            result = view.result(student, eid)
            if result is None:
                continue
            scored = result.status in SCORED
            for test in result.tests:
                rows.append([cell(student), name, eid, test.name, test.visibility, result.status, test.outcome,
                             points(test.score) if scored else "", points(test.max_score),
                             f"{test.duration:.2f}", cell(test.message[:CELL_CAP])])
    return _spreadsheet(rows)


# --- feedback -----------------------------------------------------------------------------


def _fenced(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def feedback_markdown(view: ClassView, student: str) -> str:
    record = view.records.get(student)
    lines = [f"# Feedback: {clean(student)}", ""]
    total, maximum = view.total(student), sum(view.max_score(eid) for eid in view.exercise_ids)
    if total is not None:
        lines += [f"**Total: {points(total)} / {points(maximum)}**", ""]
    if record is not None and record.problems:
        lines += ["## About your submission", ""] + [f"- {clean(problem)}" for problem in record.problems] + [""]
    for eid in view.exercise_ids:
        result = view.result(student, eid)
        spec = view.config.exercise(eid)
        if result is None:
            lines += [f"## {eid} · {spec.title}: not graded yet", ""]
            continue
        scored = result.status in SCORED
        mark = f"{points(result.score)} / {points(result.max_score)}" if scored else "not graded yet"
        lines += [f"## {eid} · {result.title}: {mark}", ""]
        exercise = record.exercises[eid] if record else None
        if result.status == "missing":
            lines += [clean(result.note), ""]
            continue
        if result.status in ("ungradable", "rejected"):
            lines += [f"Not graded yet: {_status_words(result)}. Your instructor will look at it.", ""]
            if result.status == "rejected":
                lines += [clean(result.note), ""]
            continue
        if exercise is not None and exercise.files:
            where = f"`{clean(exercise.folder)}/`" if exercise.folder else "the top folder"
            lines += [f"Graded from {where}: {', '.join(f'`{name}`' for name in exercise.files)}.", ""]
        if result.status == "timeout":
            lines += ["The checks stopped at the time limit; the ones that finished kept their points.", ""]
        lines += ["| result | check | points |", "|---|---|---|"]
        for test in result.tests:
            hidden = "" if test.visibility == "visible" else " *(hidden)*"
            outcome = "passed" if test.passed else ("did not run" if test.outcome == "not_run" else "failed")
            lines.append(f"| {outcome} | {humanize(test.name)}{hidden} | "
                         f"{points(test.score)} / {points(test.max_score)} |")
        lines.append("")
        shown: dict[str, str] = {}
        for test in result.tests:
            if test.visibility != "visible" or test.passed or not test.message:
                continue
            lines += [f"### {humanize(test.name)}", ""]
            # The same failure in several checks (a program that does not start) is shown once; ports differ.
            message = for_learner(test.message)
            gist = re.sub(r"\d+", "N", message)
            if gist in shown:
                lines += [f"The same problem as in *{shown[gist]}* above.", ""]
            else:
                shown[gist] = humanize(test.name)
                lines += [_fenced(message), ""]
    return "\n".join(lines).rstrip() + "\n"


# --- the terminal's summary -----------------------------------------------------------------


def summary_table(view: ClassView, students: list[str] | None = None) -> str:
    students = view.students if students is None else students
    header = ["student", *view.exercise_ids, "total", "status"]
    rows = []
    maximum = sum(view.max_score(eid) for eid in view.exercise_ids)
    for student in students:
        cells = [clean(student)]
        for eid in view.exercise_ids:
            score = view.score(student, eid)
            cells.append("—" if score is None else f"{points(score)}/{points(view.max_score(eid))}")
        total = view.total(student)
        cells += ["—" if total is None else f"{points(total)}/{points(maximum)}", clean(view.status(student))]
        rows.append(cells)
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    render = lambda row: "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([render(header), render(["-" * w for w in widths]), *map(render, rows)])


# --- writing it all -------------------------------------------------------------------------


def write_student(out: Path, view: ClassView, student: str) -> None:
    results = json.dumps(gradescope_results(view, student), indent=1) + "\n"
    write_atomically(out / "results" / f"{student}.json", results)
    write_atomically(out / "feedback" / f"{student}.md", feedback_markdown(view, student))
    write_feedback_html(out, view, student)


def write_tables(out: Path, view: ClassView) -> None:
    """grades.csv, tests.csv and report.html: the class-wide outputs, from the records alone."""
    # Imported here: the report builds on this module's ClassView and helpers.
    from ticketrail.grading.class_report import write_class_report

    write_atomically(out / "grades.csv", grades_csv(view))
    write_atomically(out / "tests.csv", tests_csv(view))
    write_class_report(out, view)


def write_class(out: Path, view: ClassView) -> None:
    for student in view.students:
        if view.records.get(student) is not None:
            write_student(out, view, student)
    write_tables(out, view)
