"""results.json as Gradescope documents it (top level: score, execution_time, output, tests, extra_data)."""

from __future__ import annotations

from ticketrail.grading.classview import ClassView
from ticketrail.grading.feedback.markdown import mark
from ticketrail.grading.feedback.model import ExerciseFeedback, TestFeedback, build
from ticketrail.textsafe import clean


def _output(test: TestFeedback, exercise: ExerciseFeedback) -> str:
    if not test.visible:
        return ""  # Gradescope never shows it to the student; the instructor has tests.csv and the records
    if exercise.status in ("ungradable", "rejected"):
        return "Not graded yet: the grading could not run on this submission. Your instructor will look at it."
    return test.message


def results_json(view: ClassView, student: str) -> dict:
    record = view.records.get(student)
    feedback = build(view, student)
    tests: list[dict] = []
    total, summary = 0.0, []
    graded = [exercise for exercise in feedback.exercises if exercise.status != "not graded"]
    for exercise in graded:
        summary.append(f"- **{exercise.id} {exercise.title}**: {mark(exercise)}"
                       + ("" if exercise.status == "graded" else f" ({exercise.status_words})"))
        for number, test in enumerate(exercise.tests, 1):
            entry: dict = {
                "name": f"{exercise.id} {exercise.title}: {test.title}",
                "number": f"{int(exercise.id)}.{number}" if exercise.id.isdigit() else f"{exercise.id}.{number}",
                "max_score": test.max_score,
                "status": "passed" if test.outcome == "passed" else "failed",
                "visibility": test.visibility,
                "tags": [f"exercise-{exercise.id}"],
            }
            if exercise.score is not None:
                entry["score"] = test.score
                total += test.score
            output = _output(test, exercise) if test.outcome != "passed" else ""
            if output:
                entry["output"] = output
                entry["output_format"] = "text"
            tests.append(entry)
    output = "\n".join(summary)
    if feedback.problems:
        output += "\n\n**About your submission:**\n" + "\n".join(f"- {problem}" for problem in feedback.problems)
    who = view.identity(student)
    return {
        "score": total,
        "execution_time": round(sum(exercise.seconds for exercise in graded)),
        "output": output,
        "output_format": "md",
        "tests": tests,
        "extra_data": {
            "student": feedback.student,
            "name": clean(who.name),
            "id": clean(who.id),
            "source": clean(record.source) if record else "",
            "commit": record.commit if record else None,
            "exercises": {eid: {"status": item.status, "key": item.key}
                          for eid, item in (record.exercises.items() if record else [])},
        },
    }
