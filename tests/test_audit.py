"""graders/NN/audit.yml: every rule a README states names a grader test and a known-wrong solution that exist.

That each known-wrong solution fails its graders is shown by tests/test_exercise_NN.py, whose CAUGHT_BY is
read from the audit, and by `ticketrail validate`, which grades every known-wrong solution on every grader.
"""

from pathlib import Path

import pytest

from helpers import KIT
from ticketrail import audit, config
from ticketrail.config import ConfigError

EXERCISES = ["01", "02", "03", "04", "05", "06"]


def _audit(exercise_id: str) -> audit.Audit:
    path = audit.audit_path(KIT, exercise_id)
    if not path.is_file():
        pytest.skip(f"{path.relative_to(KIT)} is not written yet")
    return audit.load(path, exercise_id)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_rule_names_a_grader_test_and_a_known_wrong_solution_that_exist(exercise_id):
    found = _audit(exercise_id)
    spec = config.load(KIT / "grading.yml").exercise(exercise_id)
    problems = audit.problems(found, spec, audit.wrong_root(KIT, exercise_id))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_known_wrong_solution_is_named_by_a_rule(exercise_id):
    found = _audit(exercise_id)
    unnamed = audit.unnamed_wrong(found, audit.wrong_root(KIT, exercise_id))
    assert not unnamed, f"No rule in {found.path} names these known-wrong solutions: {', '.join(unnamed)}"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audit.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, words", [
    ("rules: []\n", ["audit.yml:1", "non-empty list"]),
    ("rule:\n  - rule: x\n", ["audit.yml:1", "unknown key the file.rule"]),
    ("rules:\n  - rule: x\n    where: Contract\n    graders: test_x\n", ["audit.yml:4", "unknown key rules[1].graders"]),
    ("rules:\n  - where: Contract\n    grader: test_x\n", ["audit.yml:2", "has no `rule:`"]),
    ("rules:\n  - rule: x\n    where: Contract\n    grader: slow_endpoint\n", ["audit.yml:4", "not a grader test name"]),
    ("rules:\n  - rule: x\n    where: Task 1\n  - rule: x\n    where: Task 2\n", ["audit.yml:4", "given twice", "line 2"]),
    ("rules:\n  - rule: x\n    where: [a\n", ["audit.yml:", "not valid YAML"]),
])
def test_a_malformed_audit_is_refused_with_its_file_and_line(tmp_path, text, words):
    with pytest.raises(ConfigError) as error:
        audit.load(_write(tmp_path, text), "01")
    for word in words:
        assert word in str(error.value), str(error.value)


def test_a_rule_naming_an_unknown_grader_or_folder_or_missing_either_is_a_problem(tmp_path):
    found = audit.load(_write(tmp_path, (
        "rules:\n"
        "  - rule: one\n    where: Contract\n    grader: test_no_such_grader\n    wrong: no_such_folder\n"
        "  - rule: two\n    where: Task 2\n"
    )), "01")
    spec = config.load(KIT / "grading.yml").exercise("01")
    problems = "\n".join(audit.problems(found, spec, audit.wrong_root(KIT, "01")))
    for words in ("audit.yml:2: grader test_no_such_grader is not a test of exercise 01",
                  "audit.yml:2: known-wrong solution no_such_folder is not a folder",
                  "audit.yml:6: rule 'two' names no grader test",
                  "audit.yml:6: rule 'two' names no known-wrong solution"):
        assert words in problems, problems


def test_caught_by_gathers_every_grader_of_every_rule_naming_a_known_wrong_solution(tmp_path):
    found = audit.load(_write(tmp_path, (
        "rules:\n"
        "  - rule: one\n    where: Contract\n    grader: [test_a, test_b]\n    wrong: gather_only\n"
        "  - rule: two\n    where: Task 2\n    grader: test_c\n    wrong: [gather_only, no_404]\n"
    )), "01")
    assert found.caught_by() == {"gather_only": {"test_a", "test_b", "test_c"}, "no_404": {"test_c"}}


# --- ticketrail validate: the audit's verdicts, on made-up results -----------------------------------


def _graded(name: str, failed: set[str]):
    from ticketrail.commands.validate import Solution
    from ticketrail.grading.runner import ExerciseResult, TestResult

    spec = config.load(KIT / "grading.yml").exercise("01")
    tests = [TestResult(test, "failed" if test in failed else "passed", 0.0, 1.0, "visible") for test in spec.tests]
    return Solution(name, Path("."), True, ExerciseResult("01", "", "graded", tests))


def test_validate_prints_each_rule_and_flags_a_known_wrong_solution_its_grader_passes():
    from ticketrail.commands.validate import Report, check_audit

    spec = config.load(KIT / "grading.yml").exercise("01")
    found = audit.load(audit.audit_path(KIT, "01"), "01")
    caught = found.caught_by()
    wrong = {name: _graded(name, graders) for name, graders in caught.items()}
    wrong["no_404"] = _graded("no_404", set())  # passes the grader its rule names
    report = Report("01")
    check_audit(report, KIT, spec, wrong)
    text = "\n".join(report.lines)
    assert f"{len(found.rules)} rules" in text and "An unknown order gets 404" in text, text
    assert report.problems == [
        f"rule on line {next(r.line for r in found.rules if 'no_404' in r.wrong)}: known-wrong no_404 passes "
        "test_an_unknown_order_gets_404_and_no_side_effects, the grader meant to catch it"
    ], report.problems
