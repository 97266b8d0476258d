"""A student reads the same feedback on every surface: the Markdown page, the HTML page and Gradescope's
results.json are drawn from one model, with one rule for a failure's words (ticketrail.learner)."""

from __future__ import annotations

import json
import re

from ticketrail import config, learner, startup
from ticketrail.grading.classview import ClassView
from ticketrail.grading.feedback.gradescope import results_json
from ticketrail.grading.feedback.html import feedback_html
from ticketrail.grading.feedback.markdown import feedback_markdown
from ticketrail.grading.feedback.model import build
from ticketrail.grading.records import ExerciseRecord, Record
from ticketrail.grading import runner
from ticketrail.latency import Sample
from ticketrail.timeline import customer_timeline, take_drawn
from ticketrail.worldctl import Call

from helpers import KIT

CONFIG = config.load(KIT / "grading.yml")
SPEC = CONFIG.exercise("01")
NOT_DONE = ("AssertionError: Task 2 is not done yet: confirm still sends the email itself.\n\n"
            "the email went out 0.61 s before the answer\nassert 0.61 < 0.0")
WAITED = "ticketrail.waiting.WaitTimeout: no email was sent within 5 s; the job is still on jobs:email"
def _drawn_timeline() -> tuple[str, list[dict]]:
    sample = Sample(7, sent=100.0, received=101.03, seconds=1.03, status=200)
    calls = [Call(1, "send_confirmation_email", {}, 7, None, [], 100.01, 100.61, "ok", False, None),
             Call(2, "generate_invoice_pdf", {}, 7, None, [], 100.61, 101.02, "ok", False, None)]
    text = customer_timeline(sample, calls)
    return (f"AssertionError: the answer waited for the side effects\n{text}\nLook at what confirm awaits.\n"
            "assert 1.03 <= 0.3", [drawn.to_json() for drawn in take_drawn()])


TIMELINE, TIMELINES = _drawn_timeline()
HIDDEN_WORDS = "SECRET-GRADER-DETAIL"


def graded(messages: dict[str, str], timelines: dict[str, list[dict]] | None = None) -> ClassView:
    tests = [runner.TestResult(name, "failed" if name in messages else "passed",
                               0.0 if name in messages else spec.points, spec.points, spec.visibility, 0.5,
                               messages.get(name, ""), timelines=(timelines or {}).get(name, []))
             for name, spec in SPEC.tests.items()]
    record = Record("alice", "alice/", "folder")
    record.exercises["01"] = ExerciseRecord("key", runner.ExerciseResult("01", SPEC.title, "graded", tests, duration=12.0),
                                            "01", {"app.py": "0" * 64})
    return ClassView(CONFIG, ["alice"], {"alice": record}, ["01"])


def visible_names(count: int) -> list[str]:
    return [name for name, spec in SPEC.tests.items() if spec.visibility == "visible"][:count]


def hidden_name() -> str:
    return next(name for name, spec in SPEC.tests.items() if spec.visibility != "visible")


def test_a_failures_words_are_the_checks_own_with_the_task_that_is_not_done_first():
    words = learner.message(NOT_DONE)
    assert words.startswith("Task 2 is not done yet"), words
    assert "AssertionError" not in words and "assert 0.61" not in words, words
    assert learner.message(WAITED).startswith("no email was sent within 5 s"), learner.message(WAITED)
    assert learner.message("ValueError: boom") == "ValueError: boom", "a student's own exception keeps its type"


def test_every_surface_tells_a_visible_failure_in_the_same_words_and_a_hidden_one_by_name_only():
    first, second = visible_names(2)
    view = graded({first: NOT_DONE, second: WAITED, hidden_name(): HIDDEN_WORDS})
    feedback = build(view, "alice")
    markdown, page = feedback_markdown(feedback), feedback_html(feedback)
    results = json.dumps(results_json(view, "alice"))
    told = learner.message(NOT_DONE).splitlines()[0]
    for surface, text in (("Markdown", markdown), ("HTML", page), ("results.json", results)):
        assert told.split(":")[0] in text, f"the {surface} feedback should say {told!r}"
        assert HIDDEN_WORDS not in text, f"the {surface} feedback shows a hidden test's message"
        assert "no email was sent within 5 s" in text, f"the {surface} feedback should tell the wait that ran out"
        assert "WaitTimeout" not in text and "assert 0.61" not in text, f"the {surface} feedback shows harness words"
    assert learner.test_title(hidden_name()) in markdown and learner.test_title(hidden_name()) in page


def test_the_html_page_draws_a_timeline_as_bars_and_keeps_the_words_around_it():
    name = visible_names(1)[0]
    page = feedback_html(build(graded({name: TIMELINE}, {name: TIMELINES}), "alice"))
    bars = re.findall(r"<title>(\w+): ([\d.]+)–([\d.]+) s, before the answer</title>", page)
    assert bars == [("email", "0.01", "0.61"), ("PDF", "0.61", "1.02")], bars
    assert "answer sent 1.03 s" in page
    assert "the answer waited for the side effects" in page and "Look at what confirm awaits." in page
    assert "████" not in page, "the text bars are drawn, not shown as text"


def test_a_message_that_only_looks_like_a_timeline_is_shown_as_text():
    """Timelines come as figures in the report line: text shaped like one (a student's output quoted in a
    message, say) is not drawn."""
    page = feedback_html(build(graded({visible_names(1)[0]: TIMELINE}), "alice"))
    assert "<svg" not in page and "████" in page, "only the timelines the check drew are drawn"


def test_the_same_failure_in_several_tests_is_told_once_on_a_page_and_in_full_in_each_gradescope_test():
    first, second = visible_names(2)
    view = graded({first: "the API could not start on port 41234", second: "the API could not start on port 41999"})
    markdown = feedback_markdown(build(view, "alice"))
    assert markdown.count("could not start") == 1, markdown
    assert f"The same problem as in *{learner.test_title(first)}* above." in markdown, markdown
    outputs = [test.get("output", "") for test in results_json(view, "alice")["tests"]]
    assert sum("could not start" in output for output in outputs) == 2, outputs


CRASH_LINE = "app.py:1: SyntaxError: invalid syntax — the API could not start"
CRASH = f"""{CRASH_LINE}
  File "app.py", line 1
    def broken(:
               ^
SyntaxError: invalid syntax"""


def test_a_start_crash_told_in_full_by_a_later_test_is_shown_whole_once_on_a_page_and_whole_in_each_gradescope_test():
    """Gradings run their checks side by side: the test that told the crash in full can come after one that
    only names it. The page shows the crash and its traceback once; each Gradescope test stands alone."""
    first, second, third = visible_names(3)
    view = graded({first: CRASH_LINE + startup.TOLD_ELSEWHERE, second: CRASH, third: CRASH_LINE + startup.TOLD_ELSEWHERE})
    for page in (feedback_markdown(build(view, "alice")), feedback_html(build(view, "alice"))):
        assert page.count("the API could not start") == 1 and page.count("def broken(:") == 1, (
            f"the crash and its traceback appear once on the page, with the first test it failed:\n{page}")
        assert "shown with the first check" not in page, f"the page points to nothing it left out:\n{page}"
    outputs = [test.get("output", "") for test in results_json(view, "alice")["tests"]]
    assert sum(CRASH in output for output in outputs) == 3, (
        f"each of the three Gradescope tests the crash failed shows it whole:\n{outputs}")
