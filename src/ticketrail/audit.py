"""graders/NN/audit.yml: every rule an exercise's README states, the grader test that fails when it
is broken, and the known-wrong solution (tests/wrong/NN/<name>) that shows it does.

    rules:
      - rule: "What the README says, as one sentence"
        where: "Contract"
        grader: test_the_hidden_grader_that_catches_it
        wrong: the_known_wrong_solution

`grader` and `wrong` take one name or a list of names; a rule holds when every known-wrong solution it
names fails every grader test it names. Loading is strict and every error names the file and line;
the checks that need grading.yml and the tests/wrong folders are `problems` and `unnamed_wrong`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ticketrail.config import ConfigError, ExerciseSpec, _Reader, compose

RULE_KEYS = ("rule", "where", "grader", "wrong")


@dataclass(frozen=True)
class Rule:
    rule: str
    where: str
    graders: tuple[str, ...]
    wrong: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Audit:
    exercise: str
    path: Path
    rules: tuple[Rule, ...]

    def caught_by(self) -> dict[str, set[str]]:
        """Known-wrong solution → the grader tests that must fail it, over every rule naming it."""
        found: dict[str, set[str]] = {}
        for rule in self.rules:
            for wrong in rule.wrong:
                found.setdefault(wrong, set()).update(rule.graders)
        return found


def audit_path(root: Path, exercise_id: str) -> Path:
    return root / "graders" / exercise_id / "audit.yml"


def wrong_root(root: Path, exercise_id: str) -> Path:
    return root / "tests" / "wrong" / exercise_id


def load(path: str | Path, exercise_id: str) -> Audit:
    path = Path(path)
    reader = _Reader(path)
    root = compose(path)
    top = reader.mapping(root, "the file", ("rules",))
    if "rules" not in top:
        raise reader.fail(root, "there is no `rules:` section")
    node = top["rules"]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise reader.fail(node, "rules must be a non-empty list, one item per rule the README states")
    rules = tuple(_rule(reader, item, index) for index, item in enumerate(node.value, start=1))
    seen: dict[str, int] = {}
    for rule in rules:
        if rule.rule in seen:
            raise ConfigError(f"{path}:{rule.line}: rule {rule.rule!r} is given twice (first on line {seen[rule.rule]})")
        seen[rule.rule] = rule.line
    return Audit(exercise_id, path, rules)


def _rule(reader: _Reader, node: yaml.Node, index: int) -> Rule:
    where = f"rules[{index}]"
    fields = reader.mapping(node, where, RULE_KEYS)
    for required in ("rule", "where"):
        if required not in fields:
            raise reader.fail(node, f"{where} has no `{required}:`")
    text = reader.scalar(fields["rule"], f"{where}.rule", str)
    section = reader.scalar(fields["where"], f"{where}.where", str)
    for value, key in ((text, "rule"), (section, "where")):
        if not value or not value.strip():
            raise reader.fail(fields[key], f"{where}.{key} is empty")
    graders = _names(reader, fields.get("grader"), f"{where}.grader")
    for name, grader_node in zip(graders, _items(fields.get("grader"))):
        if not name.startswith("test_"):
            raise reader.fail(grader_node, f"{where}.grader: {name!r} is not a grader test name (they start with test_)")
    wrong = _names(reader, fields.get("wrong"), f"{where}.wrong")
    for name, wrong_node in zip(wrong, _items(fields.get("wrong"))):
        if "/" in name or name.startswith("."):
            raise reader.fail(wrong_node, f"{where}.wrong: {name!r} is not a folder name in tests/wrong/NN/")
    return Rule(text.strip(), section.strip(), graders, wrong, node.start_mark.line + 1)


def _items(node: yaml.Node | None) -> list[yaml.Node]:
    if node is None:
        return []
    return list(node.value) if isinstance(node, yaml.SequenceNode) else [node]


def _names(reader: _Reader, node: yaml.Node | None, where: str) -> tuple[str, ...]:
    """One name or a list of names; absent or null is none (a problem `problems` reports, not a load error)."""
    names = []
    for item in _items(node):
        if isinstance(item, yaml.ScalarNode) and item.tag.endswith(":null"):
            continue
        name = reader.scalar(item, where, str)
        if not name or not name.strip():
            raise reader.fail(item, f"{where} is empty")
        names.append(name.strip())
    return tuple(names)


def problems(audit: Audit, spec: ExerciseSpec, wrong_folder: Path) -> list[str]:
    """What the audit names that does not exist, and rules without a grader test or known-wrong solution."""
    found = []
    for rule in audit.rules:
        at = f"{audit.path}:{rule.line}"
        if not rule.graders:
            found.append(f"{at}: rule {rule.rule!r} names no grader test that fails when it is broken")
        if not rule.wrong:
            found.append(f"{at}: rule {rule.rule!r} names no known-wrong solution that shows its grader catches it")
        for name in rule.graders:
            if name not in spec.tests:
                found.append(f"{at}: grader {name} is not a test of exercise {spec.id} in grading.yml")
        for name in rule.wrong:
            if not (wrong_folder / name).is_dir():
                found.append(f"{at}: known-wrong solution {name} is not a folder in {wrong_folder}")
    return found


def unnamed_wrong(audit: Audit, wrong_folder: Path) -> list[str]:
    """Known-wrong solutions in tests/wrong/NN that no rule names: what rule do they break?"""
    named = {name for rule in audit.rules for name in rule.wrong}
    folders = sorted(p.name for p in wrong_folder.iterdir() if p.is_dir()) if wrong_folder.is_dir() else []
    return [name for name in folders if name not in named and not name.startswith((".", "__"))]
