"""grading.yml: the one file an instructor edits. Every error names the file and line."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TestSpec:
    name: str
    points: float
    visibility: str
    line: int


@dataclass(frozen=True)
class ExerciseSpec:
    id: str
    title: str
    student_files: tuple[str, ...]
    time_scale: float
    budgets: dict[str, float]
    test_timeout: float
    exercise_timeout: float
    env: dict[str, str]
    tests: dict[str, TestSpec]
    line: int
    run_api: str | None = None  # the module uvicorn serves for `ticketrail run`, e.g. "app"
    run_programs: tuple[str, ...] = ()  # further programs, e.g. "worker.py" or "subscribers.py --name audit"

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.tests.values())

    def budget(self, name: str) -> float:
        try:
            return self.budgets[name]
        except KeyError:
            raise ConfigError(f"grading.yml: exercise {self.id} has no budget named {name!r}") from None


@dataclass(frozen=True)
class GradingConfig:
    path: Path
    exercises: dict[str, ExerciseSpec] = field(default_factory=dict)

    def exercise(self, exercise_id: str) -> ExerciseSpec:
        try:
            return self.exercises[exercise_id]
        except KeyError:
            known = ", ".join(self.exercises) or "none"
            raise ConfigError(f"{self.path}: no exercise {exercise_id!r} (it has: {known})") from None

    def check_tests(self, exercise_id: str, collected: Iterable[str], graders_dir: Path) -> list[str]:
        """Grader tests without a points entry, and entries naming no grader test."""
        spec = self.exercise(exercise_id)
        collected = set(collected)
        problems = [
            f"{graders_dir}: test {name} has no entry under exercises.{exercise_id}.tests in {self.path}"
            for name in sorted(collected - set(spec.tests))
        ]
        problems += [
            f"{self.path}:{test.line}: exercises.{exercise_id}.tests.{name} names no test in {graders_dir}"
            for name, test in spec.tests.items()
            if name not in collected
        ]
        return problems


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, message: str) -> ConfigError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return ConfigError(f"{self.path}{line}: {message}")

    def mapping(self, node: yaml.Node, where: str, allowed: Iterable[str] | None = None) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} must be a mapping of names to values")
        result: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in result:
                raise self.fail(key_node, f"{where}.{key} is given twice")
            if allowed is not None and key not in allowed:
                raise self.fail(key_node, f"unknown key {where}.{key}; the keys here are: {', '.join(allowed)}")
            result[key] = value_node
        return result

    def scalar(self, node: yaml.Node, where: str, kind: type) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{where} must be a single {kind.__name__}")
        value = yaml.safe_load(yaml.serialize(node))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is str and value is not None and not isinstance(value, str):
            value = str(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise self.fail(node, f"{where} must be a {kind.__name__}, not {node.value!r}")
        return value

    def number(self, node: yaml.Node, where: str, positive: bool = True) -> float:
        value = self.scalar(node, where, float)
        if value < 0 or positive and value == 0:
            raise self.fail(node, f"{where} must be {'above' if positive else 'at least'} 0, not {value}")
        return value

    def strings(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.fail(node, f"{where} must be a non-empty list of file names")
        return tuple(self.scalar(item, where, str) for item in node.value)


EXERCISE_KEYS = ("title", "student_files", "time_scale", "budgets", "timeouts", "env", "run", "tests")


def compose(path: Path, text: str | None = None) -> yaml.Node:
    """The YAML node tree of a file the kit reads strictly (`text`, when given, is what it holds); a missing,
    empty or broken file is a ConfigError."""
    try:
        root = yaml.compose(_read(path) if text is None else text)
    except yaml.YAMLError as error:
        problem, mark = getattr(error, "problem", error), getattr(error, "problem_mark", None)
        # A key without its colon is seen a line later: name the line where the broken construct began.
        context, begun = getattr(error, "context", None), getattr(error, "context_mark", None)
        if begun is not None and mark is not None and begun.line != mark.line:
            problem, mark = f"{context}: {problem} (seen on line {mark.line + 1})", begun
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {problem}") from None
    if root is None:
        raise ConfigError(f"{path}: the file is empty")
    return root


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found") from None


def load(path: str | Path) -> GradingConfig:
    path = Path(path)
    return _parsed(path, _read(path))


# A grading's pytest reads grading.yml three times or more (the plugin, the test timeouts, the collection check),
# at about 0.15 s of CPU each: the same text is parsed once. A config is never changed once made.
@functools.lru_cache(maxsize=8)
def _parsed(path: Path, text: str) -> GradingConfig:
    reader = _Reader(path)
    root = compose(path, text)
    top = reader.mapping(root, "the file", ("defaults", "exercises"))
    defaults = _defaults(reader, top.get("defaults"))
    if "exercises" not in top:
        raise reader.fail(root, "there is no `exercises:` section")
    exercises = {}
    for exercise_id, node in reader.mapping(top["exercises"], "exercises").items():
        exercises[exercise_id] = _exercise(reader, exercise_id, node, defaults)
    return GradingConfig(path, exercises)


def _defaults(reader: _Reader, node: yaml.Node | None) -> dict[str, Any]:
    result: dict[str, Any] = {"test": 60.0, "exercise": 600.0, "visibility": "visible"}
    if node is None:
        return result
    fields = reader.mapping(node, "defaults", ("timeouts", "visibility"))
    if "timeouts" in fields:
        for key, value in reader.mapping(fields["timeouts"], "defaults.timeouts", ("test", "exercise")).items():
            result[key] = reader.number(value, f"defaults.timeouts.{key}")
    if "visibility" in fields:
        result["visibility"] = _visibility(reader, fields["visibility"], "defaults.visibility")
    return result


def _visibility(reader: _Reader, node: yaml.Node, where: str) -> str:
    value = reader.scalar(node, where, str)
    if value not in VISIBILITIES:
        raise reader.fail(node, f"{where} must be one of {', '.join(VISIBILITIES)}, not {value!r}")
    return value


def _exercise(reader: _Reader, exercise_id: str, node: yaml.Node, defaults: dict[str, Any]) -> ExerciseSpec:
    where = f"exercises.{exercise_id}"
    fields = reader.mapping(node, where, EXERCISE_KEYS)
    for required in ("title", "student_files", "tests"):
        if required not in fields:
            raise reader.fail(node, f"{where} has no `{required}:`")
    timeouts = {"test": defaults["test"], "exercise": defaults["exercise"]}
    if "timeouts" in fields:
        for key, value in reader.mapping(fields["timeouts"], f"{where}.timeouts", ("test", "exercise")).items():
            timeouts[key] = reader.number(value, f"{where}.timeouts.{key}")
    budgets = {}
    if "budgets" in fields:
        for key, value in reader.mapping(fields["budgets"], f"{where}.budgets").items():
            budgets[key] = reader.number(value, f"{where}.budgets.{key}")
    env = {}
    if "env" in fields:
        for key, value in reader.mapping(fields["env"], f"{where}.env").items():
            env[key] = str(reader.scalar(value, f"{where}.env.{key}", str))
    run_api, run_programs = None, ()
    if "run" in fields:
        run = reader.mapping(fields["run"], f"{where}.run", ("api", "programs"))
        if "api" in run:
            run_api = reader.scalar(run["api"], f"{where}.run.api", str)
        if "programs" in run:
            run_programs = reader.strings(run["programs"], f"{where}.run.programs")
    tests = {}
    for name, test_node in reader.mapping(fields["tests"], f"{where}.tests").items():
        test_where = f"{where}.tests.{name}"
        if not name.startswith("test_"):
            raise reader.fail(test_node, f"{test_where}: test names start with test_")
        test_fields = reader.mapping(test_node, test_where, ("points", "visibility"))
        if "points" not in test_fields:
            raise reader.fail(test_node, f"{test_where} has no `points:`")
        tests[name] = TestSpec(
            name=name,
            points=reader.number(test_fields["points"], f"{test_where}.points", positive=False),
            visibility=_visibility(reader, test_fields["visibility"], f"{test_where}.visibility")
            if "visibility" in test_fields
            else defaults["visibility"],
            line=test_node.start_mark.line + 1,
        )
    if not tests:
        raise reader.fail(fields["tests"], f"{where}.tests lists no tests")
    return ExerciseSpec(
        id=exercise_id,
        title=reader.scalar(fields["title"], f"{where}.title", str),
        student_files=reader.strings(fields["student_files"], f"{where}.student_files"),
        time_scale=reader.number(fields["time_scale"], f"{where}.time_scale") if "time_scale" in fields else 1.0,
        budgets=budgets,
        test_timeout=timeouts["test"],
        exercise_timeout=timeouts["exercise"],
        env=env,
        tests=tests,
        line=node.start_mark.line + 1,
        run_api=run_api,
        run_programs=run_programs,
    )
