"""`ticketrail feedback RESULTS`: each student's feedback as an HTML page, from a `ticketrail grade` folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ticketrail.commands._common import fail
from ticketrail.grading.feedback.html import write_class_feedback_html
from ticketrail.kit import Kit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("feedback", help="write feedback/<student>.html from a graded results folder")
    parser.add_argument("results", type=Path, nargs="?", default=Path("results"),
                        help="the folder `ticketrail grade --out` wrote (default: results)")
    parser.set_defaults(handler=run)


def run(options: argparse.Namespace) -> int:
    if not (options.results / "records").is_dir():
        fail(f"{options.results} holds no graded records: run `ticketrail grade SUBMISSIONS --out {options.results}`.")
    written = write_class_feedback_html(options.results, Kit.find().config)
    print(f"Wrote {len(written)} feedback page{'s' if len(written) != 1 else ''} to {options.results / 'feedback'}/ "
          "(one .html per student, beside the .md).")
    return 0
