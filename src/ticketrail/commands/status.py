"""`ticketrail status`: every exercise, done, in progress or not started. It runs nothing."""

from __future__ import annotations

import argparse

from ticketrail.kit import Kit
from ticketrail.progress import DONE, IN_PROGRESS, NOT_STARTED, Progress, Standing, exercises, standing

MARKS = {DONE: "✔", IN_PROGRESS: "…", NOT_STARTED: "·"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="a table of your progress through the exercises")
    parser.set_defaults(handler=run)


def table(standings: list[Standing]) -> str:
    width = max(len(s.exercise.title) for s in standings)
    return "\n".join(
        f"  {s.exercise.id}  {s.exercise.title:<{width}}  {MARKS[s.state]} {s.state:<11}  {s.detail}".rstrip()
        for s in standings
    )


def next_step(standings: list[Standing]) -> str:
    working = [s for s in standings if s.state == IN_PROGRESS]
    if working:
        first = working[0].exercise
        return f"Next: keep going with {first.id} (`ticketrail check {first.id}`, `ticketrail hint {first.id}`)."
    fresh = [s for s in standings if s.state == NOT_STARTED]
    if fresh:
        first = fresh[0].exercise
        return f"Next: exercise {first.id}, when you are ready: read exercises/{first.id}/README.md."
    return "Every exercise is done."


def run(options: argparse.Namespace) -> int:
    root = Kit.find().root
    progress = Progress(root)
    standings = [standing(root, exercise, progress) for exercise in exercises(root)]
    if not standings:
        print("This kit has no exercises yet.")
        return 0
    done = sum(1 for s in standings if s.state == DONE)
    print(f"Ticket Rail: {done} of {len(standings)} exercises done\n")
    print(table(standings))
    print(f"\n{next_step(standings)}")
    return 0
