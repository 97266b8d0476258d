"""`ticketrail hint NN`: the next hint from the exercise's README, one level at a time.

The hints shown are remembered per exercise. Without --task the next hint is one about
the first task the last check failed, when the README has one, else the next in order.
"""

from __future__ import annotations

import argparse
import textwrap

from ticketrail import readme
from ticketrail.commands._common import exercise_argument, fail
from ticketrail.kit import Kit
from ticketrail.progress import Progress, find_exercise


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("hint", help="show the next hint for an exercise")
    exercise_argument(parser)
    parser.add_argument("--task", type=int, default=None, help="a hint about this task of the README")
    parser.add_argument("--list", action="store_true", help="list the hints, and which you have seen")
    parser.set_defaults(handler=run)


def choose(hints: list[readme.Hint], shown: set[int], task: int | None) -> tuple[readme.Hint | None, str]:
    """The hint to show next, and why that one."""
    unseen = [h for h in hints if h.level not in shown]
    if task is not None:
        about = [h for h in unseen if task in h.tasks]
        if about:
            return about[0], f"about task {task}"
    if unseen:
        return unseen[0], ""
    return None, ""


def render(hint: readme.Hint, total: int, why: str) -> str:
    title = f"Hint {hint.level} of {total}"
    if hint.tasks:
        title += f" · task{'s' if len(hint.tasks) > 1 else ''} {' and '.join(map(str, hint.tasks))}"
    if why:
        title += f" ({why})"
    return f"{title}\n\n{textwrap.indent(textwrap.dedent(hint.text).strip(), '  ')}"


def run(options: argparse.Namespace) -> int:
    root = Kit.find().root
    exercise = find_exercise(root, options.exercise)
    if options.task is not None and options.task < 1:
        fail(f"--task takes a task number of exercises/{exercise.id}/README.md (1, 2, …), not {options.task}")
    hints = readme.hints(readme.read(exercise.checks_dir))
    if not hints:
        print(f"Exercise {exercise.id} has no hints in exercises/{exercise.id}/README.md.")
        return 0
    progress = Progress(root)
    shown = set(progress.hints_shown(exercise.id))
    if options.list:
        for hint in hints:
            print(f"  {'seen' if hint.level in shown else '    '}  {hint.summary}")
        return 0
    task = options.task
    why = ""
    if task is None and not progress.is_done(exercise):
        failing = progress.failing_tasks(exercise.id)
        if failing:
            task = failing[0]
            why = f"your last check failed task {task}"
    hint, reason = choose(hints, shown, task)
    if hint is None:
        if options.task is not None:
            about = [h for h in hints if options.task in h.tasks]
            hint = about[-1] if about else hints[-1]
        else:
            hint = hints[-1]
        print(f"You have seen every hint for exercise {exercise.id}. Here is the last one again; "
              f"`ticketrail hint {exercise.id} --list` lists them all.\n")
        print(render(hint, len(hints), ""))
        return 0
    if options.task is not None and task not in hint.tasks:
        print(f"There is no further hint about task {options.task}; here is the next one.\n")
    print(render(hint, len(hints), why if reason else ""))
    progress.show_hint(exercise.id, hint.level)
    left = len([h for h in hints if h.level not in shown | {hint.level}])
    print(f"\n({left} more hint{'s' if left != 1 else ''}: `ticketrail hint {exercise.id}` again.)" if left else
          "\n(That was the last hint. The lecture sections the README names go deeper.)")
    return 0
