"""`ticketrail release`: the handout holds what a student needs and nothing hidden, its grading.yml
names only the self-checks, and its GitHub Classroom workflow is valid and runs the README's command."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ticketrail import classroom, config
from ticketrail.commands import release

from helpers import KIT

STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def ready_exercises() -> list[str]:
    """The exercises finished enough to hand out: a README, self-checks and a starter."""
    kit = config.load(KIT / "grading.yml")
    return [e for e in sorted(kit.exercises) if (KIT / "starter" / e).is_dir()
            and (KIT / "exercises" / e / "README.md").is_file() and classroom.self_checks(KIT, e)]


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ticketrail.cli", *args], cwd=folder, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "handout"
    made = cli(KIT, "release", str(out), "--only", *ready_exercises())
    assert made.returncode == 0, made.stdout + made.stderr
    return out


def handout_files(handout: Path) -> list[Path]:
    return [p for p in handout.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_the_handout_holds_what_a_student_needs(handout):
    kit = config.load(KIT / "grading.yml")
    for name in ("README.md", "pyproject.toml", "grading.yml", ".gitignore", ".github/workflows/classroom.yml",
                 "src/ticketrail/plugin.py", "src/ticketrail/shop/__init__.py", "docs/student.md"):
        assert (handout / name).is_file(), f"the handout has no {name}"
    for exercise_id in ready_exercises():
        assert (handout / "exercises" / exercise_id / "README.md").is_file()
        for name in kit.exercise(exercise_id).student_files:
            starter = (KIT / "starter" / exercise_id / name).read_bytes()
            assert (handout / "starter" / exercise_id / name).read_bytes() == starter
            assert (handout / ".pristine" / exercise_id / name).read_bytes() == starter, \
                "`ticketrail reset` restores from .pristine/: it must hold the starter as handed out"
        assert f"| {exercise_id} | {kit.exercise(exercise_id).title} |" in (handout / "README.md").read_text()


def test_the_handout_holds_no_reference_no_grader_and_no_hidden_test_name(handout):
    kit = config.load(KIT / "grading.yml")
    visible = {check.name for e in kit.exercises for check in classroom.self_checks(KIT, e)}
    hidden_names = {name for e in kit.exercises for name in kit.exercise(e).tests} - visible
    handed_out_code = {line.strip() for folder in ("starter", "src/ticketrail")
                       for path in (KIT / folder).rglob("*.py") for line in path.read_text().splitlines()}
    handed_out_code |= {line.strip() for path in (KIT / "exercises").rglob("*.py") for line in path.read_text().splitlines()}
    reference_only = {line.strip() for path in (KIT / "reference").rglob("*.py")
                      for line in path.read_text().splitlines()
                      if len(line.strip()) >= release.MIN_REFERENCE_LINE and line.strip() not in handed_out_code}
    hidden_files = {path.read_bytes() for folder in ("reference", "graders")
                    for path in (KIT / folder).rglob("*.py") if path.stat().st_size}
    assert hidden_names and reference_only, "the kit has hidden tests and reference lines to look for"

    for path in handout_files(handout):
        where = path.relative_to(handout)
        assert not {"reference", "graders"} & set(where.parts[:-1]), f"{where} is in a hidden folder"
        content = path.read_bytes()
        assert content not in hidden_files, f"{where} is a copy of a reference or grader file"
        text = content.decode("utf-8", "replace")
        leaked = sorted(name for name in hidden_names if re.search(rf"\b{name}\b", text))
        assert not leaked, f"{where} names hidden tests: {leaked}"
        lines = {line.strip() for line in text.splitlines()}
        assert not reference_only & lines, f"{where} holds reference lines: {sorted(reference_only & lines)[:5]}"
    assert release.find_leaks(KIT, handout) == []


def test_release_refuses_to_write_a_handout_that_would_leak(tmp_path):
    kit = tmp_path / "kit"
    kit.mkdir()
    for name in ("grading.yml", "pyproject.toml"):
        shutil.copy(KIT / name, kit / name)
    for folder in ("exercises/01", "starter/01", "reference/01", "graders/01", "src/ticketrail"):
        shutil.copytree(KIT / folder, kit / folder, ignore=shutil.ignore_patterns("__pycache__"))
    solution_line = next(line.strip() for line in (KIT / "reference/01/app.py").read_text().splitlines()
                         if "add_task" in line)
    grader_name = next(iter(config.load(KIT / "grading.yml").exercise("01").tests))
    with open(kit / "exercises/01/README.md", "a") as readme:
        readme.write(f"\n<details><summary>Hint 5</summary>\n\n    {solution_line}\n\n</details>\n"
                     f"\nThe graders include {grader_name}.\n")

    result = cli(kit, "release", str(tmp_path / "out"), "--only", "01")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "would leak hidden material; nothing was written" in result.stderr, result.stderr
    assert "exercises/01/README.md: reference line from reference/01/app.py" in result.stderr, result.stderr
    assert f"exercises/01/README.md: hidden test name {grader_name}" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["kit"], "no scratch folder is left behind"


def test_the_handouts_grading_yml_lists_the_self_checks_instead_of_the_graders(handout):
    kit = config.load(KIT / "grading.yml")
    student = config.load(handout / "grading.yml")
    assert sorted(student.exercises) == ready_exercises()
    for exercise_id, spec in student.exercises.items():
        original = kit.exercise(exercise_id)
        assert set(spec.tests) == {check.name for check in classroom.self_checks(KIT, exercise_id)}
        assert (spec.title, spec.student_files, spec.time_scale, spec.budgets, spec.env) == \
               (original.title, original.student_files, original.time_scale, original.budgets, original.env)
        assert (spec.run_api, spec.run_programs) == (original.run_api, original.run_programs)


def readme_command(readme_text: str, exercise_id: str) -> str | None:
    """The self-check command an exercise's README tells the student to type."""
    found = re.search(rf"`(pytest exercises/{exercise_id})`", readme_text)
    return found.group(1) if found else None


