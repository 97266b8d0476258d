"""What a student reads in exercises/NN/README.md: the numbered tasks and the levelled hints.

Hints are `<details><summary>Hint N (task 2)</summary> … </details>` blocks; the
parenthesis names the tasks a hint is about ("task 2 and 3"). Tasks are the numbered
items under a `## Tasks` heading, their title in bold: `1. **Feel it.** Run …`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_DETAILS = re.compile(r"<details>\s*<summary>(?P<summary>.*?)</summary>(?P<body>.*?)</details>", re.S | re.I)
_HINT_NUMBER = re.compile(r"\bhint\s+(\d+)", re.I)
_TASKS_IN_SUMMARY = re.compile(r"\btasks?\b([^)]*)", re.I)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_TASK_ITEM = re.compile(r"^(\d+)\.\s+(?:\*\*(?P<bold>.+?)\*\*)?(?P<rest>.*)$")


@dataclass(frozen=True)
class Hint:
    level: int
    summary: str
    tasks: tuple[int, ...]  # the tasks the summary names; empty when it names none
    text: str


@dataclass(frozen=True)
class Task:
    number: int
    title: str


def hints(readme: str) -> list[Hint]:
    found = []
    for position, match in enumerate(_DETAILS.finditer(readme), start=1):
        summary = _plain(match["summary"])
        if not re.search(r"\bhint\b", summary, re.I):
            continue
        number = _HINT_NUMBER.search(summary)
        tasks: tuple[int, ...] = ()
        named = _TASKS_IN_SUMMARY.search(summary)
        if named:
            tasks = tuple(sorted({int(n) for n in re.findall(r"\d+", named.group(1))}))
        found.append(Hint(int(number.group(1)) if number else position, summary, tasks, match["body"].strip()))
    return sorted(found, key=lambda h: h.level)


def tasks(readme: str) -> list[Task]:
    """The numbered items of the `Tasks` section (the first level of the list only)."""
    found: list[Task] = []
    in_tasks = False
    for line in readme.splitlines():
        heading = _HEADING.match(line)
        if heading:
            in_tasks = heading.group(2).strip().lower().rstrip(":") in ("tasks", "your tasks", "the tasks")
            continue
        item = _TASK_ITEM.match(line) if in_tasks else None
        if item:
            title = item["bold"] or item["rest"]
            found.append(Task(int(item.group(1)), _plain(title).strip().rstrip(".:")))
    return found


def read(exercise_dir: Path) -> str:
    path = exercise_dir / "README.md"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _plain(text: str) -> str:
    return re.sub(r"<[^>]+>|[*_`]", "", text).strip()
