"""report.html: the class at a glance, for the instructor. One self-contained page (no script, no network).

Per exercise: how the scores spread, and how many of the graded hand-ins passed each grader test,
the least passed first, so that a misconception the class shares stands out before the lecture
does. Then the submissions that could not be graded, and the slowest gradings. Built from the
records through ClassView, with grading.yml's current points, like grades.csv; the figures agree.
"""

from __future__ import annotations

import html
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ticketrail.grading.classview import ClassView, points
from ticketrail.grading.feedback.html import STYLE
from ticketrail.learner import test_title
from ticketrail.grading.records import write_atomically
from ticketrail.textsafe import clean

RAN = ("graded", "timeout")  # the grader tests ran (a timeout keeps what finished); missing files ran nothing
NOT_GRADED = ("ungradable", "rejected", "timeout")
SLOWEST = 10
FAILING_SHOWN = 12  # names per grader test; tests.csv has them all
STATUS_WORDS = {"missing": "with files missing", "timeout": "stopped at the time limit"}

REPORT_STYLE = STYLE + """
body { max-width: 72rem; }
.bar { display: inline-block; height: .9rem; background: #2e90fa; vertical-align: middle; }
.bar.low { background: #d92d20; } .bar.mid { background: #f79009; } .bar.high { background: #12b76a; }
td.figure { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.missing td { color: #777; } tr.missing .bar { background: #bbb; }
td.who { font-size: .85rem; color: #555; }
.summary span { margin-right: 1.5rem; }
"""


@dataclass
class TestRate:
    name: str
    passed: int
    ran: int
    failing: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.passed / self.ran if self.ran else 0.0


@dataclass
class ExerciseFigures:
    exercise: str
    title: str
    max_score: float
    scores: dict[str, float]  # student → score, for every hand-in that was graded (or stopped at the time limit)
    missing: list[str]  # students whose files are missing: they score 0, but did not get 0 for their work
    statuses: Counter
    tests: list[TestRate]

    @property
    def distribution(self) -> list[tuple[float, int]]:
        return sorted(Counter(self.scores.values()).items())


def exercise_figures(view: ClassView, exercise_id: str) -> ExerciseFigures:
    spec = view.config.exercise(exercise_id)
    scores: dict[str, float] = {}
    missing: list[str] = []
    statuses: Counter = Counter()
    rates = {name: TestRate(name, 0, 0) for name in spec.tests}
    for student in view.students:
        result = view.result(student, exercise_id)
        if result is None:
            continue
        statuses[result.status] += 1
        score = view.score(student, exercise_id)
        if result.status == "missing":
            missing.append(student)
        elif score is not None:
            scores[student] = score
        if result.status not in RAN:
            continue
        for test in result.tests:
            rate = rates.setdefault(test.name, TestRate(test.name, 0, 0))
            rate.ran += 1
            if test.passed:
                rate.passed += 1
            else:
                rate.failing.append(student)
    tests = sorted(rates.values(), key=lambda rate: (rate.rate if rate.ran else 2.0, rate.name))
    return ExerciseFigures(exercise_id, spec.title, view.max_score(exercise_id), scores, missing, statuses, tests)


def _text(value: object) -> str:
    return html.escape(clean(str(value)))


def _who(view: ClassView, student: str) -> str:
    """The student as the LMS shows them, the submission's full name on hover."""
    return f'<span title="{_text(student)}">{_text(view.identity(student).name)}</span>'


def _bar(fraction: float, width_rem: float = 12.0, tone: str = "") -> str:
    width = max(fraction, 0.0) * width_rem
    return f'<span class="bar {tone}" style="width:{width:.2f}rem"></span>'


def _tone(fraction: float) -> str:
    return "low" if fraction < 0.5 else "mid" if fraction < 0.8 else "high"


