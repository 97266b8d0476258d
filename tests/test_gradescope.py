"""`ticketrail gradescope`: the bundle Gradescope runs, tried against a fake /autograder tree; and the
feedback a student reads in a browser."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ticketrail import config
from ticketrail.commands import gradescope
from ticketrail.grading.classview import ClassView
from ticketrail.grading.feedback.markdown import feedback_markdown
from ticketrail.grading.feedback.model import build
from ticketrail.grading.records import ExerciseRecord, Record, RecordStore

from helpers import KIT

VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


EXERCISES = list(config.load(KIT / "grading.yml").exercises)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> Path:
    """`ticketrail gradescope autograders/`, as the docs tell an instructor to run it."""
    out = tmp_path_factory.mktemp("gradescope") / "autograders"
    made = subprocess.run([sys.executable, "-m", "ticketrail.cli", "gradescope", str(out)], cwd=KIT,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    return out


@pytest.fixture(scope="module")
def bundle(bundles) -> Path:
    return bundles / "ex01-autograder.zip"


def fake_autograder(bundle: Path, folder: Path, submission: dict[str, Path]) -> Path:
    """/autograder as Gradescope lays it out: source/ (the unpacked zip), submission/, results/."""
    root = folder / "autograder"
    with zipfile.ZipFile(bundle) as unpacked:
        unpacked.extractall(root / "source")
    for name, source in submission.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / "submission" / name)
    (root / "submission").mkdir(exist_ok=True)
    (root / "results").mkdir()
    return root


def run_autograder(root: Path) -> tuple[dict, str]:
    env = {**os.environ, "TICKETRAIL_AUTOGRADER_ROOT": str(root), "TICKETRAIL_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (root / "results" / "results.json").read_text()
    return json.loads(text), done.stdout


def assert_valid_results(results: dict) -> None:
    """The fields Gradescope documents for results.json, with the types it expects."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["tests"], list), results
    assert isinstance(results.get("execution_time", 0), int)
    assert results.get("output_format", "text") in ("text", "md", "html", "simple_format", "ansi")
    assert results.get("stdout_visibility") == "hidden", "the grading log is for the instructor"
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["status"] in ("passed", "failed"), test
        assert test["visibility"] in VISIBILITIES, test
        assert 0 <= test["score"] <= test["max_score"], test
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


def test_the_bundle_holds_setup_run_autograder_and_the_kit_but_never_the_reference(bundle):
    with zipfile.ZipFile(bundle) as unpacked:
        names = unpacked.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in unpacked.infolist()}
        setup = unpacked.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "kit/grading.yml", "kit/pyproject.toml", "kit/README.md"} <= set(names)
    assert any(n.startswith("kit/graders/01/test_") for n in names) and "kit/starter/01/app.py" in names
    assert "kit/src/ticketrail/plugin.py" in names
    assert not [n for n in names if n.startswith("kit/reference") or "/reference/" in n], names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111, "both scripts must be executable"
    assert "redis-server" in setup and "pip install" in setup and "chmod -R go-rwx" in setup
    for script in ("setup.sh", "run_autograder"):
        with zipfile.ZipFile(bundle) as unpacked:
            syntax = subprocess.run(["bash", "-n"], input=unpacked.read(script), capture_output=True)
        assert syntax.returncode == 0, f"{script}: {syntax.stderr.decode()}"


def test_by_default_each_exercise_gets_a_bundle_of_its_own_that_grades_only_that_exercise(bundles):
    assert sorted(path.name for path in bundles.iterdir()) == [f"ex{e}-autograder.zip" for e in EXERCISES], \
        "`ticketrail gradescope FOLDER` writes one zip per exercise: Gradescope has one assignment per exercise"
    for exercise_id in EXERCISES:
        with zipfile.ZipFile(bundles / f"ex{exercise_id}-autograder.zip") as unpacked:
            names = unpacked.namelist()
            run = unpacked.read("run_autograder").decode()
        graders = {name.split("/")[2] for name in names if name.startswith("kit/graders/")}
        assert graders == {exercise_id}, f"ex{exercise_id}-autograder.zip holds the graders of {sorted(graders)}"
        assert run.rstrip().endswith(f"-e {exercise_id}"), f"ex{exercise_id}'s run_autograder grades: {run}"


def test_one_zip_for_several_exercises_is_refused_unless_asked_for_together(tmp_path):
    def gradescope(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ticketrail.cli", "gradescope", *args], cwd=KIT,
                              capture_output=True, text=True, timeout=120)

    refused = gradescope(str(tmp_path / "all.zip"))
    assert refused.returncode == 2 and "one zip per exercise" in refused.stderr, refused.stdout + refused.stderr
    assert not (tmp_path / "all.zip").exists()
    together = gradescope(str(tmp_path / "all.zip"), "-e", "01,02", "--together")
    assert together.returncode == 0, together.stdout + together.stderr
    with zipfile.ZipFile(tmp_path / "all.zip") as unpacked:
        assert {name.split("/")[2] for name in unpacked.namelist() if name.startswith("kit/graders/")} == {"01", "02"}


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_a_bare_upload_of_the_exercises_files_is_what_the_bundle_grades(bundles, tmp_path, exercise_id):
    # Gradescope flattens an upload's folders: 02/app.py and 02/worker.py arrive as app.py and worker.py.
    # Planned as run_autograder plans it, without the grading run: the run itself is tried on 01 and 02 below.
    spec = config.load(KIT / "grading.yml").exercise(exercise_id)
    root = fake_autograder(bundles / f"ex{exercise_id}-autograder.zip", tmp_path,
                           {name: KIT / "reference" / exercise_id / name for name in spec.student_files})
    run = (root / "source" / "run_autograder").read_text()
    exercises = re.findall(r"-e (\S+)", run.split("--root", 1)[1])
    plan = gradescope.autograder_batch(root, exercises, tmp_path / "out").plan()
    assert plan.exercises == [exercise_id], f"the ex{exercise_id} bundle grades {plan.exercises}"
    assert [job.handin.folder for job in plan.jobs] == [""] and plan.jobs[0].handin.complete, (
        f"uploaded {', '.join(spec.student_files)} at the top; the bundle should take them from there, but "
        f"planned {[(job.label, job.handin.folder) for job in plan.jobs]} and settled {plan.settled} without a run")


