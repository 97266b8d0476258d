"""A correct solution written another way earns full marks: the graders hold the contract, not the reference's
way of meeting it. Each tests/right/NN/<name>/ holds the files it writes differently (the rest comes from
reference/NN, as a student's files are taken over the kit's copy) and a README.md saying what differs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import KIT, explain
from ticketrail import config

RIGHT = KIT / "tests" / "right"
SPECS = config.load(KIT / "grading.yml").exercises
ALTERNATIVES = sorted(folder for folder in RIGHT.glob("[0-9][0-9]/*") if folder.is_dir())


@pytest.mark.parametrize("folder", ALTERNATIVES, ids=lambda folder: f"{folder.parent.name}-{folder.name}")
def test_each_correct_alternative_says_what_differs_and_holds_only_student_files(folder):
    spec = SPECS[folder.parent.name]
    readme = folder / "README.md"
    assert readme.is_file() and readme.read_text(encoding="utf-8").strip(), f"{folder} needs a README.md saying what differs"
    extra = sorted(p.name for p in folder.iterdir() if p.name != "README.md" and p.name not in spec.student_files)
    assert not extra, f"{folder} holds files a student does not hand in for {spec.id}: {extra}"


@pytest.mark.parametrize("folder", ALTERNATIVES, ids=lambda folder: f"{folder.parent.name}-{folder.name}")
def test_each_correct_alternative_earns_full_marks(grade, folder, tmp_path):
    eid = folder.parent.name
    laid = tmp_path / eid
    shutil.copytree(KIT / "reference" / eid, laid, ignore=shutil.ignore_patterns("__pycache__"))
    for path in folder.glob("*.py"):
        shutil.copy(path, laid / path.name)
    result = grade(eid, laid)
    assert result.score == result.max_score, (
        f"{folder.relative_to(KIT)} ({(folder / 'README.md').read_text(encoding='utf-8').strip()}) is correct, "
        f"but lost points: a grader asks more than the README's contract.\n{explain(result)}")
