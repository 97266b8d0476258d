"""The suite's file order (conftest.py): the files it starts first are still the suite's files."""

from __future__ import annotations

from conftest import LONGEST_FIRST
from helpers import KIT


def test_every_file_the_suite_starts_first_exists():
    gone = sorted(name for name in LONGEST_FIRST if not (KIT / "tests" / name).is_file())
    assert not gone, (f"conftest.LONGEST_FIRST names files the suite no longer has: {gone}; a renamed long file "
                      "would start last and end the run alone")
