"""A student's feedback as one HTML page, readable in any browser, with each latency timeline drawn.

The page is the Markdown feedback (grading/exports.py) rendered: the same words (less
pytest's `AssertionError:` and `assert x == y` lines), the same rules about hidden tests. The customer's timelines that checks print as text
(timeline.py) become bar charts: each call a bar from its start to its end, the moment
the answer was sent a line across them.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ticketrail.commands.check import learner_message
from ticketrail.grading.records import write_atomically
from ticketrail.textsafe import clean

if TYPE_CHECKING:
    from ticketrail.grading.exports import ClassView

_TIMELINE_TITLE = re.compile(r"^Timeline of one request.*:$")
_CALL = re.compile(r"^\s+(?P<label>\S.*?)\s+(?P<start>\d+\.\d+)–\s*(?P<end>\d+\.\d+)\s+.*?(?P<when>before|after) the answer$")
_ANSWER = re.compile(r"^\s+answer sent\s+(?P<at>\d+\.\d+)")
_FENCE = re.compile(r"^(`{3,})")

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


def timeline_svg(title: str, calls: list[tuple[str, float, float, str]], answer: float | None) -> str:
    """Bars for (label, start, end, 'before'|'after') in seconds from the request, a line at the answer."""
    span = max([end for _, _, end, _ in calls] + [answer or 0.0, 0.001])
    x = lambda seconds: LABEL_WIDTH + seconds / span * CHART_WIDTH  # noqa: E731
    height = PAD * 2 + ROW * (len(calls) + 1)
    parts = [f'<figure class="timeline"><figcaption>{html.escape(title)}</figcaption>',
             f'<svg role="img" width="{LABEL_WIDTH + CHART_WIDTH + 90}" height="{height}" '
             f'viewBox="0 0 {LABEL_WIDTH + CHART_WIDTH + 90} {height}">',
             f"<title>{html.escape(title)}</title>"]
    for row, (label, start, end, when) in enumerate(calls):
        y = PAD + row * ROW
        colour = "#d92d20" if when == "before" else "#2e90fa"
        width = max(x(end) - x(start), 2)
        parts.append(f'<text x="0" y="{y + 14}">{html.escape(label)}</text>'
                     f'<rect x="{x(start):.1f}" y="{y + 3}" width="{width:.1f}" height="{ROW - 8}" fill="{colour}">'
                     f"<title>{html.escape(label)}: {start:.2f}–{end:.2f} s, {when} the answer</title></rect>"
                     f'<text x="{x(end) + 4:.1f}" y="{y + 14}">{end - start:.2f} s</text>')
    if answer is not None:
        bottom = PAD + ROW * len(calls)
        parts.append(f'<line x1="{x(answer):.1f}" y1="{PAD}" x2="{x(answer):.1f}" y2="{bottom}" stroke="#111" '
                     f'stroke-width="2" stroke-dasharray="4 3"/>'
                     f'<text x="{max(x(answer) - 40, 0):.1f}" y="{bottom + 15}">answer sent {answer:.2f} s</text>')
    parts.append("</svg>")
    parts.append('<p><span style="color:#d92d20">■</span> the customer waited for it &nbsp; '
                 '<span style="color:#2e90fa">■</span> after the answer</p></figure>')
    return "".join(parts)


def render_text(text: str) -> str:
    """A block of check output: timelines drawn, everything else as preformatted text."""
    out: list[str] = []
    plain: list[str] = []
    lines = text.splitlines()
    index = 0

    def flush() -> None:
        if any(line.strip() for line in plain):
            out.append(f"<pre>{html.escape(chr(10).join(plain).strip(chr(10)))}</pre>")
        plain.clear()

    while index < len(lines):
        if _TIMELINE_TITLE.match(lines[index].strip()):
            title, calls, answer, end = lines[index].strip(), [], None, index + 1
            while end < len(lines):
                call, sent = _CALL.match(lines[end]), _ANSWER.match(lines[end])
                if call:
                    calls.append((call["label"], float(call["start"]), float(call["end"]), call["when"]))
                elif sent:
                    answer = float(sent["at"])
                else:
                    break
                end += 1
            if calls:
                flush()
                out.append(timeline_svg(title, calls, answer))
                index = end
                continue
        plain.append(lines[index])
        index += 1
    flush()
    return "".join(out)


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)


def _table(rows: list[str]) -> str:
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    header, body = cells[0], [row for row in cells[1:] if not all(set(c) <= set("-: ") for c in row)]
    parts = ["<table><thead><tr>", *(f"<th>{_inline(c)}</th>" for c in header), "</tr></thead><tbody>"]
    for row in body:
        parts.append("<tr>")
        for position, cell in enumerate(row):
            outcome = f' class="{cell.replace(" ", "-")}"' if position == 0 and header[0] == "result" else ""
            parts.append(f"<td{outcome}>{_inline(cell)}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def markdown_to_html(markdown: str) -> str:
    """The Markdown the feedback uses: headings, paragraphs, bullets, tables, fenced text."""
    out: list[str] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            end = index + 1
            while end < len(lines) and lines[end].rstrip() != fence.group(1):
                end += 1
            out.append(render_text(learner_message("\n".join(lines[index + 1:end]))))
            index = end + 1
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif line.startswith("|"):
            end = index
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            out.append(_table(lines[index:end]))
            index = end
            continue
        elif line.startswith("- "):
            end = index
            while end < len(lines) and lines[end].startswith("- "):
                end += 1
            out.append("<ul>" + "".join(f"<li>{_inline(item[2:])}</li>" for item in lines[index:end]) + "</ul>")
            index = end
            continue
        elif line.strip():
            end = index
            while end < len(lines) and lines[end].strip() and not re.match(r"^(#|\||- |`{3})", lines[end]):
                end += 1
            out.append(f"<p>{_inline(' '.join(lines[index:end]))}</p>")
            index = end
            continue
        index += 1
    return "\n".join(out)


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(clean(title))}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def feedback_html(view: ClassView, student: str) -> str:
    # Imported here so that grading/exports.py can import this module to write the page beside the Markdown.
    from ticketrail.grading.exports import feedback_markdown

    # The Markdown is clean already; cleaning again keeps this page safe whatever Markdown it is given.
    return page(f"Feedback: {student}", markdown_to_html(clean(feedback_markdown(view, student))))


def write_feedback_html(out: Path, view: ClassView, student: str) -> Path:
    """feedback/<student>.html beside the Markdown feedback."""
    path = out / "feedback" / f"{student}.html"
    write_atomically(path, feedback_html(view, student))
    return path


def write_class_feedback_html(out: Path, config) -> list[Path]:
    """feedback/<student>.html for every record a `ticketrail grade` run left in `out`."""
    from ticketrail.grading.exports import ClassView
    from ticketrail.grading.records import RecordStore

    store = RecordStore(out)
    students = sorted(path.stem for path in store.folder.glob("*.json"))
    records = {student: store.load(student) for student in students}
    graded = {eid for record in records.values() if record for eid in record.exercises}
    view = ClassView(config, students, records, [eid for eid in config.exercises if eid in graded])
    return [write_feedback_html(out, view, student) for student in students if records[student] is not None]
