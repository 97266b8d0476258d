"""The self-checks a handout carries, and the GitHub Classroom workflow that runs them on every push.

Classroom's command grader gives a step's points when its command exits 0, and its
reporter sums the steps: so one step per self-check, each running the README's
`pytest exercises/NN` narrowed to that check.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ticketrail.kit import Kit

TEMPLATE = Path(__file__).parent / "templates" / "classroom.yml"
COMMAND_GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"


@dataclass(frozen=True)
class SelfCheck:
    exercise: str
    file: str  # relative to the kit: exercises/01/test_x.py
    name: str
    task: int | None

    @property
    def node_id(self) -> str:
        return f"{self.file}::{self.name}"


def self_checks(root: Path, exercise_id: str) -> list[SelfCheck]:
    """The test functions of exercises/NN/test_*.py and their `task(n)` markers, read without importing them."""
    found = []
    for path in sorted(Kit(root).self_checks(exercise_id).glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                found.append(SelfCheck(exercise_id, path.relative_to(root).as_posix(), node.name, _task(node)))
    return found


def _task(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int | None:
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("mark.task") and decorator.args:
            value = decorator.args[0]
            if isinstance(value, ast.Constant) and isinstance(value.value, int):
                return value.value
    return None


def step_id(check: SelfCheck) -> str:
    # Step ids must start with a letter; the reporter reads each result from <ID>_RESULTS.
    return f"ex{check.exercise}-{check.name.removeprefix('test_').replace('_', '-')}"


def _quoted(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar


def workflow(checks: list[SelfCheck], points: dict[str, float], timeout_seconds: dict[str, float]) -> str:
    """The workflow text. `points` by check name; `timeout_seconds` by exercise (a check's time limit)."""
    steps, results = [], []
    for check in checks:
        ident = step_id(check)
        task = f" task {check.task}" if check.task is not None else ""
        title = f"{check.exercise}{task}: {check.name.removeprefix('test_').replace('_', ' ')}"
        minutes = max(2, math.ceil(timeout_seconds.get(check.exercise, 90) / 60) + 2)
        score = points.get(check.name, 1)
        steps.append("\n".join([
            f"      - name: {_quoted(title)}",
            f"        id: {ident}",
            f"        uses: {COMMAND_GRADER}",
            "        with:",
            f"          test-name: {_quoted(title)}",
            f"          command: {_quoted(f'pytest {check.node_id}')}",
            f"          timeout: {minutes}",
            f"          max-score: {score:g}",
        ]))
        results.append(f"          {ident.upper()}_RESULTS: \"${{{{steps.{ident}.outputs.result}}}}\"")
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("# @checks@", "\n".join(steps))
    text = text.replace("# @results@", "\n".join(results))
    return text.replace("@runners@", ",".join(step_id(c) for c in checks))
