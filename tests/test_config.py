"""grading.yml errors name the file and the line, and say what is wrong."""

import textwrap

import pytest

from helpers import KIT
from ticketrail import config

GOOD = """\
exercises:
  "01":
    title: Fix the slow endpoint
    student_files: [app.py]
    budgets: {confirm: 0.2}
    tests:
      test_fast: {points: 2}
      test_once: {points: 1, visibility: hidden}
"""


def write(tmp_path, text):
    path = tmp_path / "grading.yml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, text) -> str:
    with pytest.raises(config.ConfigError) as caught:
        config.load(write(tmp_path, text))
    return str(caught.value)


def test_the_kits_own_grading_yml_loads():
    grading = config.load(KIT / "grading.yml")
    assert "01" in grading.exercises
    assert grading.exercise("01").max_points > 0


def test_a_good_file_gives_points_visibility_and_budgets(tmp_path):
    spec = config.load(write(tmp_path, GOOD)).exercise("01")
    assert spec.tests["test_fast"].points == 2.0
    assert spec.tests["test_fast"].visibility == "visible"
    assert spec.tests["test_once"].visibility == "hidden"
    assert spec.budget("confirm") == 0.2
    assert spec.tests["test_once"].line == 8


def test_broken_yaml_names_the_line(tmp_path):
    message = error_of(tmp_path, GOOD.replace("title: Fix the slow endpoint", "title: [unclosed"))
    assert "grading.yml:" in message and "not valid YAML" in message


def test_an_unknown_key_names_its_line_and_the_keys_allowed(tmp_path):
    message = error_of(tmp_path, GOOD.replace("    budgets:", "    budget:"))
    assert message.endswith(
        "grading.yml:5: unknown key exercises.01.budget; the keys here are: "
        "title, student_files, time_scale, budgets, timeouts, env, run, tests"
    ), message


def test_a_test_without_points_names_its_line(tmp_path):
    message = error_of(tmp_path, GOOD.replace("{points: 1, visibility: hidden}", "{visibility: hidden}"))
    assert "grading.yml:8: exercises.01.tests.test_once has no `points:`" in message, message


def test_a_bad_visibility_says_which_ones_exist(tmp_path):
    message = error_of(tmp_path, GOOD.replace("visibility: hidden", "visibility: secret"))
    assert ":8:" in message and "visible, hidden, after_due_date, after_published" in message, message


def test_negative_points_and_a_zero_budget_are_refused(tmp_path):
    assert "must be at least 0" in error_of(tmp_path, GOOD.replace("points: 2", "points: -2"))
    assert "must be above 0" in error_of(tmp_path, GOOD.replace("confirm: 0.2", "confirm: 0"))


def test_a_test_missing_from_the_file_and_an_entry_with_no_test_are_both_reported(tmp_path):
    grading = config.load(write(tmp_path, GOOD))
    problems = grading.check_tests("01", {"test_fast", "test_new"}, tmp_path / "graders" / "01")
    assert any("test test_new has no entry" in p for p in problems), problems
    assert any("grading.yml:8: exercises.01.tests.test_once names no test" in p for p in problems), problems


def test_an_unknown_exercise_lists_the_known_ones(tmp_path):
    with pytest.raises(config.ConfigError, match=r"no exercise '07' \(it has: 01\)"):
        config.load(write(tmp_path, GOOD)).exercise("07")
