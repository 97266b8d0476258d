"""The customer's timeline, drawn from the world's ledger, as the lecture draws it in §1.1."""

from __future__ import annotations

from ticketrail.latency import Sample
from ticketrail.services import SHORT_NAMES, SIDE_EFFECTS
from ticketrail.worldctl import Call

WIDTH = 40


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