def test_the_classroom_workflow_is_valid_yaml_that_runs_each_readmes_self_check_command(handout):
    workflow = yaml.safe_load((handout / ".github/workflows/classroom.yml").read_text())
    assert "push" in workflow["on"]
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    install = "\n".join(step.get("run", "") for step in steps)
    assert "pip install" in install and "-e ." in install, "the kit is installed before the checks run"

    graders = [step for step in steps if step.get("uses") == classroom.COMMAND_GRADER]
    ids = [step["id"] for step in graders]
    assert len(set(ids)) == len(ids) and all(STEP_ID.match(i) for i in ids), ids
    expected = {check.node_id for e in ready_exercises() for check in classroom.self_checks(KIT, e)}
    commands = {}
    for step in graders:
        settings = step["with"]
        assert settings["test-name"] and int(settings["timeout"]) > 0 and float(settings["max-score"]) > 0, step
        exercise_id = re.search(r"exercises/(\d\d)/", settings["command"]).group(1)
        command = readme_command((handout / "exercises" / exercise_id / "README.md").read_text(), exercise_id)
        assert command and settings["command"].startswith(command + "/"), \
            f"{settings['command']!r} is not the README's self-check command {command!r} narrowed to one check"
        commands[settings["command"].removeprefix("pytest ")] = step["id"]
    assert set(commands) == expected, "one Classroom step for every self-check"

    reporter = steps[-1]
    assert reporter["uses"] == classroom.REPORTER
    assert reporter["with"]["runners"].split(",") == ids
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids}


def test_each_classroom_command_passes_on_a_correct_solution_and_fails_on_the_starter(handout, tmp_path):
    copy = tmp_path / "handout"
    shutil.copytree(handout, copy)
    workflow = yaml.safe_load((copy / ".github/workflows/classroom.yml").read_text())
    commands = [step["with"]["command"] for step in workflow["jobs"]["run-autograding-tests"]["steps"]
                if step.get("uses") == classroom.COMMAND_GRADER and "exercises/01/" in step["with"]["command"]]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def exit_codes() -> list[int]:
        return [subprocess.run(command, shell=True, cwd=copy, env=env, capture_output=True, timeout=300).returncode
                for command in commands]

    starter = exit_codes()
    assert 1 in starter, f"the starter fails some of exercise 01's checks: {starter}"
    shutil.copy(KIT / "reference/01/app.py", copy / "starter/01/app.py")
    assert exit_codes() == [0] * len(commands)


def test_self_checks_are_read_with_their_task_without_importing_them():
    checks = classroom.self_checks(KIT, "01")
    names = {c.name: c.task for c in checks}
    source = ast.parse((KIT / "exercises/01" / Path(checks[0].file).name).read_text())
    assert set(names) == {n.name for n in source.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    assert all(task is not None for task in names.values()), names
