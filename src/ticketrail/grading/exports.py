"""What a batch hands the instructor, built from the records through ClassView: per student
results.json and the feedback (grading/feedback/), grades.csv (one row per student), tests.csv (one row
per test), report.html (the class at a glance), and the terminal's summary table.

Every text that came from a submission (its name, its programs' output) passes through textsafe on its
way out: no terminal escapes in the feedback, no formulas in the spreadsheets.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ticketrail.grading.classview import SCORED, ClassView, points
from ticketrail.grading.feedback.gradescope import results_json
from ticketrail.grading.feedback.html import feedback_html
from ticketrail.grading.feedback.markdown import feedback_markdown
from ticketrail.grading.feedback.model import build
from ticketrail.grading.records import write_atomically
from ticketrail.textsafe import cell, clean


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
    maximum = view.maximum()
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


# --- the terminal's summary -----------------------------------------------------------------


def summary_table(view: ClassView, students: list[str] | None = None) -> str:
    students = view.students if students is None else students
    header = ["student", *view.exercise_ids, "total", "status"]
    rows = []
    maximum = view.maximum()
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
    write_atomically(out / "results" / f"{student}.json", json.dumps(results_json(view, student), indent=1) + "\n")
    feedback = build(view, student)
    write_atomically(out / "feedback" / f"{student}.md", feedback_markdown(feedback))
    write_atomically(out / "feedback" / f"{student}.html", feedback_html(feedback))


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
