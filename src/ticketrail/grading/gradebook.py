"""`--nbgrader gradebook.db`: the scores written into an nbgrader gradebook (the optional extra
`pip install 'ticketrail[nbgrader]'`), so that `nbgrader export` produces the class CSV.

Each exercise is an assignment `exNN` with one notebook, `graders`, whose grade cells are the
grader tests (max score from grading.yml). A submission that is not graded yet (ungradable,
rejected) is entered with no score and flagged for manual grading, not scored 0.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from ticketrail.grading.classview import SCORED, ClassView
from ticketrail.textsafe import cell

NOTEBOOK = "graders"


def assignment_name(exercise_id: str) -> str:
    return f"ex{exercise_id}"


class NbgraderMissing(RuntimeError):
    pass


def write_gradebook(path: Path, view: ClassView, course_id: str = "default_course") -> list[str]:
    """Write every recorded result into the gradebook; returns warnings for the instructor."""
    try:
        from nbgrader.api import Gradebook, MissingEntry
    except ImportError:
        raise NbgraderMissing(
            "--nbgrader needs nbgrader, an optional extra: pip install 'ticketrail[nbgrader]'"
        ) from None
    # A new gradebook may run alembic, which must be found next to this Python.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    notes = [
        f"student id {student!r} holds a comma: nbgrader's CSV export does not quote fields, so its row will "
        "be split wrongly there (grades.csv from this command is quoted correctly)"
        for student in view.students if "," in student or '"' in student
    ] + [
        f"student id {student!r} would read as a formula in a spreadsheet opening nbgrader's CSV export "
        "(grades.csv from this command guards it)"
        for student in view.students if cell(student) != student and "," not in student and '"' not in student
    ]
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{path.resolve()}", course_id=course_id) as gradebook:
        # nbgrader's own SQLAlchemy use warns about its session on every submission; nothing to act on here
        warnings.simplefilter("ignore")
        for eid in view.exercise_ids:
            spec = view.config.exercise(eid)
            assignment = assignment_name(eid)
            gradebook.update_or_create_assignment(assignment)
            try:
                gradebook.find_notebook(NOTEBOOK, assignment)
            except MissingEntry:
                gradebook.add_notebook(NOTEBOOK, assignment)
            # grade cells before submissions: a submission gets a grade row for each cell that exists
            for name, test in spec.tests.items():
                gradebook.update_or_create_grade_cell(name, NOTEBOOK, assignment, max_score=test.points,
                                                      cell_type="code")
        for student in view.students:
            results = {eid: view.result(student, eid) for eid in view.exercise_ids}
            if not any(results.values()):
                continue
            # nbgrader's CSV export writes names as they are, unquoted: only spreadsheet-safe text goes in.
            who = view.identity(student)
            gradebook.update_or_create_student(student, last_name=cell(who.name), lms_user_id=cell(who.id) or None)
            for eid, result in results.items():
                if result is None:
                    continue
                assignment = assignment_name(eid)
                gradebook.update_or_create_submission(assignment, student)
                for test in result.tests:
                    grade = gradebook.find_grade(test.name, NOTEBOOK, assignment, student)
                    if result.status in SCORED:
                        grade.auto_score, grade.needs_manual_grade = test.score, False
                    else:
                        grade.auto_score, grade.needs_manual_grade = None, True
                gradebook.db.commit()
    return notes
