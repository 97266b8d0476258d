"""The sample class grades end to end, as the README's first command runs it: every student gets, on every
exercise, the score and status examples/expected_scores.yml names, with exactly the grader tests it names failing.

The whole class takes minutes. While working on some exercises only, grade those:
`TICKETRAIL_SAMPLE_EXERCISES=01,02 pytest tests/test_grading_sample_class.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ticketrail import config
from ticketrail.grading.batch import Batch, Options
from ticketrail.grading.submissions import discover, identity

from helpers import KIT
from test_class_report import check_against_the_csvs, read_figures
from test_spreadsheets import by_header, open_as_a_spreadsheet_would

CLASS = KIT / "examples" / "submissions"
EXPECTED = yaml.safe_load((KIT / "examples" / "expected_scores.yml").read_text(encoding="utf-8"))["students"]
CONFIG = config.load(KIT / "grading.yml")
ALL = list(CONFIG.exercises)
CHOSEN = [eid.strip() for eid in os.environ.get("TICKETRAIL_SAMPLE_EXERCISES", "").split(",") if eid.strip()] or ALL
GRADINGS_CAP = 20  # each grading takes 20–60 s; the class must stay small enough for CI
CHECKOUT = "O'Brien, Liam"  # made a git repository before grading: a GitHub Classroom clone


def entries(student: str) -> dict[str, dict]:
    return {eid: want for eid, want in EXPECTED[student].items() if eid in ALL}


def submission_names() -> set[str]:
    found, _ = discover(CLASS)
    return {submission.student for submission in found}


def test_the_sample_class_covers_the_range_an_instructor_meets():
    assert submission_names() == set(EXPECTED), (
        "examples/expected_scores.yml and examples/submissions/ list different students: "
        f"{sorted(submission_names() ^ set(EXPECTED))}")
    everything = [s for s in EXPECTED if set(entries(s)) == set(ALL)]
    complete = [s for s in everything if all(w["status"] == "graded" and not w["fails"] for w in entries(s).values())]
    assert complete, (
        "No student hands in every exercise, correct: the class needs one who does. Those who hand in all six "
        "fail: " + "; ".join(f"{s} {eid}: {', '.join(w['fails'])}" for s in everything
                             for eid, w in entries(s).items() if w["fails"]))
    for eid in ALL[1:]:
        wrong = [s for s in EXPECTED if entries(s).get(eid, {}).get("fails") and s not in complete]
        assert wrong, f"No student hands in exercise {eid} with a classic misconception (see tests/wrong/{eid}/)."
    systems = Counter(identity(student).lms for student in EXPECTED)
    assert {"moodle", "canvas", "blackboard"} <= set(systems), f"LMS download names in the class: {systems}"
    kinds = {path.suffix.lower() or "folder" for path in CLASS.iterdir()}
    assert {".zip", "folder"} <= kinds
    assert (CLASS / CHECKOUT / "starter").is_dir(), "the class needs a repository checkout in the kit's layout"


def test_the_sample_class_is_small_enough_to_grade_in_ci(tmp_path):
    submissions, _ = discover(CLASS)
    plan = Batch(KIT, CONFIG, submissions, tmp_path, Options()).plan()
    assert plan.exercises == ALL, f"The class should reach every exercise; it reaches {plan.exercises}."
    assert len(plan.jobs) <= GRADINGS_CAP, (
        f"The sample class asks for {len(plan.jobs)} gradings, above the {GRADINGS_CAP} CI can afford "
        f"(20–60 s each): {sorted(job.label for job in plan.jobs)}")
    promised = {(s, eid) for s in EXPECTED for eid, want in entries(s).items() if want["status"] != "missing"}
    assert {(job.submission.student, job.spec.id) for job in plan.jobs} == promised, (
        "The gradings the class asks for differ from the entries of expected_scores.yml that are not 'missing'.")


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The class graded once, as a cluster would: three shards at once, two gradings at a time each (so each
    runs its tests one after the other: the three share this machine), shards 1 and 2 into one shared folder
    and shard 3 into its own (as copied back), then `ticketrail report` over both. Then the README's command
    over the same records, each one up to date, so that it regrades nothing and writes what a single run does."""
    work = tmp_path_factory.mktemp("sample-class")
    klass, out = work / "submissions", work / "out"
    shutil.copytree(CLASS, klass, symlinks=True)
    if shutil.which("git"):
        checkout = klass / CHECKOUT
        git = ["git", "-C", str(checkout), "-c", "user.name=Liam O'Brien", "-c", "user.email=liam@example.com"]
        subprocess.run(["git", "init", "-q", str(checkout)], check=True)
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "Exercises 01 and 06"], check=True)
    only = ["--exercise", ",".join(CHOSEN)] if CHOSEN != ALL else []
    folders = {1: work / "shared", 2: work / "shared", 3: work / "own"}
    shards = [subprocess.Popen([sys.executable, "-m", "ticketrail.cli", "grade", str(klass), "--out", str(folder),
                                "--shard", f"{index}/3", "-j", "2", *only],
                               cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for index, folder in folders.items()]
    logs = [shard.communicate(timeout=3000)[0] for shard in shards]
    for index, (shard, log) in enumerate(zip(shards, logs), 1):
        assert shard.returncode == 0, f"shard {index}/3:\n{log[-3000:]}"
    reported = subprocess.run([sys.executable, "-m", "ticketrail.cli", "report", str(work / "shared"),
                               str(work / "own"), "--out", str(work / "report")],
                              cwd=KIT, capture_output=True, text=True, timeout=300)
    assert reported.returncode == 0, reported.stdout[-3000:] + reported.stderr[-3000:]
    (out / "records").mkdir(parents=True)
    for folder in set(folders.values()):
        for record in (folder / "records").glob("*.json"):
            shutil.copy(record, out / "records" / record.name)
    done = subprocess.run([sys.executable, "-m", "ticketrail.cli", "grade", str(klass), "--out", str(out), *only],
                          cwd=KIT, capture_output=True, text=True, timeout=600)
    return out, done


def test_the_command_grades_the_class_and_prints_the_table(graded_class):
    out, done = graded_class
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert ": 0 to grade" in done.stderr, f"every record from the shards should be up to date:\n{done.stderr[-3000:]}"
    table = done.stdout
    for student in EXPECTED:
        assert student in table, f"{student} is missing from the summary table:\n{table}"
    assert "total" in table.splitlines()[0]


def test_the_report_over_the_shards_writes_what_a_single_run_writes(graded_class):
    out, _ = graded_class
    report = out.parent / "report"
    for name in ("grades.csv", "tests.csv"):
        single, merged = (out / name).read_text(encoding="utf-8-sig"), (report / name).read_text(encoding="utf-8-sig")
        assert merged == single, (
            f"{name} from `ticketrail report` over the shards:\n{merged[:3000]}\ndiffers from a single run's over "
            f"the same records:\n{single[:3000]}\nThe report step lost or changed something.")


CASES = [(student, eid) for student in sorted(EXPECTED) for eid in ALL if eid in CHOSEN]


@pytest.mark.parametrize("student, exercise_id", CASES)
def test_every_student_gets_the_expected_score_on_every_exercise(graded_class, student, exercise_id):
    out, _ = graded_class
    record = json.loads((out / "records" / f"{student}.json").read_text(encoding="utf-8"))
    want = entries(student).get(exercise_id, {"status": "missing", "score": 0, "fails": list(
        CONFIG.exercise(exercise_id).tests)})
    result = record["exercises"][exercise_id]["result"]
    failing = {t["name"] for t in result["tests"] if t["outcome"] != "passed"}
    report = "\n".join(f"  {t['outcome']:8} {t['name']}: {t['message'][:300]}" for t in result["tests"])
    where = f"{student} {exercise_id} (handed in: {EXPECTED[student].get('handed_in', '?')})"
    assert result["status"] == want["status"], f"{where}: status {result['status']}\n{result['note']}\n{report}"
    assert failing == set(want["fails"]), (
        f"{where}: expected to fail {sorted(want['fails'])}; these failed instead:\n{report}")
    assert result["score"] == want["score"], f"{where}: scored {result['score']}\n{report}"
    for words in want.get("note_says", []):
        assert words in result["note"], f"{where}: the note should say {words!r}; it says:\n{result['note']}"


def test_each_submission_keeps_its_problems_and_commit(graded_class):
    out, _ = graded_class
    for student, expected in EXPECTED.items():
        record = json.loads((out / "records" / f"{student}.json").read_text(encoding="utf-8"))
        assert len(record["problems"]) == expected.get("problems", 0), (student, record["problems"])
    checkout = json.loads((out / "records" / f"{CHECKOUT}.json").read_text(encoding="utf-8"))
    if shutil.which("git"):
        assert checkout["kind"] == "git" and len(checkout["commit"] or "") == 40, checkout


def test_grades_csv_opens_as_a_spreadsheet_with_names_ids_and_scores(graded_class):
    out, _ = graded_class
    rows = {row["student"]: row for row in by_header(open_as_a_spreadsheet_would((out / "grades.csv").read_bytes()))}
    assert set(rows) == set(EXPECTED)
    for student, expected in EXPECTED.items():
        row = rows[student]
        assert row["name"] == expected.get("name", student) and row["id"] == str(expected.get("id", "")), row
        for eid in CHOSEN:
            want = entries(student).get(eid, {"score": 0})
            assert float(row[eid]) == want["score"], f"{student} {eid}: grades.csv says {row[eid]}; want {want}"
    open_as_a_spreadsheet_would((out / "tests.csv").read_bytes())


def test_the_class_report_agrees_with_the_csvs(graded_class):
    out, _ = graded_class
    check_against_the_csvs(read_figures((out / "report.html").read_text(encoding="utf-8")), out, tuple(CHOSEN))


def test_nothing_in_a_zip_landed_outside_the_submission(graded_class):
    for name in ("ticketrail-climbed.txt", "ticketrail-absolute.txt"):
        assert not (Path("/tmp") / name).exists(), f"/tmp/{name} was written by a zip entry"
    assert not (KIT / "examples" / "outside_the_submission.py").exists()
    assert not (KIT / "outside_the_submission.py").exists()


def derive(out: Path) -> str:
    """expected_scores.yml with the status, score and failing tests of a grading in `out`, everything else kept:
    the way to update it after the graders or points change, once each new verdict has been read and agreed with.
    `python tests/test_grading_sample_class.py OUT` prints it; OUT is a `ticketrail grade` output folder."""
    source = (KIT / "examples" / "expected_scores.yml").read_text(encoding="utf-8")
    header = "".join(line for line in source.splitlines(keepends=True)[:next(
        index for index, line in enumerate(source.splitlines()) if line.startswith("students:"))])
    students = {}
    for student, expected in EXPECTED.items():
        record = json.loads((out / "records" / f"{student}.json").read_text(encoding="utf-8"))
        entry = {key: value for key, value in expected.items() if key not in ALL}
        for eid, item in sorted(record["exercises"].items()):
            result = item["result"]
            if result["status"] == "missing" and eid not in expected:
                continue
            fails = sorted(t["name"] for t in result["tests"] if t["outcome"] != "passed")
            if expected.get(eid, {}).get("fails") == [] and fails:
                # A correct hand-in that fails is the kit's fault (a regression, a flaky check): never the new truth.
                print(f"kept {student} {eid} at full marks; this grading failed it on {', '.join(fails)}",
                      file=sys.stderr)
                result, fails = {"score": CONFIG.exercise(eid).max_points, "status": "graded"}, []
            entry[eid] = {"score": result["score"], "status": result["status"], "fails": fails}
            entry[eid].update({key: value for key, value in expected.get(eid, {}).items() if key == "note_says"})
        students[student] = entry
    return header + "students:\n" + "\n".join(_entry(student, entry) for student, entry in students.items())


def _entry(student: str, entry: dict) -> str:
    scalar = lambda value: json.dumps(value, ensure_ascii=False) if isinstance(value, str) else (  # noqa: E731
        f"{value:g}" if isinstance(value, float) else json.dumps(value))
    lines = [f"  {scalar(student) if not student.replace('_', '').isalnum() else student}:"]
    for key, value in entry.items():
        if not isinstance(value, dict):
            lines.append(f"    {key if key not in ALL else scalar(key)}: {scalar(value)}")
            continue
        fields = [f"score: {scalar(value['score'])}", f"status: {value['status']}"]
        fails = value["fails"]
        if not fails:
            fields.append("fails: []")
        else:
            fields.append("fails: [" + ",\n             ".join(fails) + "]")
        if "note_says" in value:
            fields.append(f"note_says: [{', '.join(scalar(words) for words in value['note_says'])}]")
        lines.append(f"    {scalar(key)}:")
        lines += [f"      {item}" for item in fields]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(derive(Path(sys.argv[1])), end="")
