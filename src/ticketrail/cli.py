"""`ticketrail`: one command, a subcommand per job. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ticketrail.commands._common import USAGE_ERROR
from ticketrail.config import ConfigError
from ticketrail.kit import KitError

SUBCOMMANDS = (
    "ticketrail.commands.run",
    "ticketrail.commands.check",
    "ticketrail.commands.status",
    "ticketrail.commands.hint",
    "ticketrail.commands.reset",
    "ticketrail.commands.watch",
    "ticketrail.commands.release",
    "ticketrail.commands.gradescope",
    "ticketrail.commands.feedback",
    "ticketrail.commands.grade",
    "ticketrail.commands.report",
    "ticketrail.commands.validate",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ticketrail", description="Ticket Rail: exercises in background processing.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    options = parser.parse_args(argv)
    try:
        status = options.handler(options) or 0
        sys.stdout.flush()  # inside the try: a reader that left shows up here, not at exit
        return status
    except KeyboardInterrupt:
        return 130
    except (KitError, ConfigError) as error:  # an unknown exercise, no kit here, a malformed grading.yml
        print(f"ticketrail: {error}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        # `ticketrail status | head`: the reader left. Python would complain again while flushing
        # stdout at exit, so point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
