"""feedback/<student>.md: the feedback as Markdown, for any viewer and for Gradescope's summary."""

from __future__ import annotations

import re

from ticketrail.grading.classview import points
from ticketrail.grading.feedback.model import ExerciseFeedback, StudentFeedback


def fenced(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def mark(exercise: ExerciseFeedback) -> str:
    return f"{points(exercise.score)} / {points(exercise.max_score)}" if exercise.score is not None else "not graded yet"


def feedback_markdown(feedback: StudentFeedback) -> str:
    lines = [f"# Feedback: {feedback.student}", ""]
    if feedback.total is not None:
        lines += [f"**Total: {points(feedback.total)} / {points(feedback.maximum)}**", ""]
    if feedback.problems:
        lines += ["## About your submission", ""] + [f"- {problem}" for problem in feedback.problems] + [""]
    for exercise in feedback.exercises:
        lines += [f"## {exercise.id} · {exercise.title}: {mark(exercise)}", ""]
        lines += _exercise(exercise)
    return "\n".join(lines).rstrip() + "\n"


def _exercise(exercise: ExerciseFeedback) -> list[str]:
    if exercise.status == "not graded":
        return []
    if exercise.status == "missing":
        return [exercise.note, ""]
    if exercise.status in ("ungradable", "rejected"):
        lines = [f"Not graded yet: {exercise.status_words}. Your instructor will look at it.", ""]
        return lines + ([exercise.note, ""] if exercise.note else [])
    lines = []
    if exercise.graded_from is not None:
        folder, files = exercise.graded_from
        where = f"`{folder}/`" if folder else "the top folder"
        lines += [f"Graded from {where}: {', '.join(f'`{name}`' for name in files)}.", ""]
    if exercise.status == "timeout":
        lines += ["The checks stopped at the time limit; the ones that finished kept their points.", ""]
    lines += ["| result | check | points |", "|---|---|---|"]
    for test in exercise.tests:
        hidden = "" if test.visible else " *(hidden)*"
        lines.append(f"| {test.outcome} | {test.title}{hidden} | {points(test.score)} / {points(test.max_score)} |")
    lines.append("")
    for test in exercise.tests:
        if test.message:
            told = f"The same problem as in *{test.same_as}* above." if test.same_as else fenced(test.message)
            lines += [f"### {test.title}", "", told, ""]
    return lines
