"""The words a learner reads of a failure, the same on every surface (`ticketrail check`, the feedback
pages, Gradescope): the check's own message, without the exception's type and without pytest's
`assert x == y` explanation, "Task N is not done yet" first, and nothing a terminal would run."""

from __future__ import annotations

import re

from ticketrail.textsafe import clean

# The harness's own exception types say nothing to a learner; a student's (a KeyError in app.py) does.
_QUIET_TYPES = re.compile(r"^(?:[\w.]+\.)?(?:AssertionError|Failed|WaitTimeout|TestTimeout|ChildFailed|PortTaken): ?")
_TYPED = re.compile(r"^(?P<type>[\w.]+): (?P<headline>(?:Task \d+|This part) is not done yet: .*?)\n\n", re.S)


def message(text: str) -> str:
    words = clean(text).strip()
    assertion = words.startswith(("AssertionError", "assert "))
    quiet = _QUIET_TYPES.match(words)
    typed = _TYPED.match(words)
    if typed:  # "Task N is not done yet" goes first, whatever the exception that carried it
        kind = "" if quiet else f"{typed['type'].rsplit('.', 1)[-1]}: "
        words = f"{typed['headline']}\n\n{kind}{words[typed.end():]}"
    elif quiet:
        words = words[quiet.end():]
    if assertion:
        lines = words.splitlines()
        for index, line in enumerate(lines):
            if index and line.startswith("assert "):
                return "\n".join(lines[:index]).rstrip()
    return words


def test_title(test_name: str) -> str:
    """`test_a_failing_job_is_retried` as a sentence: "A failing job is retried"."""
    words = test_name.removeprefix("test_").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
