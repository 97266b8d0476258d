"""What every subcommand shares: how an exercise is named, how a command fails, how it stops.

The convention: errors go to stderr; a mistake in the command line (an unknown exercise, a
malformed option) or in the kit's grading.yml exits 2, before the command has changed anything. A command raises
KitError for those it finds through the Kit (`cli.main` prints it) and calls `fail` for the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Iterable, Iterator, NoReturn

from ticketrail.kit import Kit, KitError
from ticketrail.redisd import RedisHandle, choose_backend

USAGE_ERROR = 2


def exercise_argument(parser: argparse.ArgumentParser, many: bool = False, optional: bool = False,
                      help: str | None = None) -> None:
    """The exercise as a positional argument: "1" and "01" both name exercise 01 (see Kit.exercise)."""
    nargs = ("*" if optional else "+") if many else ("?" if optional else None)
    parser.add_argument("exercise", nargs=nargs, metavar="NN",
                        help=help or ("the exercise numbers, e.g. 01 02" if many else "the exercise number, e.g. 01"))


def impl_argument(parser: argparse.ArgumentParser, kit: Kit | None) -> None:
    """--impl: starter, reference where the kit has one, or a folder."""
    named = kit.impl_choices() if kit is not None else ("starter", "reference")
    parser.add_argument("--impl", default="starter",
                        help=f"{', '.join(named)} or a folder of your files (default: starter, your work)")


def redis_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis", default=None,
                        help="server (a private redis-server), embedded (a fake Redis in Python) or a redis:// URL")


def find_kit() -> Kit | None:
    """The kit, for building the command line (None outside one: the command then fails when it runs)."""
    try:
        return Kit.find()
    except KitError:
        return None


def kit_as_it_is_now() -> Kit:
    """The kit with grading.yml read afresh: Kit.find keeps one value per process, and a command run in a
    process that outlives an edit of grading.yml (a test, a notebook) must see the edit."""
    return Kit(Kit.find().root)


def fail(message: str) -> NoReturn:
    """Stop the command: the message on stderr, exit status 2."""
    print(f"ticketrail: {message}", file=sys.stderr, flush=True)
    raise SystemExit(USAGE_ERROR)


def check_impl(kit: Kit, impl: str, exercise_ids: Iterable[str]) -> str:
    """--impl as pytest (run from the kit's folder) is to be given it: a folder made absolute.
    Reference in a handout, or a folder that is not there, is a KitError before anything starts."""
    if impl == "reference" and kit.is_handout:
        kit.impl_folder(impl, "")
    for exercise_id in exercise_ids:
        kit.impl_folder(impl, exercise_id)
    return impl if impl in ("starter", "reference") else str(Path(impl).expanduser().resolve())


def check_redis(requested: str | None) -> None:
    """--redis names something this machine has, before anything starts."""
    backend = choose_backend(requested)
    if backend.startswith(("redis://", "rediss://", "unix://")):
        return
    if backend not in ("server", "embedded"):
        fail(f"--redis takes server, embedded or a redis:// URL, not {backend!r}")
    if backend == "server" and shutil.which("redis-server") is None:
        fail("--redis server: redis-server is not installed here; use --redis embedded, or install it "
             "(apt-get install redis-server, brew install redis)")


def redis_line(requested: str | None) -> str:
    """Which Redis a run will use, for its first lines."""
    backend = choose_backend(requested)
    if backend == "server":
        return "Redis: a private redis-server (--redis embedded uses the fake Redis in Python)"
    if backend == "embedded":
        return "Redis: the embedded fake Redis in Python (--redis server uses a private redis-server)"
    return f"Redis: {_without_password(backend)}"


def describe_redis(handle: RedisHandle) -> str:
    kinds = {"server": "a private redis-server", "embedded": "the embedded fake Redis in Python",
             "external": "an external Redis"}
    return f"{kinds.get(handle.backend, handle.backend)} at {_without_password(handle.url)}"


def _without_password(url: str) -> str:
    return re.sub(r"(?<=://)[^/@]*@", "", url)  # printed lines end up in logs and screenshots


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Within it, Ctrl-C, a `kill` or a closed terminal raise KeyboardInterrupt (even where SIGINT came
    ignored), so the command stops what it started; the handlers are as they were afterwards."""
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.getsignal(signum) for signum in signums}
    for signum in signums:
        signal.signal(signum, _interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def interrupt_on_terminate() -> None:
    """A `kill` or a closed terminal stops the command as Ctrl-C does, so it stops what it started."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    sys.stdout.reconfigure(line_buffering=True)  # lines appear as they come, also through a pipe
