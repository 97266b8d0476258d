"""`ticketrail watch NN`: check the exercise again each time one of its files is saved.

It polls the files' modification times and sizes (twice a second): the standard library
has no file-system events, and polling also works on the network and container file
systems that would not send them. Polling is the only mode.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Iterable

from ticketrail.commands._common import check_impl, check_redis, exercise_argument, fail, find_kit, impl_argument, \
    interrupt_on_terminate, redis_argument
from ticketrail.commands.check import check_exercise
from ticketrail.kit import Kit
from ticketrail.progress import find_exercise

Snapshot = dict[str, tuple[int, int]]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("watch", help="re-run an exercise's checks whenever you save a file")
    exercise_argument(parser)
    impl_argument(parser, find_kit())
    redis_argument(parser)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between looks at the files")
    parser.set_defaults(handler=run)


def snapshot(folders: Iterable[Path]) -> Snapshot:
    seen: Snapshot = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if "__pycache__" in path.parts or path.suffix in (".pyc", ".swp") or path.name.endswith("~"):
                continue
            try:
                stat = path.stat()
            except OSError:  # deleted between listing and looking: an editor saving by rename
                continue
            if path.is_file():
                seen[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return seen


def wait_for_change(folders: list[Path], before: Snapshot, interval: float, settle: float = 0.3) -> Snapshot:
    """Block until the files differ from `before`, then until they stay put for `settle` s."""
    while True:
        time.sleep(interval)
        now = snapshot(folders)
        if now != before:
            # Editors save in several steps (write, rename, touch): wait until they are finished.
            while True:
                time.sleep(settle)
                later = snapshot(folders)
                if later == now:
                    return now
                now = later


def run(options: argparse.Namespace) -> int:
    kit = Kit.find()
    exercise = find_exercise(kit.root, options.exercise)
    impl = check_impl(kit, options.impl, [exercise.id])
    check_redis(options.redis)
    if options.interval <= 0:
        fail(f"--interval takes a number of seconds above 0, not {options.interval:g}")
    interrupt_on_terminate()
    root = kit.root
    folder = kit.impl_folder(impl, exercise.id)
    folders = [folder, exercise.checks_dir]
    state = snapshot(folders)
    while True:
        check_exercise(root, exercise, impl, options.redis)
        print(f"\nWatching {folder} for changes (every {options.interval:g} s); Ctrl-C stops.\n", flush=True)
        state = wait_for_change(folders, state, options.interval)
        print("─" * 72, flush=True)