def test_a_correct_submission_gets_full_marks_in_a_valid_results_json(bundle, tmp_path):
    root = fake_autograder(bundle, tmp_path, {"app.py": KIT / "reference" / "01" / "app.py"})
    results, log = run_autograder(root)
    assert_valid_results(results)
    maximum = config.load(KIT / "grading.yml").exercise("01").max_points
    assert results["score"] == maximum, json.dumps(results, indent=1)
    assert all(test["status"] == "passed" for test in results["tests"])
    assert f"{maximum:g} points" in log, "the log says how it went"
    assert len(results["tests"]) == len(config.load(KIT / "grading.yml").exercise("01").tests), \
        "the results list 01's tests only"


def test_a_multi_file_exercise_uploaded_bare_gets_full_marks_and_lists_only_its_tests(bundles, tmp_path):
    spec = config.load(KIT / "grading.yml").exercise("02")
    root = fake_autograder(bundles / "ex02-autograder.zip", tmp_path,
                           {name: KIT / "reference" / "02" / name for name in spec.student_files})
    results, _ = run_autograder(root)
    assert_valid_results(results)
    failed = {t["name"]: t.get("output", "")[:300] for t in results["tests"] if t["status"] != "passed"}
    assert results["score"] == spec.max_points and not failed, json.dumps(failed, indent=1)
    assert {t["tags"][0] for t in results["tests"]} == {"exercise-02"}
    assert len(results["tests"]) == len(spec.tests)


def test_a_wrong_submission_loses_points_and_is_told_why(bundle, tmp_path):
    # The layout of a submission made from a GitHub repository: the kit's own folders.
    root = fake_autograder(bundle, tmp_path, {"starter/01/app.py": KIT / "starter" / "01" / "app.py"})
    results, _ = run_autograder(root)
    assert_valid_results(results)
    assert results["score"] < config.load(KIT / "grading.yml").exercise("01").max_points, results
    latency = next(t for t in results["tests"] if "latency budget" in t["name"])
    assert latency["status"] == "failed" and "The customer waited" in latency["output"], latency


def test_a_submission_without_the_students_file_is_graded_as_missing(bundle, tmp_path):
    root = fake_autograder(bundle, tmp_path, {"notes.txt": KIT / "grading.yml"})
    results, _ = run_autograder(root)
    assert_valid_results(results)
    assert results["score"] == 0 and "files missing" in results["output"], results


def test_when_the_autograder_itself_fails_it_still_writes_a_valid_results_json(bundle, tmp_path):
    root = fake_autograder(bundle, tmp_path, {"app.py": KIT / "reference" / "01" / "app.py"})
    (root / "source" / "kit" / "grading.yml").write_text("exercises: [this is not a mapping\n")
    results, log = run_autograder(root)
    assert_valid_results(results)
    assert results["score"] == 0 and results["tests"] == []
    assert "not a verdict on your code" in results["output"]
    assert "grading.yml" in results["extra_data"]["error"] and "grading.yml" in log


# --- feedback as HTML -------------------------------------------------------------------------


class _Tags(HTMLParser):
    VOID = {"meta", "br", "img", "hr", "input", "link", "rect", "line"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs) -> None:
        pass

    def handle_endtag(self, tag) -> None:
        if tag in self.VOID:
            if tag in self.open:
                self.open.remove(tag)
            return
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()


def test_html_feedback_draws_the_customers_timeline_and_says_what_the_markdown_says(grade, tmp_path):
    result = grade("01", "starter")
    kit = config.load(KIT / "grading.yml")
    record = RecordStore(tmp_path).update("alice", Record("alice"), "01", ExerciseRecord("key", result))
    made = subprocess.run([sys.executable, "-m", "ticketrail.cli", "feedback", str(tmp_path)], cwd=KIT,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0 and "Wrote 1 feedback page" in made.stdout, made.stdout + made.stderr
    page = (tmp_path / "feedback" / "alice.html").read_text()
    view = ClassView(kit, ["alice"], {"alice": record}, ["01"])

    assert "<svg" in page and "answer sent" in page, "the latency timeline is drawn, not left as text"
    waited = re.findall(r"<title>(email|PDF|warehouse|analytics): [\d.]+–[\d.]+ s, before the answer</title>", page)
    assert set(waited) == {"email", "PDF", "warehouse", "analytics"}, \
        f"each side effect the starter's customer waited for is a bar: {waited}"

    tags = _Tags()
    tags.feed(page)
    assert not tags.problems and tags.open == [], (tags.problems, tags.open)

    markdown = feedback_markdown(build(view, "alice"))
    for heading in re.findall(r"^#+ (.*)$", markdown, re.M):
        assert html.escape(heading.replace("**", "")) in page, f"the heading {heading!r} is in the page"
    for test in result.tests:
        if test.visibility != "visible" and test.message:
            assert html.escape(test.message.splitlines()[0]) not in page, f"{test.name} is not visible to students"
