"""The up-to-date key: editing what decides a verdict regrades the exercises it decides, and nothing else does.

Every test works on a copy of the kit's graders, starters and grading.yml, and of the harness, in tmp_path.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from ticketrail import config as grading_config
from ticketrail.grading.versions import PACKAGE, graders_version, verdict_files

from helpers import KIT

MODULE_NAME = re.compile(r"^ticketrail(\.\w+)+$")


@pytest.fixture
def copies(tmp_path) -> tuple[Path, Path]:
    """(a kit, a harness): copies to edit."""
    kit = tmp_path / "kit"
    for folder in ("graders", "starter"):
        shutil.copytree(KIT / folder, kit / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("grading.yml", "pyproject.toml"):
        shutil.copy(KIT / name, kit / name)
    harness = tmp_path / "ticketrail"
    shutil.copytree(PACKAGE, harness, ignore=shutil.ignore_patterns("__pycache__"))
    return kit, harness


def versions(kit: Path, harness: Path) -> dict[str, str]:
    config = grading_config.load(kit / "grading.yml")
    return {eid: graders_version(kit, spec, harness) for eid, spec in config.exercises.items()}


def regraded(kit: Path, harness: Path, edit) -> list[str]:
    before = versions(kit, harness)
    edit()
    after = versions(kit, harness)
    return sorted(eid for eid in before if before[eid] != after[eid])


def append(path: Path, text: str = "\n# a comment that changes no verdict\n") -> None:
    assert path.is_file(), f"{path} is not there to edit"
    path.write_text(path.read_text() + text)


@pytest.mark.parametrize("tool", [
    "grading/exports.py", "grading/feedback/html.py", "grading/feedback/markdown.py", "grading/gradebook.py",
    "grading/batch.py", "grading/records.py", "learner.py", "progress.py", "readme.py", "classroom.py",
    "commands/check.py", "commands/grade.py", "cli.py",
])
def test_editing_an_exporter_or_a_student_tool_leaves_every_exercise_up_to_date(copies, tool):
    kit, harness = copies
    assert regraded(kit, harness, lambda: append(harness / tool)) == []


@pytest.mark.parametrize("exercise_id", ["01", "03", "06"])
def test_editing_a_grader_regrades_its_exercise_only(copies, exercise_id):
    kit, harness = copies
    grader = sorted((kit / "graders" / exercise_id).glob("test_*.py"))[0]
    assert regraded(kit, harness, lambda: append(grader)) == [exercise_id]


def test_editing_a_starter_file_regrades_its_exercise_only(copies):
    kit, harness = copies
    starter = sorted((kit / "starter" / "02").glob("*.py"))[0]
    assert regraded(kit, harness, lambda: append(starter)) == ["02"]


@pytest.mark.parametrize("module", ["plugin.py", "checks/jobs.py", "procs.py", "world.py", "shop/sync.py",
                                    "grading/runner.py"])
def test_editing_the_harness_that_runs_graders_regrades_every_exercise(copies, module):
    kit, harness = copies
    assert regraded(kit, harness, lambda: append(harness / module)) == sorted(versions(kit, harness))


def test_points_and_visibility_need_no_regrading_and_a_budget_regrades_its_exercise(copies):
    kit, harness = copies
    yml = kit / "grading.yml"
    text = yml.read_text()
    points = re.sub(r"\{points: (\d+)", lambda found: f"{{points: {int(found[1]) + 1}", text)
    assert points != text
    assert regraded(kit, harness, lambda: yml.write_text(points.replace("visibility: after_due_date",
                                                                        "visibility: visible"))) == []
    assert regraded(kit, harness, lambda: yml.write_text(points.replace("confirm: 0.2 ", "confirm: 0.25 ", 1))) \
        == ["01"]


def test_every_module_the_graders_pytest_imports_or_starts_is_in_the_key():
    """What the plugin, the runner, the graders and the student's code import, and what they start with
    `python -m`: a module missing from versions.VERDICT_HARNESS could change a verdict and regrade nobody."""
    roots = [PACKAGE / "plugin.py", PACKAGE / "grading" / "runner.py"]
    roots += [path for folder in ("graders", "starter", "reference") for path in (KIT / folder).rglob("*.py")]
    hashed = set(verdict_files(PACKAGE))
    missing = sorted(str(path.relative_to(PACKAGE)) for path in imported_closure(roots) - hashed)
    assert not missing, (f"these modules run when graders run, but editing them regrades nobody: {missing}; "
                         "add them to VERDICT_HARNESS in src/ticketrail/grading/versions.py")


def imported_closure(roots: list[Path]) -> set[Path]:
    """The package's files that `roots` import (at any depth, with their packages' __init__) or name as a module."""
    seen: set[Path] = set()
    todo = [*roots]
    while todo:
        path = todo.pop()
        for name in mentioned_modules(path):
            for file in module_files(name):
                if file not in seen:
                    seen.add(file)
                    todo.append(file)
    return seen


def mentioned_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_NAME.match(node.value):
            names.add(node.value)  # python -m ticketrail.world
    return {name for name in names if name.split(".")[0] == "ticketrail"}


def module_files(name: str) -> list[Path]:
    """The files importing `name` runs: each package's __init__ on the way, then the module (when it is one)."""
    parts = name.split(".")[1:]
    files = [PACKAGE / "__init__.py"]
    for depth in range(1, len(parts) + 1):
        base = PACKAGE.joinpath(*parts[:depth])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
    return files
