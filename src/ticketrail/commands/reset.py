"""`ticketrail reset NN`: put starter/NN back as it was handed out, after asking.

The starter as handed out comes from `.pristine/NN/` (the handout carries it) or, in
the kit's own repository, from the committed starter/NN. Your files are copied to
`.ticketrail/backups/NN-<time>/` first, so a reset can be undone by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys

from ticketrail.commands._common import exercise_argument
from ticketrail.kit import PRISTINE_DIR, Kit
from ticketrail.progress import STATE_DIR, Progress, changed_from_pristine, files_of, find_exercise, pristine_files


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("reset", help="restore an exercise's starter code (asks first)")
    exercise_argument(parser)
    parser.add_argument("--yes", action="store_true", help="do not ask")
    parser.set_defaults(handler=run)


def confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run(options: argparse.Namespace) -> int:
    kit = Kit.find()
    root = kit.root
    exercise = find_exercise(root, options.exercise)
    pristine = pristine_files(root, exercise.id)
    if pristine is None:
        print(f"There is no copy of the starter of exercise {exercise.id} to restore from "
              f"({root / PRISTINE_DIR / exercise.id} does not exist and this is not a git checkout).", file=sys.stderr)
        return 1
    changed = changed_from_pristine(root, exercise) or []
    restored = [name for name in changed if name in pristine]
    extra = [name for name in changed if name not in pristine]
    if not restored:
        print(f"starter/{exercise.id} is already as it was handed out; nothing to reset.")
        return 0
    print(f"This puts back the starter's version of: {', '.join(restored)} in starter/{exercise.id}.")
    if extra:
        print(f"Files you added stay as they are: {', '.join(extra)}.")
    if not options.yes and not confirm("Your changes to those files will be replaced (a backup is kept). Reset?"):
        print("Nothing was changed.")
        return 1
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = root / STATE_DIR / "backups" / f"{exercise.id}-{stamp}"
    for path in files_of(exercise.student_dir):
        relative = path.relative_to(exercise.student_dir).as_posix()
        if relative in restored:
            (backup / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, backup / relative)
    for name in restored:
        target = exercise.student_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pristine[name])
    Progress(root).forget_pass(exercise.id)
    shown = backup.relative_to(root) if backup.exists() else None
    print(f"starter/{exercise.id} is back to the starter." + (f" Your version is in {shown}/." if shown else ""))
    return 0
