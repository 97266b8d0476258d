"""What a student is told, as data: StudentFeedback → ExerciseFeedback → TestFeedback."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ticketrail import learner, startup
from ticketrail.timeline import Timeline
from ticketrail.grading.classview import SCORED, STATUS_WORDS, ClassView
from ticketrail.textsafe import clean


@dataclass(frozen=True)
class TestFeedback:
    name: str
    title: str
    outcome: str  # passed, failed or did not run
    score: float
    max_score: float
    visibility: str
    message: str = ""  # the learner's words of a visible failure; empty otherwise
    same_as: str = ""  # the title of an earlier test that failed the same way: told once, there
    timelines: tuple[Timeline, ...] = ()  # those its message holds, as figures

    @property
    def visible(self) -> bool:
        return self.visibility == "visible"


@dataclass(frozen=True)
class ExerciseFeedback:
    id: str
    title: str
    status: str  # a grading status, or "not graded" when there is no record of it
    score: float | None  # None until it has a score (not graded, ungradable, rejected)
    max_score: float
    note: str = ""  # what a missing or rejected exercise is told instead of tests
    graded_from: tuple[str, tuple[str, ...]] | None = None  # the folder ("" for the top) and the files taken
    tests: tuple[TestFeedback, ...] = ()
    seconds: float = 0.0

    @property
    def status_words(self) -> str:
        return STATUS_WORDS.get(self.status, self.status)


@dataclass(frozen=True)
class StudentFeedback:
    student: str
    total: float | None
    maximum: float
    problems: tuple[str, ...] = ()
    exercises: tuple[ExerciseFeedback, ...] = field(default=())


def build(view: ClassView, student: str) -> StudentFeedback:
    record = view.records.get(student)
    problems = tuple(clean(problem) for problem in record.problems) if record is not None else ()
    exercises = tuple(_exercise(view, student, eid) for eid in view.exercise_ids)
    return StudentFeedback(clean(student), view.total(student), view.maximum(), problems, exercises)


def _exercise(view: ClassView, student: str, eid: str) -> ExerciseFeedback:
    result = view.result(student, eid)
    if result is None:
        return ExerciseFeedback(eid, view.config.exercise(eid).title, "not graded", None, view.max_score(eid))
    score = result.score if result.status in SCORED else None
    note = clean(result.note) if result.status in ("missing", "rejected") else ""
    recorded = view.records[student].exercises[eid]
    graded_from = (clean(recorded.folder or ""), tuple(clean(name) for name in recorded.files)) if recorded.files else None
    return ExerciseFeedback(eid, result.title, result.status, score, result.max_score, note, graded_from,
                            _tests(result.tests), result.duration)


def _tests(results) -> tuple[TestFeedback, ...]:
    tests, told = [], {}
    # A start crash is told in full by one test, whichever reported first: every test it failed gets it whole.
    words = startup.told_whole([learner.message(test.message) if _told(test) else "" for test in results])
    for test, message in zip(results, words):
        outcome = "passed" if test.passed else ("did not run" if test.outcome == "not_run" else "failed")
        same_as = ""
        timelines: tuple[Timeline, ...] = ()
        if message:
            timelines = tuple(Timeline.from_json(entry) for entry in test.timelines)
            # The same failure in several tests (a program that does not start) is told once; ports differ.
            gist = re.sub(r"\d+", "N", message)
            same_as = told.setdefault(gist, learner.test_title(test.name))
            if same_as == learner.test_title(test.name):
                same_as = ""
        tests.append(TestFeedback(test.name, learner.test_title(test.name), outcome, test.score, test.max_score,
                                  test.visibility, message, same_as, timelines))
    return tuple(tests)


def _told(test) -> bool:
    """A visible failure with words: what a student is told (a hidden test's words stay with the instructor)."""
    return test.visibility == "visible" and not test.passed and bool(test.message)
