"""The suite's file order (conftest.py): it names the suite's files, and xdist keeps it."""

from __future__ import annotations

from conftest import LONGEST_FIRST
from helpers import KIT


def test_every_file_the_suite_starts_first_exists():
    gone = sorted(name for name in LONGEST_FIRST if not (KIT / "tests" / name).is_file())
    assert not gone, (f"conftest.LONGEST_FIRST names files the suite no longer has: {gone}; a renamed long file "
                      "would start last and end the run alone")


def test_xdist_hands_out_the_files_in_that_order(pytestconfig):
    assert getattr(pytestconfig.option, "loadscopereorder", False) is False, (
        "pytest-xdist would sort the files by their number of tests and start the long ones late: "
        "conftest.pytest_configure turns its reordering off")