def _exercise_section(view: ClassView, figures: ExerciseFigures) -> str:
    eid = figures.exercise
    parts = [f'<section id="exercise-{_text(eid)}" data-exercise="{_text(eid)}">',
             f"<h2>{_text(eid)} · {_text(figures.title)}</h2>"]
    counts = ", ".join(f"{count} {STATUS_WORDS.get(status, status)}" for status, count in sorted(figures.statuses.items()))
    median = (f" Median of the graded: {points(statistics.median(figures.scores.values()))} / "
              f"{points(figures.max_score)}." if figures.scores else "")
    parts.append(f'<p class="summary">Recorded: {_text(counts) or "nothing"}.{median}</p>')
    if figures.scores or figures.missing:
        most = max([count for _, count in figures.distribution] + [len(figures.missing)])
        parts.append('<h3>Scores</h3><table class="distribution"><thead><tr><th>score</th><th>students</th>'
                     "<th></th></tr></thead><tbody>")
        for score, count in figures.distribution:
            fraction = score / figures.max_score if figures.max_score else 0.0
            parts.append(f'<tr data-score="{points(score)}"><td class="figure">{points(score)} / '
                         f'{points(figures.max_score)}</td><td class="figure count">{count}</td>'
                         f"<td>{_bar(count / most, tone=_tone(fraction))}</td></tr>")
        if figures.missing:
            parts.append(f'<tr class="missing" data-missing="{len(figures.missing)}"><td>files missing</td>'
                         f'<td class="figure">{len(figures.missing)}</td><td>{_bar(len(figures.missing) / most)}</td></tr>')
        parts.append("</tbody></table>")
    ran = [rate for rate in figures.tests if rate.ran]
    if ran:
        parts.append("<h3>Grader tests, the least passed first</h3><table class=\"tests\"><thead><tr>"
                     "<th>test</th><th>passed</th><th></th><th>failed by</th></tr></thead><tbody>")
        for rate in ran:
            failing = ", ".join(_who(view, student) for student in rate.failing[:FAILING_SHOWN])
            if len(rate.failing) > FAILING_SHOWN:
                failing += f" and {len(rate.failing) - FAILING_SHOWN} more"
            parts.append(f'<tr data-test="{_text(rate.name)}" data-passed="{rate.passed}" data-ran="{rate.ran}">'
                         f"<td>{_text(test_title(rate.name))}</td>"
                         f'<td class="figure">{rate.passed} / {rate.ran} ({rate.rate:.0%})</td>'
                         f"<td>{_bar(rate.rate, 8, _tone(rate.rate))}</td><td class=\"who\">{failing}</td></tr>")
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No hand-in of this exercise was graded.</p>")
    parts.append("</section>")
    return "".join(parts)


def _not_graded(view: ClassView) -> str:
    rows = []
    for student in view.students:
        for eid in view.exercise_ids:
            result = view.result(student, eid)
            if result is None or result.status not in NOT_GRADED:
                continue
            first = next((line for line in clean(result.note).splitlines() if line.strip()), result.status)
            rows.append(f'<tr data-student="{_text(student)}" data-exercise="{_text(eid)}"><td>{_who(view, student)}</td>'
                        f"<td>{_text(eid)}</td><td>{_text(result.status)}</td><td>{html.escape(first[:300])}</td></tr>")
    if not rows:
        return '<section id="not-graded"><h2>Could not be graded</h2><p>Every submission was graded.</p></section>'
    return ('<section id="not-graded"><h2>Could not be graded</h2><p>These need a look (a regrade with '
            "<code>--only-failed</code>, or by hand); they are not scored 0.</p><table><thead><tr><th>student</th>"
            "<th>exercise</th><th>status</th><th>why</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>")


def _slowest(view: ClassView) -> str:
    runs = [(result.duration, student, eid) for student in view.students for eid in view.exercise_ids
            if (result := view.result(student, eid)) is not None and result.status in (*RAN, "ungradable")]
    runs.sort(reverse=True)
    if not runs:
        return ""
    rows = "".join(f'<tr><td>{_who(view, student)}</td><td>{_text(eid)}</td><td class="figure">{seconds:.0f} s</td></tr>'
                   for seconds, student, eid in runs[:SLOWEST])
    return (f'<section id="slowest"><h2>The slowest gradings</h2><table><thead><tr><th>student</th><th>exercise</th>'
            f"<th>time</th></tr></thead><tbody>{rows}</tbody></table></section>")


def class_report(view: ClassView) -> str:
    figures = [exercise_figures(view, eid) for eid in view.exercise_ids]
    handed_in = sum(1 for student in view.students if view.records.get(student) is not None)
    body = [f"<h1>Class report</h1><p class=\"summary\"><span>{len(view.students)} submissions</span>"
            f"<span>{handed_in} with a record</span><span>exercises {_text(', '.join(view.exercise_ids))}</span></p>",
            *(_exercise_section(view, item) for item in figures), _not_graded(view), _slowest(view)]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Class report</title><style>{REPORT_STYLE}</style></head>\n<body>\n"
            + "\n".join(part for part in body if part) + "\n</body></html>\n")


def write_class_report(out: Path, view: ClassView) -> Path:
    path = out / "report.html"
    write_atomically(path, class_report(view))
    return path
