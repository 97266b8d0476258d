"""The customer's timeline, drawn from the world's ledger, as the lecture draws it in §1.1."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ticketrail.latency import Sample
from ticketrail.services import SHORT_NAMES, SIDE_EFFECTS
from ticketrail.worldctl import Call

WIDTH = 40
_TITLE = re.compile(r"^Timeline of one request.*:$")
_CALL = re.compile(r"^\s+(?P<label>\S.*?)\s+(?P<start>\d+\.\d+)–\s*(?P<end>\d+\.\d+)\s+.*?(?P<when>before|after) the answer$")
_ANSWER = re.compile(r"^\s+answer sent\s+(?P<at>\d+\.\d+)")


@dataclass(frozen=True)
class Timeline:
    title: str
    calls: tuple[tuple[str, float, float, str], ...]  # label, start, end (s from the request), before|after
    answer: float | None


def customer_timeline(sample: Sample, calls: list[Call]) -> str:
    """What one request waited for: each call's span against the moment the answer came."""
    span = max([sample.received] + [c.end or sample.received for c in calls]) - sample.sent
    scale = WIDTH / span if span > 0 else 0.0
    lines = [f"Timeline of one request (order {sample.key}), seconds from the moment it was sent:"]
    for call in sorted(calls, key=lambda c: c.start):
        start, end = call.start - sample.sent, (call.end or sample.received) - sample.sent
        bar = " " * int(start * scale) + "█" * max(1, int((end - start) * scale))
        when = "before the answer" if (call.end or float("inf")) <= sample.received else "after the answer"
        lines.append(f"  {SHORT_NAMES.get(call.service, call.service):<12} {start:5.2f}–{end:5.2f}  {bar:<{WIDTH}}  {when}")
    answer = sample.received - sample.sent
    lines.append(f"  {'answer sent':<12} {answer:5.2f}        {' ' * min(WIDTH - 1, int(answer * scale))}▲")
    return "\n".join(lines)


def waited_for(sample: Sample, calls: list[Call]) -> str:
    """'email 0.60 s, PDF 0.40 s': the side effects that finished before the answer."""
    parts = [
        f"{SHORT_NAMES[c.service]} {c.duration:.2f} s"
        for c in sorted(calls, key=lambda c: c.start)
        if c.service in SIDE_EFFECTS and c.end is not None and c.end <= sample.received
    ]
    return ", ".join(parts)


def split(text: str) -> list[str | Timeline]:
    """A check's message as the text around the timelines it holds (as customer_timeline writes them)."""
    parts: list[str | Timeline] = []
    plain: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if _TITLE.match(lines[index].strip()):
            calls, answer, end = [], None, index + 1
            while end < len(lines) and (_CALL.match(lines[end]) or _ANSWER.match(lines[end])):
                if call := _CALL.match(lines[end]):
                    calls.append((call["label"], float(call["start"]), float(call["end"]), call["when"]))
                else:
                    answer = float(_ANSWER.match(lines[end])["at"])
                end += 1
            if calls:
                parts += ["\n".join(plain)] if plain else []
                parts.append(Timeline(lines[index].strip(), tuple(calls), answer))
                plain, index = [], end
                continue
        plain.append(lines[index])
        index += 1
    return parts + (["\n".join(plain)] if plain else [])
