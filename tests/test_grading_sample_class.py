"""The sample class grades end to end, as the README's first command runs it: every student gets
the score examples/expected_scores.yml names, with exactly the grader tests it names failing."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import KIT

CLASS = KIT / "examples" / "submissions"
EXPECTED = yaml.safe_load((KIT / "examples" / "expected_scores.yml").read_text(encoding="utf-8"))["students"]


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("sample-class")
    done = subprocess.run([sys.executable, "-m", "ticketrail.cli", "grade", str(CLASS), "--out", str(out)],
                          cwd=KIT, capture_output=True, text=True, timeout=1500)
    return out, done


def test_the_sample_class_covers_the_range_an_instructor_meets():
    students = {path.stem if path.suffix == ".zip" else path.name for path in CLASS.iterdir()}
    assert students == set(EXPECTED), "examples/expected_scores.yml and examples/submissions/ list different students"
    assert len(students) >= 12
    kinds = {path.suffix or "folder" for path in CLASS.iterdir()}
    assert kinds == {".zip", "folder"}


def test_the_command_grades_the_class_and_prints_the_table(graded_class):
    out, done = graded_class
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout
    for student in EXPECTED:
        assert student in table, f"{student} is missing from the summary table:\n{table}"
    assert "total" in table.splitlines()[0]


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_every_student_gets_the_expected_score(graded_class, student):
    out, done = graded_class
    record = json.loads((out / "records" / f"{student}.json").read_text(encoding="utf-8"))
    expected = EXPECTED[student]
    for exercise_id, want in expected.items():
        if not isinstance(want, dict):
            continue
        result = record["exercises"][exercise_id]["result"]
        failing = {t["name"] for t in result["tests"] if t["outcome"] != "passed"}
        report = "\n".join(f"  {t['outcome']:8} {t['name']}: {t['message'][:300]}" for t in result["tests"])
        assert result["status"] == want["status"], f"{student} {exercise_id}: {result['status']}\n{report}"
        assert failing == set(want["fails"]), f"{student} {exercise_id}: these failed:\n{report}"
        assert result["score"] == want["score"], f"{student} {exercise_id}: {result['score']}\n{report}"
    assert len(record["problems"]) == expected.get("problems", 0), record["problems"]


def test_the_wide_csv_has_one_correctly_quoted_row_per_student(graded_class):
    out, _ = graded_class
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(EXPECTED)
    for student, expected in EXPECTED.items():
        assert float(rows[student]["01"]) == expected["01"]["score"], rows[student]


def test_nothing_in_a_zip_landed_outside_the_submission(graded_class):
    for name in ("ticketrail-climbed.txt", "ticketrail-absolute.txt"):
        assert not (Path("/tmp") / name).exists(), f"/tmp/{name} was written by a zip entry"
    assert not (KIT / "examples" / "outside_the_submission.py").exists()
    assert not (KIT / "outside_the_submission.py").exists()
