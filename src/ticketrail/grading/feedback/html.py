"""feedback/<student>.html: the feedback as one page, readable in any browser, no script and no network,
with each customer's timeline drawn as bars: each call from its start to its end, the answer a line."""

from __future__ import annotations

import html
from pathlib import Path

from ticketrail import timeline
from ticketrail.grading.classview import ClassView, points
from ticketrail.grading.feedback.markdown import mark
from ticketrail.grading.feedback.model import ExerciseFeedback, StudentFeedback, build
from ticketrail.grading.records import RecordStore, write_atomically
from ticketrail.textsafe import clean

STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
table { border-collapse: collapse; margin: 1rem 0; } td, th { border: 1px solid #ddd; padding: .3rem .6rem; }
th { background: #f4f4f4; text-align: left; }
td.passed { color: #1a7f37; font-weight: 600; } td.failed, td.did-not-run { color: #b42318; font-weight: 600; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; white-space: pre-wrap; font-size: .9rem; }
code { background: #f6f8fa; padding: 0 .2rem; }
figure.timeline { margin: 1rem 0; } figure.timeline figcaption { font-weight: 600; margin-bottom: .4rem; }
svg text { font: 12px system-ui, sans-serif; fill: #222; }
"""

LABEL_WIDTH, CHART_WIDTH, ROW, PAD = 110, 520, 22, 8


def timeline_svg(drawn: timeline.Timeline) -> str:
    span = max([end for _, _, end, _ in drawn.calls] + [drawn.answer or 0.0, 0.001])
    x = lambda seconds: LABEL_WIDTH + seconds / span * CHART_WIDTH  # noqa: E731
    height = PAD * 2 + ROW * (len(drawn.calls) + 1)
    title = html.escape(drawn.title)
    parts = [f'<figure class="timeline"><figcaption>{title}</figcaption>',
             f'<svg role="img" width="{LABEL_WIDTH + CHART_WIDTH + 90}" height="{height}" '
             f'viewBox="0 0 {LABEL_WIDTH + CHART_WIDTH + 90} {height}">', f"<title>{title}</title>"]
    for row, (label, start, end, when) in enumerate(drawn.calls):
        y = PAD + row * ROW
        colour = "#d92d20" if when == "before" else "#2e90fa"
        width = max(x(end) - x(start), 2)
        parts.append(f'<text x="0" y="{y + 14}">{html.escape(label)}</text>'
                     f'<rect x="{x(start):.1f}" y="{y + 3}" width="{width:.1f}" height="{ROW - 8}" fill="{colour}">'
                     f"<title>{html.escape(label)}: {start:.2f}–{end:.2f} s, {when} the answer</title></rect>"
                     f'<text x="{x(end) + 4:.1f}" y="{y + 14}">{end - start:.2f} s</text>')
    if drawn.answer is not None:
        bottom, at = PAD + ROW * len(drawn.calls), x(drawn.answer)
        parts.append(f'<line x1="{at:.1f}" y1="{PAD}" x2="{at:.1f}" y2="{bottom}" stroke="#111" '
                     f'stroke-width="2" stroke-dasharray="4 3"/>'
                     f'<text x="{max(at - 40, 0):.1f}" y="{bottom + 15}">answer sent {drawn.answer:.2f} s</text>')
    parts.append("</svg>")
    parts.append('<p><span style="color:#d92d20">■</span> the customer waited for it &nbsp; '
                 '<span style="color:#2e90fa">■</span> after the answer</p></figure>')
    return "".join(parts)


def _message(text: str, timelines: tuple[timeline.Timeline, ...]) -> str:
    return "".join(timeline_svg(part) if isinstance(part, timeline.Timeline)
                   else f"<pre>{html.escape(part.strip(chr(10)))}</pre>"
                   for part in timeline.split(text, list(timelines)))


def _paragraph(text: str) -> str:
    return "<p>" + "<br>".join(html.escape(line) for line in text.splitlines()) + "</p>"


def _code(name: str) -> str:
    return f"<code>{html.escape(name)}</code>"


def _exercise(exercise: ExerciseFeedback) -> list[str]:
    parts = [f"<h2>{html.escape(f'{exercise.id} · {exercise.title}: {mark(exercise)}')}</h2>"]
    if exercise.status == "missing":
        return parts + [_paragraph(exercise.note)]
    if exercise.status in ("ungradable", "rejected"):
        parts.append(f"<p>Not graded yet: {html.escape(exercise.status_words)}. Your instructor will look at it.</p>")
        return parts + ([_paragraph(exercise.note)] if exercise.note else [])
    if exercise.status == "not graded":
        return parts
    if exercise.graded_from is not None:
        folder, files = exercise.graded_from
        where = _code(f"{folder}/") if folder else "the top folder"
        parts.append(f"<p>Graded from {where}: {', '.join(_code(name) for name in files)}.</p>")
    if exercise.status == "timeout":
        parts.append("<p>The checks stopped at the time limit; the ones that finished kept their points.</p>")
    rows = "".join(f'<tr><td class="{test.outcome.replace(" ", "-")}">{test.outcome}</td>'
                   f"<td>{html.escape(test.title)}{'' if test.visible else ' <em>(hidden)</em>'}</td>"
                   f"<td>{points(test.score)} / {points(test.max_score)}</td></tr>" for test in exercise.tests)
    parts.append("<table><thead><tr><th>result</th><th>check</th><th>points</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")
    for test in exercise.tests:
        if test.message:
            parts.append(f"<h3>{html.escape(test.title)}</h3>")
            parts.append(f"<p>The same problem as in <em>{html.escape(test.same_as)}</em> above.</p>" if test.same_as
                         else _message(test.message, test.timelines))
    return parts


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(clean(title))}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def feedback_html(feedback: StudentFeedback) -> str:
    parts = [f"<h1>Feedback: {html.escape(feedback.student)}</h1>"]
    if feedback.total is not None:
        parts.append(f"<p><strong>Total: {points(feedback.total)} / {points(feedback.maximum)}</strong></p>")
    if feedback.problems:
        parts.append("<h2>About your submission</h2><ul>"
                     + "".join(f"<li>{html.escape(problem)}</li>" for problem in feedback.problems) + "</ul>")
    for exercise in feedback.exercises:
        parts += _exercise(exercise)
    return page(f"Feedback: {feedback.student}", "\n".join(parts))


def write_feedback_html(out: Path, view: ClassView, student: str) -> Path:
    path = out / "feedback" / f"{student}.html"
    write_atomically(path, feedback_html(build(view, student)))
    return path


def write_class_feedback_html(out: Path, config) -> list[Path]:
    """feedback/<student>.html for every record a `ticketrail grade` run left in `out`."""
    store = RecordStore(out)
    students = sorted(path.stem for path in store.folder.glob("*.json"))
    records = {student: store.load(student) for student in students}
    graded = {eid for record in records.values() if record for eid in record.exercises}
    view = ClassView(config, students, records, [eid for eid in config.exercises if eid in graded])
    return [write_feedback_html(out, view, student) for student in students if records[student] is not None]
