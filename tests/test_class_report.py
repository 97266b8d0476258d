"""report.html shows the class at a glance: each exercise's score distribution and the pass rate of each grader
test, the submissions that could not be graded, the slowest gradings; one page with no script and no network,
whose figures agree with grades.csv and tests.csv. Rendered in Chromium where it is installed."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ticketrail import config
from ticketrail.grading import runner
from ticketrail.grading.batch import not_graded
from ticketrail.grading.class_report import class_report
from ticketrail.grading.classview import ClassView
from ticketrail.grading.exports import write_class
from ticketrail.grading.records import ExerciseRecord, Record

from helpers import KIT

CONFIG = config.load(KIT / "grading.yml")
MISCONCEPTION = "the same grader test failed by most of the class"


def graded(exercise_id: str, failing: set[str], seconds: float, status: str = "graded") -> runner.ExerciseResult:
    spec = CONFIG.exercise(exercise_id)
    tests = [runner.TestResult(name, "failed" if name in failing else "passed", 0.0 if name in failing else test.points,
                               test.points, test.visibility, 1.0, "The customer waited 1.31 s" if name in failing else "")
             for name, test in spec.tests.items()]
    return runner.ExerciseResult(exercise_id, spec.title, status, tests, duration=seconds)


@pytest.fixture
def view() -> ClassView:
    first, second, *rest = list(CONFIG.exercise("01").tests)
    worker_test = list(CONFIG.exercise("02").tests)[0]
    plan = {
        "ada": {"01": graded("01", set(), 30), "02": graded("02", set(), 44)},
        "ben": {"01": graded("01", {first}, 35), "02": graded("02", {worker_test}, 61)},
        "cara": {"01": graded("01", {first, second}, 32)},
        "dev": {"01": graded("01", {first}, 90)},
        "=evil\x1b[2J": {"01": graded("01", {first}, 33)},
        "eve": {"01": not_graded(CONFIG.exercise("01"), "ungradable", "the kit failed while grading:\nTraceback")},
        "fay": {"01": not_graded(CONFIG.exercise("01"), "missing", "app.py is missing from the submission")},
    }
    records = {}
    for student, results in plan.items():
        record = Record(student, student, "folder")
        for eid, result in results.items():
            record.exercises[eid] = ExerciseRecord("key", result, eid, {})
        records[student] = record
    return ClassView(CONFIG, [*plan, "gus"], {**records, "gus": None}, ["01", "02"])


class Figures(HTMLParser):
    """What the report shows, read back from its markup: rows of the distribution and the test tables."""

    def __init__(self) -> None:
        super().__init__()
        self.exercise = ""
        self.distribution: dict[str, dict[str, int]] = {}
        self.missing: dict[str, int] = {}
        self.rates: dict[tuple[str, str], tuple[int, int]] = {}
        self.not_graded: set[tuple[str, str]] = set()
        self.scripts, self.links, self.outside = 0, 0, []
        self._score: str | None = None
        self._in_count = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("script", "iframe", "object", "embed"):
            self.scripts += 1
        if tag == "link":
            self.links += 1
        for name in ("src", "href"):
            if re.match(r"^(https?:)?//", attributes.get(name) or ""):
                self.outside.append(attributes[name])
        if "data-exercise" in attributes and tag == "section":
            self.exercise = attributes["data-exercise"]
        if tag == "tr" and "data-missing" in attributes:
            self.missing[self.exercise] = int(attributes["data-missing"])
        if tag == "tr" and "data-score" in attributes:
            self._score = attributes["data-score"]
        if tag == "tr" and "data-test" in attributes:
            self.rates[(self.exercise, attributes["data-test"])] = (int(attributes["data-passed"]),
                                                                     int(attributes["data-ran"]))
        if tag == "tr" and "data-student" in attributes:
            self.not_graded.add((attributes["data-student"], attributes["data-exercise"]))
        self._in_count = tag == "td" and "count" in (attributes.get("class") or "") and self._score is not None

    def handle_data(self, data):
        if self._in_count and data.strip():
            self.distribution.setdefault(self.exercise, {})[self._score] = int(data)
            self._in_count, self._score = False, None


def read_figures(page: str) -> Figures:
    figures = Figures()
    figures.feed(page)
    return figures


def check_against_the_csvs(figures: Figures, out: Path, exercises: tuple[str, ...] = ("01", "02")) -> None:
    """Every figure of the report, recounted from grades.csv and tests.csv."""
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        grades = list(csv.DictReader(handle))
    with open(out / "tests.csv", newline="", encoding="utf-8-sig") as handle:
        tests = list(csv.DictReader(handle))
    for eid in exercises:
        missing = {row["student"] for row in tests if row["exercise"] == eid and row["status"] == "missing"}
        wanted = Counter(row[eid] for row in grades if row[eid] != "" and row["student"] not in missing)
        assert figures.distribution.get(eid, {}) == dict(wanted), (
            f"Exercise {eid}: the report's score distribution is {figures.distribution.get(eid)}; "
            f"grades.csv counts {dict(wanted)} (hand-ins with files missing apart).")
        assert figures.missing.get(eid, 0) == len(missing), (
            f"Exercise {eid}: the report counts {figures.missing.get(eid, 0)} hand-ins with files missing; "
            f"tests.csv has {len(missing)}.")
        ran = [row for row in tests if row["exercise"] == eid and row["status"] in ("graded", "timeout")]
        for name in {row["test"] for row in ran}:
            rows = [row for row in ran if row["test"] == name]
            passed = sum(row["outcome"] == "passed" for row in rows)
            assert figures.rates[(eid, name)] == (passed, len(rows)), (
                f"{eid} {name}: the report shows {figures.rates[(eid, name)]} (passed, ran); tests.csv has "
                f"{(passed, len(rows))}.")
    broken = {(row["student"], row["exercise"]) for row in tests if row["status"] in ("ungradable", "rejected")}
    assert {item for item in figures.not_graded} >= broken, (figures.not_graded, broken)


def test_the_figures_agree_with_grades_csv_and_tests_csv(view, tmp_path):
    write_class(tmp_path, view)
    check_against_the_csvs(read_figures((tmp_path / "report.html").read_text(encoding="utf-8")), tmp_path)


def test_a_wrong_figure_is_caught(view, tmp_path):
    write_class(tmp_path, view)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    tampered = re.sub(r'(class="figure count">)(\d+)', lambda m: m.group(1) + str(int(m.group(2)) + 1), page, count=1)
    with pytest.raises(AssertionError, match="distribution"):
        check_against_the_csvs(read_figures(tampered), tmp_path)


def test_the_test_most_of_the_class_failed_comes_first(view):
    figures = read_figures(class_report(view))
    first_test = next(name for (eid, name) in figures.rates if eid == "01")
    assert first_test == list(CONFIG.exercise("01").tests)[0], (
        f"The 01 table starts with {first_test}, but {MISCONCEPTION} ({list(CONFIG.exercise('01').tests)[0]}, "
        "passed by 1 of 5) should stand out at the top.")
    assert figures.rates[("01", first_test)] == (1, 5)


def test_what_could_not_be_graded_and_the_slowest_gradings_are_listed(view):
    page = class_report(view)
    figures = read_figures(page)
    assert figures.not_graded == {("eve", "01")}, figures.not_graded
    slowest = page[page.index('id="slowest"'):]
    assert slowest.index("dev") < slowest.index("ben"), "the 90 s grading should come before the 61 s one"


def test_the_page_is_self_contained_and_shows_names_safely(view):
    page = class_report(view)
    figures = read_figures(page)
    assert figures.scripts == 0 and figures.links == 0 and not figures.outside, (
        f"The report must open offline with nothing running: {figures.scripts} scripts, {figures.links} links, "
        f"outside addresses {figures.outside}.")
    assert "\x1b" not in page and "=evil␛[2J" in page


# --- in a real browser -----------------------------------------------------------------------

CHROMIUM = next((path for path in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if path), None)


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-extensions", "--disable-background-networking", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_chromium_renders_the_report_with_the_figures_of_grades_csv(view, tmp_path):
    write_class(tmp_path, view)
    page = (tmp_path / "report.html").as_uri()
    shot = tmp_path / "report.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1280,2400", page)
    assert shot.is_file() and shot.stat().st_size > 10_000, (
        f"Chromium took no screenshot of the report (or a blank one): {done.stderr[-2000:]}")
    dom = chromium("--dump-dom", page)
    assert "<body>" in dom.stdout or "<body" in dom.stdout, dom.stderr[-2000:]
    check_against_the_csvs(read_figures(dom.stdout), tmp_path)
