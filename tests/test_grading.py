"""`ticketrail grade` on a tiny kit whose graders take seconds: isolation, timeouts, harness failures,
resuming, interruption, and every export (Gradescope, CSV, feedback, nbgrader)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from ticketrail import cli
from ticketrail import config as grading_config
from ticketrail import sandbox
from ticketrail.grading import batch as batch_module
from ticketrail.grading.progress import Progress
from ticketrail.grading.versions import graders_version
from ticketrail.waiting import wait_until

GRADERS_01 = '''
"""A tiny kit's graders: each calls the student's function in a child process."""


def test_the_answer_is_42(call_student_function):
    result = call_student_function("app", "answer")
    assert result.ok, f"Called answer(); it raised {result.error}: {result.message}"
    assert result.value == 42, f"Called answer(). Returned {result.value!r}, but the tests expected 42."


def test_the_kitchen_takes_its_time(call_student_function):
    result = call_student_function("app", "cook")
    assert result.ok, f"Called cook(); it raised {result.error}: {result.message}"


def test_the_shop_has_its_name(call_student_function):
    result = call_student_function("app", "shop_name")
    assert result.ok and result.value == "Pizza Rail", "SECRET-HIDDEN-DETAIL: the name is Pizza Rail"
'''

GRADERS_02 = '''
import pytest


@pytest.fixture
def oven():
    raise RuntimeError("the oven (a service the harness starts) did not start")


def test_the_kitchen_opens(oven):
    pass
'''

STARTER_01 = '''
import time

COOK_SECONDS = 0


def answer():
    raise NotImplementedError("TODO")


def cook():
    time.sleep(COOK_SECONDS)


def shop_name():
    return "?"
'''

GRADING_YML = '''
exercises:
  "01":
    title: Say the answer
    student_files: [app.py]
    timeouts: {{test: {test}, exercise: {exercise}}}
    tests:
      test_the_answer_is_42: {{points: 2}}
      test_the_kitchen_takes_its_time: {{points: 1}}
      test_the_shop_has_its_name: {{points: 1, visibility: hidden}}
  "02":
    title: Open the kitchen
    student_files: [kitchen.py]
    tests:
      test_the_kitchen_opens: {{points: 1}}
'''


def make_kit(root: Path, test_timeout: float = 30, exercise_timeout: float = 120) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (root / "grading.yml").write_text(GRADING_YML.format(test=test_timeout, exercise=exercise_timeout))
    for path, text in {"graders/01/test_answer.py": GRADERS_01, "graders/02/test_kitchen.py": GRADERS_02,
                       "starter/01/app.py": STARTER_01, "starter/02/kitchen.py": "OPEN = False\n"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))
    return root


def student_app(answer: int = 42, cook: float = 0.0, shop: str = "Pizza Rail") -> str:
    return (f"import time\n\n\ndef answer():\n    return {answer}\n\n\ndef cook():\n    time.sleep({cook})\n\n\n"
            f"def shop_name():\n    return {shop!r}\n")


def add_student(class_dir: Path, name: str, layout: str = "01/app.py", **app) -> Path:
    target = class_dir / name / layout
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(student_app(**app))
    return target


@pytest.fixture
def kit(tmp_path, monkeypatch) -> Path:
    root = make_kit(tmp_path / "kit")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def klass(tmp_path) -> Path:
    folder = tmp_path / "class"
    add_student(folder, "alice")
    add_student(folder, "bob", answer=41)
    add_student(folder, "carol", shop="Pizza Pail")
    return folder


def grade(class_dir: Path, out: Path, *args: str, capsys=None) -> tuple[int, str, str]:
    code = cli.main(["grade", str(class_dir), "--out", str(out), *args])
    captured = capsys.readouterr() if capsys else None
    return code, captured.out if captured else "", captured.err if captured else ""


def records(out: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in (out / "records").glob("*.json")}


def grades(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


# --- a class graded, and what the instructor gets -------------------------------------------------


def test_the_class_is_graded_and_every_export_is_written(kit, klass, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = grade(klass, out, capsys=capsys)
    assert code == 0, stderr
    assert {s: r["01"] for s, r in grades(out).items()} == {"alice": "4", "bob": "2", "carol": "3"}
    assert sorted(p.name for p in (out / "results").iterdir()) == ["alice.json", "bob.json", "carol.json"]
    assert sorted(p.name for p in (out / "feedback").iterdir()) == [
        f"{student}.{kind}" for student in ("alice", "bob", "carol") for kind in ("html", "md")
    ]
    with open(out / "tests.csv", newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 and {r["student"] for r in rows} == {"alice", "bob", "carol"}
    assert "alice" in stdout and "4/4" in stdout and "status" in stdout.splitlines()[0]
    assert "3 to grade" in stderr and "[3/3]" in stderr, stderr


# Gradescope's documented results.json fields (gradescope-autograders.readthedocs.io, "Autograder Specifications")
TOP_LEVEL = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
             "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
PER_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
            "visibility", "extra_data"}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def validate_gradescope(data: dict) -> None:
    assert set(data) <= TOP_LEVEL, set(data) - TOP_LEVEL
    assert "score" in data or all("score" in t for t in data["tests"]), "a score is required somewhere"
    assert isinstance(data["score"], (int, float)) and isinstance(data["execution_time"], int)
    assert data.get("output_format", "text") in FORMATS
    for test in data["tests"]:
        assert set(test) <= PER_TEST, set(test) - PER_TEST
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in VISIBILITIES
        assert isinstance(test["max_score"], (int, float)) and isinstance(test["name"], str)
        assert isinstance(test.get("score", 0), (int, float)) and isinstance(test.get("output", ""), str)
        assert test.get("output_format", "text") in FORMATS and isinstance(test.get("tags", []), list)


def test_the_gradescope_results_hold_only_documented_fields_and_no_hidden_text(kit, klass, tmp_path, capsys):
    out = tmp_path / "out"
    grade(klass, out, capsys=capsys)
    for path in (out / "results").iterdir():
        data = json.loads(path.read_text())
        validate_gradescope(data)
        assert "SECRET-HIDDEN-DETAIL" not in path.read_text()
    carol = json.loads((out / "results" / "carol.json").read_text())
    assert carol["score"] == 3.0
    hidden = next(t for t in carol["tests"] if t["visibility"] == "hidden")
    assert hidden["status"] == "failed" and "output" not in hidden
    bob = json.loads((out / "results" / "bob.json").read_text())
    answer = next(t for t in bob["tests"] if "answer is 42" in t["name"])
    assert answer["score"] == 0 and "Returned 41, but the tests expected 42" in answer["output"]
    # the instructor still sees why a hidden test failed
    assert "SECRET-HIDDEN-DETAIL" in (out / "tests.csv").read_text()


def test_feedback_shows_visible_tests_in_full_and_hidden_ones_by_name_and_outcome(kit, klass, tmp_path, capsys):
    out = tmp_path / "out"
    grade(klass, out, capsys=capsys)
    bob = (out / "feedback" / "bob.md").read_text()
    assert "Returned 41, but the tests expected 42" in bob and "2 / 4" in bob
    assert "AssertionError" not in bob and "\nassert " not in bob, "pytest's wording is not for learners"
    carol = (out / "feedback" / "carol.md").read_text()
    assert "| failed | The shop has its name *(hidden)* | 0 / 1 |" in carol
    assert "SECRET-HIDDEN-DETAIL" not in carol and "Pizza Rail" not in carol
    carol_html = (out / "feedback" / "carol.html").read_text()
    assert "The shop has its name" in carol_html
    assert "SECRET-HIDDEN-DETAIL" not in carol_html and "Pizza Rail" not in carol_html


def test_the_wide_csv_quotes_names_with_commas_and_quotes(kit, tmp_path, capsys):
    folder = tmp_path / "class"
    names = ["O'Brien, Liam", 'Zoë "Z" Ng', "plain"]
    for name in names:
        add_student(folder, name)
    out = tmp_path / "out"
    grade(folder, out, capsys=capsys)
    assert set(grades(out)) == set(names)
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "student" and rows[0][-4:] == ["01", "total", "max", "status"], rows[0]
    assert (out / "grades.csv").read_text(encoding="utf-8-sig").count('"O\'Brien, Liam"') >= 1, \
        "a name with a comma is quoted"
    assert {row[0]: row[-4:] for row in rows[1:]}["O'Brien, Liam"] == ["4", "4", "4", "ok"]


def test_a_missing_file_scores_0_with_a_clear_message_and_no_grading_run(kit, tmp_path, capsys):
    folder = tmp_path / "class"
    add_student(folder, "dana", layout="01/App.py")
    out = tmp_path / "out"
    code, _, stderr = grade(folder, out, "-e", "01", capsys=capsys)
    assert code == 0
    record = records(out)["dana"]["exercises"]["01"]
    assert record["result"]["status"] == "missing" and record["result"]["score"] == 0
    assert grades(out)["dana"]["01"] == "0" and grades(out)["dana"]["status"] == "01 missing"
    feedback = (out / "feedback" / "dana.md").read_text()
    assert "app.py is missing" in feedback and "App.py" in feedback
    assert "0 to grade" in stderr and "1 settled" in stderr


def _open_class(place: Path) -> tuple[Path, Path, Path]:
    os.chmod(place, 0o755)
    folder, out = place / "class", place / "out"
    work = add_student(folder, "dana", layout="01/App.py")
    out.mkdir()
    for path in (folder, out, *folder.rglob("*")):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return folder, out, work


as_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root grades with the sandbox, and only root can seal")


@as_root
def test_grading_as_root_in_the_jail_leaves_the_instructors_folders_as_they_were(kit, capsys):
    if sandbox.jail_refused() is not None:
        pytest.skip(f"this machine refuses the jail: {sandbox.jail_refused()}")
    # Under /tmp, not tmp_path: pytest's own folders are closed to others already.
    open_place = Path(tempfile.mkdtemp(prefix="ticketrail-open-class-"))
    try:
        folder, out, work = _open_class(open_place)
        code, _, stderr = grade(folder, out, "-e", "01", capsys=capsys)
        assert code == 0 and (out / "records" / "dana.json").exists(), stderr
        assert oct(folder.stat().st_mode & 0o777) == oct(out.stat().st_mode & 0o777) == "0o755", (
            "the jail shows a student's programs none of the class's folders: their permissions are the instructor's")
        assert "sealed" not in stderr, stderr
    finally:
        shutil.rmtree(open_place)


@as_root
def test_grading_as_root_where_the_jail_is_refused_closes_the_class_work_and_the_results(kit, capsys, monkeypatch):
    monkeypatch.setattr(sandbox, "jail_refused", lambda: "namespaces refused in this test")
    open_place = Path(tempfile.mkdtemp(prefix="ticketrail-open-class-"))
    try:
        folder, out, work = _open_class(open_place)
        nobody = 65534
        assert sandbox.readable_by(nobody, nobody, [work]) == [work], "the class must start open, or this proves nothing"
        code, _, stderr = grade(folder, out, "-e", "01", "--student-user", "auto", capsys=capsys)
        assert code == 0, stderr
        record = out / "records" / "dana.json"
        assert record.exists(), stderr
        assert sandbox.readable_by(nobody, nobody, [work, record, out / "grades.csv"]) == [], (
            "Without the jail, another user (as a student's programs are) should not be able to read a classmate's "
            f"work or the results; stat modes: {oct(folder.stat().st_mode)} {oct(out.stat().st_mode)}")
        assert f"sealed {folder}" in stderr and f"sealed {out}" in stderr, stderr
    finally:
        shutil.rmtree(open_place)


@as_root
def test_an_unknown_exercise_is_refused_before_anything_is_touched(kit, capsys, monkeypatch):
    monkeypatch.setattr(sandbox, "jail_refused", lambda: "namespaces refused in this test")
    open_place = Path(tempfile.mkdtemp(prefix="ticketrail-open-class-"))
    try:
        folder, out, _ = _open_class(open_place)
        code, _, stderr = grade(folder, out, "-e", "99", capsys=capsys)
        assert code == 2 and "99" in stderr, stderr
        assert oct(folder.stat().st_mode & 0o777) == oct(out.stat().st_mode & 0o777) == "0o755", stderr
    finally:
        shutil.rmtree(open_place)


@as_root
def test_grading_as_root_with_student_code_as_root_warns_loudly(kit, tmp_path, capsys):
    folder = tmp_path / "class"
    add_student(folder, "erin", layout="01/app.py")
    code, _, stderr = grade(folder, tmp_path / "out", "-e", "01", "--student-user", "none", capsys=capsys)
    assert "WARNING: --student-user none as root" in stderr, stderr


def test_the_default_exercises_are_the_ones_the_class_worked_on(kit, klass, tmp_path, capsys):
    (klass / "alice" / "02").mkdir()
    shutil.copy(kit / "starter" / "02" / "kitchen.py", klass / "alice" / "02" / "kitchen.py")  # untouched
    out = tmp_path / "out"
    grade(klass, out, capsys=capsys)
    assert set(records(out)["alice"]["exercises"]) == {"01"}


def test_files_at_the_top_of_a_submission_are_taken_when_one_exercise_is_graded(kit, tmp_path, capsys):
    folder = tmp_path / "class"
    add_student(folder, "erin", layout="app.py")
    out = tmp_path / "out"
    grade(folder, out, "-e", "01", capsys=capsys)
    assert grades(out)["erin"]["01"] == "4"


def test_a_zip_and_a_git_checkout_are_graded_like_folders(kit, tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    with zipfile.ZipFile(folder / "frank_4411.zip", "w") as archive:
        archive.writestr("frank/01/app.py", student_app())
        archive.writestr("../../escaped.py", "x")
    checkout = add_student(folder, "gina", layout="starter/01/app.py").parents[2]
    (checkout / ".git" / "refs" / "heads").mkdir(parents=True)
    (checkout / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (checkout / ".git" / "refs" / "heads" / "main").write_text("0123456789abcdef0123456789abcdef01234567\n")
    out = tmp_path / "out"
    grade(folder, out, capsys=capsys)
    assert {s: r["01"] for s, r in grades(out).items()} == {"frank_4411": "4", "gina": "4"}
    frank = records(out)["frank_4411"]
    assert frank["kind"] == "zip" and "climbs out" in frank["problems"][0]
    assert "climbs out" in (out / "feedback" / "frank_4411.md").read_text()
    gina = json.loads((out / "results" / "gina.json").read_text())
    assert gina["extra_data"]["commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert not (tmp_path / "escaped.py").exists()


def test_a_rejected_zip_is_recorded_as_such_and_the_class_goes_on(kit, klass, tmp_path, capsys):
    (klass / "harry.zip").write_bytes(b"PK\x03\x04 not really a zip")
    out = tmp_path / "out"
    code, stdout, _ = grade(klass, out, capsys=capsys)
    assert code == 0
    assert records(out)["harry"]["exercises"]["01"]["result"]["status"] == "rejected"
    assert grades(out)["harry"]["01"] == "" and grades(out)["harry"]["total"] == ""
    assert grades(out)["alice"]["01"] == "4"


# --- isolation: the student's files only, timeouts, harness failures ------------------------------


def test_only_the_listed_student_files_are_taken_the_rest_comes_from_the_kit(kit, tmp_path, capsys):
    folder = tmp_path / "class"
    add_student(folder, "ivy")
    (folder / "ivy" / "01" / "conftest.py").write_text("raise SystemExit('a student conftest ran')\n")
    (folder / "ivy" / "01" / "time.py").write_text("raise SystemExit('a student module shadowed the stdlib')\n")
    out = tmp_path / "out"
    grade(folder, out, capsys=capsys)
    assert grades(out)["ivy"]["01"] == "4"
    assert records(out)["ivy"]["exercises"]["01"]["files"].keys() == {"app.py"}


def test_a_slow_test_fails_at_the_test_timeout_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(make_kit(tmp_path / "kit", test_timeout=10))  # room for the quick tests on a loaded machine
    folder = tmp_path / "class"
    add_student(folder, "jack", cook=60)
    out = tmp_path / "out"
    grade(folder, out, "-e", "01", capsys=capsys)
    result = records(out)["jack"]["exercises"]["01"]["result"]
    outcomes = {t["name"]: t["outcome"] for t in result["tests"]}
    assert result["status"] == "graded" and result["score"] == 3, outcomes
    assert outcomes["test_the_kitchen_takes_its_time"] == "failed"


def test_the_exercise_timeout_keeps_the_points_of_the_tests_that_finished(tmp_path, monkeypatch, capsys):
    # 30 s: time for the first test on a loaded machine (10 s was not, with four test files at a time on two
    # cores), and far from kate's 300 s cook.
    monkeypatch.chdir(make_kit(tmp_path / "kit", test_timeout=120, exercise_timeout=30))
    folder = tmp_path / "class"
    add_student(folder, "kate", cook=300)
    add_student(folder, "liam")
    out = tmp_path / "out"
    started = time.monotonic()
    grade(folder, out, "-e", "01", capsys=capsys)
    assert time.monotonic() - started < 150, "the batch waited for kate's cook instead of ending her run at 30 s"
    result = records(out)["kate"]["exercises"]["01"]["result"]
    outcomes = {t["name"]: t["outcome"] for t in result["tests"]}
    assert result["status"] == "timeout", outcomes
    assert outcomes["test_the_answer_is_42"] == "passed" and result["score"] == 2
    assert outcomes["test_the_shop_has_its_name"] == "not_run"
    assert grades(out)["kate"]["01"] == "2" and grades(out)["kate"]["status"] == "01 timeout"
    assert grades(out)["liam"]["01"] == "4", records(out)["liam"]


def test_a_harness_failure_is_ungradable_not_0_and_never_stops_the_batch(kit, klass, tmp_path, capsys):
    for student in ("alice", "bob"):
        (klass / student / "02").mkdir()
        (klass / student / "02" / "kitchen.py").write_text("OPEN = True\n")
    out = tmp_path / "out"
    code, stdout, _ = grade(klass, out, capsys=capsys)
    assert code == 0
    row = grades(out)["alice"]
    assert (row["01"], row["02"], row["total"], row["status"]) == ("4", "", "", "02 ungradable")
    note = records(out)["alice"]["exercises"]["02"]["result"]["note"]
    assert "the oven" in note
    assert grades(out)["carol"]["02"] == "0" and grades(out)["carol"]["status"] == "02 missing"
    results = json.loads((out / "results" / "alice.json").read_text())
    validate_gradescope(results)
    assert results["score"] == 4.0


def test_a_crash_of_the_kit_itself_is_recorded_for_that_submission_only(kit, klass, tmp_path, capsys, monkeypatch):
    real = batch_module.runner.run_exercise

    def crash_on_bob(kit_root, config, exercise_id, impl, **kwargs):
        if "return 41" in (Path(impl) / "app.py").read_text():
            raise OSError("disk full")
        return real(kit_root, config, exercise_id, impl, **kwargs)

    monkeypatch.setattr(batch_module.runner, "run_exercise", crash_on_bob)
    out = tmp_path / "out"
    code, _, _ = grade(klass, out, capsys=capsys)
    assert code == 0
    bob = records(out)["bob"]["exercises"]["01"]["result"]
    assert bob["status"] == "ungradable" and "disk full" in bob["note"]
    assert grades(out)["bob"]["01"] == "" and grades(out)["alice"]["01"] == "4"
    monkeypatch.setattr(batch_module.runner, "run_exercise", real)
    code, _, stderr = grade(klass, out, "--only-failed", capsys=capsys)
    assert "1 to grade" in stderr, stderr
    assert grades(out)["bob"]["01"] == "2"


# --- resuming ---------------------------------------------------------------------------------------


@contextmanager
def harness_unchanged(kit: Path):
    """A result is up to date only while the harness is unchanged: when src/ticketrail is edited while a
    test runs (the kit's authors at work), everything is rightly regraded and the test proves nothing."""
    version = lambda: graders_version(kit, grading_config.load(kit / "grading.yml").exercise("01"))  # noqa: E731
    before = version()
    try:
        yield
    except AssertionError:
        if version() != before:
            pytest.skip("the harness (src/ticketrail) changed during the test, so everything was regraded")
        raise


def graded_at(out: Path) -> dict[str, str]:
    return {student: r["exercises"]["01"]["graded_at"] + r["exercises"]["01"]["key"]
            for student, r in records(out).items() if "01" in r["exercises"]}


def test_a_rerun_grades_only_what_changed(kit, klass, tmp_path, capsys):
    with harness_unchanged(kit):
        rerun_grades_only_what_changed(klass, tmp_path / "out", capsys)


def rerun_grades_only_what_changed(klass: Path, out: Path, capsys) -> None:
    grade(klass, out, capsys=capsys)
    before = graded_at(out)
    code, _, stderr = grade(klass, out, capsys=capsys)
    assert "0 to grade" in stderr and "3 up to date" in stderr, stderr
    assert graded_at(out) == before
    (klass / "bob" / "01" / "app.py").write_text(student_app(answer=42))
    code, _, stderr = grade(klass, out, capsys=capsys)
    assert "1 to grade" in stderr and "[1/1] bob 01" in stderr, stderr
    assert grades(out)["bob"]["01"] == "4"


def test_force_regrades_everything_and_only_failed_regrades_nothing_that_finished(kit, klass, tmp_path, capsys):
    out = tmp_path / "out"
    grade(klass, out, capsys=capsys)
    _, _, stderr = grade(klass, out, "--force", capsys=capsys)
    assert "3 to grade" in stderr, stderr
    _, _, stderr = grade(klass, out, "--only-failed", capsys=capsys)
    assert "0 to grade" in stderr, stderr
    _, _, stderr = grade(klass, out, "--force", "-s", "bob", capsys=capsys)
    assert "1 to grade" in stderr, stderr


def test_changing_points_or_visibility_needs_no_regrading(kit, klass, tmp_path, capsys):
    out = tmp_path / "out"
    with harness_unchanged(kit):
        grade(klass, out, capsys=capsys)
        text = (kit / "grading.yml").read_text().replace("test_the_answer_is_42: {points: 2}",
                                                         "test_the_answer_is_42: {points: 5}")
        (kit / "grading.yml").write_text(text.replace("{points: 1, visibility: hidden}", "{points: 1}"))
        _, _, stderr = grade(klass, out, capsys=capsys)
        assert "0 to grade" in stderr, stderr
        assert grades(out)["alice"]["01"] == "7" and grades(out)["bob"]["01"] == "2", records(out)
        assert "SECRET-HIDDEN-DETAIL" in (out / "feedback" / "carol.md").read_text()


def test_an_output_folder_inside_the_submissions_is_not_a_student(kit, klass, capsys):
    grade(klass, klass / "results", capsys=capsys)
    grade(klass, klass / "results", capsys=capsys)
    assert set(grades(klass / "results")) == {"alice", "bob", "carol"}


def test_students_can_be_picked_by_pattern(kit, klass, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = grade(klass, out, "-s", "a*,c*", capsys=capsys)
    assert set(records(out)) == {"alice", "carol"}
    assert grades(out)["bob"]["status"] == "01 not graded"
    assert grade(klass, out, "-s", "zed", capsys=capsys)[0] == 2


def test_a_students_name_reaches_the_terminal_with_its_control_characters_made_visible():
    # A folder may be named with ESC, BEL or a newline: the instructor's terminal shows them, never obeys them.
    log = io.StringIO()
    progress = Progress(1, log)
    name = "mallory\x1b[2J\x07\nX 01"
    progress.begin(name)
    progress.end(name, f"{name}: 4/4 in 2s")
    assert "\x1b" not in log.getvalue() and "\x07" not in log.getvalue(), repr(log.getvalue())
    assert "mallory\u241b[2J\u2407\u2424X 01: 4/4" in log.getvalue() and log.getvalue().count("\n") == 1


def test_latency_measurements_on_one_machine_take_turns(tmp_path):
    # Two gradings measuring at once would each count the other's requests as their own slowness.
    script = textwrap.dedent("""
        import json, sys, time
        import httpx
        from ticketrail.latency import measure

        sent = []

        def send(key):
            sent.append(time.time())
            time.sleep(0.01)
            return httpx.Response(200)

        measure(send, lambda: 1, budget=1.0, requests=20, rounds=1)
        print(json.dumps([sent[0], sent[-1]]))
    """)
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
                 for _ in range(3)]
    spans = sorted(json.loads(process.communicate(timeout=120)[0]) for process in processes)
    overlapping = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
    assert not overlapping, f"three processes measured at once; first and last request of each: {spans}"
    from ticketrail.latency import lock_folder
    assert stat.S_IMODE(lock_folder().stat().st_mode) == 0o700, "no other user may open the lock and hold it"


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_in_a_log():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = Progress(2, screen)
    progress.begin("alice 01")
    progress.begin("bob 01")
    assert "0/2  ETA --  grading: alice 01, bob 01" in screen.getvalue()
    progress.end("alice 01", "alice 01: 4/4 in 2s")
    progress.close()
    assert "\ralice 01: 4/4 in 2s\n" in screen.getvalue().replace(" " * 20, "")
    assert "[##########..........] 1/2  ETA" in screen.getvalue() and "grading: bob 01" in screen.getvalue()

    log = io.StringIO()
    progress = Progress(2, log)
    progress.begin("alice 01")
    progress.end("alice 01", "alice 01: 4/4 in 2s")
    assert log.getvalue().startswith("[1/2] alice 01: 4/4 in 2s  (ETA ") and "\r" not in log.getvalue()


# --- interrupting a batch ---------------------------------------------------------------------------


def grading_processes(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in command:
                found.append(int(entry))
    return found


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_batch_killed_half_way_resumes_without_grading_anyone_twice_or_losing_a_result(tmp_path, how):
    kit = make_kit(tmp_path / "kit")
    with harness_unchanged(kit):
        kill_half_way_and_resume(kit, tmp_path, how)


def kill_half_way_and_resume(kit: Path, tmp_path: Path, how: signal.Signals) -> None:
    folder = tmp_path / "class"
    students = [f"student{n:02d}" for n in range(8)]
    for student in students:
        add_student(folder, student, cook=1.5)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "ticketrail.cli", "grade", str(folder), "--out", str(out), "--jobs", "2"]
    first = subprocess.Popen(argv, cwd=kit, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: len(graded_at(out)) >= 3, timeout=120,
               describe=lambda: f"fewer than 3 students were graded: {sorted(graded_at(out))}")
    first.send_signal(how)
    stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == (130 if how == signal.SIGINT else -signal.SIGKILL), stderr
    wait_until(lambda: not grading_processes(str(kit)), timeout=30,
               describe=lambda: f"grading processes outlived the batch: {grading_processes(str(kit))}")
    kept = graded_at(out)
    assert 3 <= len(kept) < len(students), kept
    if how == signal.SIGINT:
        assert "Run the same command again" in stderr

    second = subprocess.run(argv, cwd=kit, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    regraded = {line.split("] ", 1)[1].split(" 01:")[0] for line in second.stderr.splitlines() if "] student" in line}
    assert regraded == set(students) - set(kept), second.stderr
    assert f"{len(students) - len(kept)} to grade" in second.stderr
    after = graded_at(out)
    assert {s: after[s] for s in kept} == kept, "a result graded before the interruption was graded again"
    assert all(row["01"] == "4" for row in grades(out).values())


# --- optional extras and privileges -----------------------------------------------------------------


def test_the_nbgrader_gradebook_round_trips_through_nbgrader_export(kit, klass, tmp_path, capsys):
    pytest.importorskip("nbgrader.api", reason="nbgrader is an optional extra: pip install 'ticketrail[nbgrader]'")
    for student in ("alice", "bob"):
        (klass / student / "02").mkdir()
        (klass / student / "02" / "kitchen.py").write_text("OPEN = True\n")
    out = tmp_path / "out"
    gradebook = tmp_path / "gradebook.db"
    code, _, stderr = grade(klass, out, "--nbgrader", str(gradebook), capsys=capsys)
    assert code == 0, stderr
    nbgrader = Path(sys.executable).parent / "nbgrader"
    exported = tmp_path / "nbgrader.csv"
    subprocess.run([str(nbgrader), "export", "--db", f"sqlite:///{gradebook}", "--to", str(exported)],
                   cwd=tmp_path, check=True, capture_output=True)
    with open(exported, newline="") as handle:
        rows = {(row["assignment"], row["student_id"]): row for row in csv.DictReader(handle)}
    ours = grades(out)
    for student in ("alice", "bob", "carol"):
        assert float(rows[("ex01", student)]["score"]) == float(ours[student]["01"])
        assert float(rows[("ex01", student)]["max_score"]) == 4.0
    # carol handed in nothing for 02: a 0; alice's 02 was ungradable: in the gradebook, flagged for a person
    assert float(rows[("ex02", "carol")]["score"]) == 0.0
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{gradebook}") as book:
        grade_row = book.find_grade("test_the_kitchen_opens", "graders", "ex02", "alice")
        assert grade_row.needs_manual_grade and grade_row.auto_score is None
    # a rerun updates the same gradebook instead of failing on existing rows
    assert grade(klass, out, "--nbgrader", str(gradebook), capsys=capsys)[0] == 0


def test_without_nbgrader_the_option_says_how_to_install_it(kit, klass, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "nbgrader", None)
    monkeypatch.setitem(sys.modules, "nbgrader.api", None)
    code, _, stderr = grade(klass, tmp_path / "out", "--nbgrader", str(tmp_path / "gb.db"), capsys=capsys)
    assert code == 2 and "ticketrail[nbgrader]" in stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="running student programs as another user needs root")
def test_student_programs_can_run_in_the_sandbox_as_a_uid_of_their_own(kit, klass, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, stderr = grade(klass, out, "-s", "alice", "--student-user", "auto", capsys=capsys)
    assert code == 0, stderr
    assert grades(out)["alice"]["01"] == "4", records(out)["alice"]["exercises"]["01"]["result"]


def test_a_uid_needs_root(kit, klass, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, _, stderr = grade(klass, tmp_path / "out", "--student-user", "2000:2000", capsys=capsys)
    assert code == 2 and "needs root" in stderr
