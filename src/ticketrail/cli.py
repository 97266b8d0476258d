"""`ticketrail`: one command, a subcommand per job. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

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
    "ticketrail.commands.validate",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ticketrail", description="Ticket Rail: exercises in background processing.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    options = parser.parse_args(argv)
    try:
        return options.handler(options) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
