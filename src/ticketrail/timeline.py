"""The customer's timeline, drawn from the world's ledger, as the lecture draws it in §1.1."""

from __future__ import annotations

from dataclasses import dataclass

from ticketrail.latency import Sample
from ticketrail.services import SHORT_NAMES, SIDE_EFFECTS
from ticketrail.worldctl import Call

WIDTH = 40
_DRAWN_KEPT = 20


@dataclass(frozen=True)
class Timeline:
    title: str
    calls: tuple[tuple[str, float, float, str], ...]  # label, start, end (s from the request), before|after
    answer: float | None
    text: str  # as a check's message holds it

    def to_json(self) -> dict:
        return {"title": self.title, "calls": [list(call) for call in self.calls], "answer": self.answer,
                "text": self.text}

    @classmethod
    def from_json(cls, entry: dict) -> Timeline:
        calls = tuple((str(label), float(start), float(end), str(when)) for label, start, end, when in entry["calls"])
        answer = entry.get("answer")
        return cls(str(entry["title"]), calls, None if answer is None else float(answer), str(entry["text"]))


# The timelines drawn during the test under way: the plugin takes them into the test's report line, so that
# the HTML feedback draws them from figures rather than reading them back from the message's text.
_drawn: list[Timeline] = []


def customer_timeline(sample: Sample, calls: list[Call]) -> str:
    """What one request waited for: each call's span against the moment the answer came."""
    span = max([sample.received] + [c.end or sample.received for c in calls]) - sample.sent
    scale = WIDTH / span if span > 0 else 0.0
    title = f"Timeline of one request (order {sample.key}), seconds from the moment it was sent:"
    lines, spans = [title], []
    for call in sorted(calls, key=lambda c: c.start):
        start, end = call.start - sample.sent, (call.end or sample.received) - sample.sent
        bar = " " * int(start * scale) + "█" * max(1, int((end - start) * scale))
        before = (call.end or float("inf")) <= sample.received
        label = SHORT_NAMES.get(call.service, call.service)
        spans.append((label, round(start, 2), round(end, 2), "before" if before else "after"))
        lines.append(f"  {label:<12} {start:5.2f}–{end:5.2f}  {bar:<{WIDTH}}  {'before' if before else 'after'} the answer")
    answer = sample.received - sample.sent
    lines.append(f"  {'answer sent':<12} {answer:5.2f}        {' ' * min(WIDTH - 1, int(answer * scale))}▲")
    text = "\n".join(lines)
    _drawn.append(Timeline(title, tuple(spans), round(answer, 2), text))
    del _drawn[:-_DRAWN_KEPT]
    return text


def take_drawn() -> list[Timeline]:
    """The timelines drawn since the last call, oldest first."""
    drawn = list(_drawn)
    _drawn.clear()
    return drawn


def waited_for(sample: Sample, calls: list[Call]) -> str:
    """'email 0.60 s, PDF 0.40 s': the side effects that finished before the answer."""
    parts = [
        f"{SHORT_NAMES[c.service]} {c.duration:.2f} s"
        for c in sorted(calls, key=lambda c: c.start)
        if c.service in SIDE_EFFECTS and c.end is not None and c.end <= sample.received
    ]
    return ", ".join(parts)


def split(text: str, timelines: list[Timeline]) -> list[str | Timeline]:
    """A check's message as the text around the timelines it holds; a timeline its text no longer holds
    comes last."""
    parts: list[str | Timeline] = [text]
    missing = []
    for drawn in timelines:
        for index, part in enumerate(parts):
            if isinstance(part, str) and drawn.text in part:
                before, _, after = part.partition(drawn.text)
                parts[index:index + 1] = [before, drawn, after]
                break
        else:
            missing.append(drawn)
    return [part for part in parts if not isinstance(part, str) or part.strip()] + missing
