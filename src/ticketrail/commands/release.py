"""`ticketrail release OUT`: the student handout, and proof that nothing hidden is in it.

The handout holds exercises/, starter/, a pristine copy of the starters (.pristine/, for
`ticketrail reset`), the harness (src/ticketrail), a pyproject for `pip install -e .`, a
student README, a grading.yml with no hidden test in it, and a GitHub Classroom workflow.
It never holds reference/ or graders/. It is built in a scratch folder beside OUT and
moved into place only when no hidden test name and no reference line is found in it.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from ticketrail import classroom
from ticketrail import config as grading_config
from ticketrail.commands._common import fail
from ticketrail.kit import Kit, normalise_id

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", ".ticketrail")
GITIGNORE = ".venv/\n__pycache__/\n*.egg-info/\n.pytest_cache/\n.ticketrail/\n"
PRISTINE_NOTE = (
    "# The starters as handed out\n\n"
    "`ticketrail reset NN` restores `starter/NN` from `NN/` here. Edit `starter/NN`, not these.\n"
)
# Shorter lines of a reference solution are too common to mean anything (`return job`).
MIN_REFERENCE_LINE = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("release", help="write the student handout (no reference, no graders)")
    parser.add_argument("out", type=Path, help="the folder to write; must not exist yet (or use --force)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="release only these exercises, e.g. --only 01 02")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.set_defaults(handler=run)


class ReleaseError(RuntimeError):
    """The kit is not ready to release (an exercise lacks its starter, README or self-checks)."""


def chosen_exercises(root: Path, config: grading_config.GradingConfig, only: list[str] | None) -> list[str]:
    ready = [e for e in sorted(config.exercises) if (root / "exercises" / e).is_dir()]
    if only:
        wanted = [normalise_id(e) or e.strip() for e in only]
        unknown = [e for e in wanted if e not in ready]
        if unknown:
            raise ReleaseError(f"no exercise {', '.join(unknown)} to release (there are: {', '.join(ready)})")
        ready = [e for e in ready if e in wanted]
    for exercise_id in ready:
        missing = [what for what, there in (
            (f"starter/{exercise_id}/", (root / "starter" / exercise_id).is_dir()),
            (f"exercises/{exercise_id}/README.md", (root / "exercises" / exercise_id / "README.md").is_file()),
            (f"self-checks in exercises/{exercise_id}/test_*.py", bool(classroom.self_checks(root, exercise_id))),
        ) if not there]
        if missing:
            finished = [e for e in ready if e != exercise_id]
            raise ReleaseError(f"exercise {exercise_id} is not ready: it has no {' and no '.join(missing)}"
                               + (f" (release the others with --only {' '.join(finished)})" if finished else ""))
    return ready


def student_grading_yml(config: grading_config.GradingConfig, checks: dict[str, list[classroom.SelfCheck]]) -> str:
    """grading.yml for the handout: what the self-checks need, and the self-checks in place of the graders."""
    exercises = {}
    for exercise_id, found in checks.items():
        spec = config.exercise(exercise_id)
        entry: dict = {"title": spec.title, "student_files": list(spec.student_files), "time_scale": spec.time_scale}
        if spec.budgets:
            entry["budgets"] = dict(spec.budgets)
        entry["timeouts"] = {"test": spec.test_timeout, "exercise": spec.exercise_timeout}
        if spec.env:
            entry["env"] = dict(spec.env)
        run = {}
        if spec.run_api:
            run["api"] = spec.run_api
        if spec.run_programs:
            run["programs"] = list(spec.run_programs)
        if run:
            entry["run"] = run
        entry["tests"] = {check.name: {"points": 1} for check in found}
        exercises[exercise_id] = entry
    header = (
        "# grading.yml of the handout: the settings the self-checks and `ticketrail run` read.\n"
        "# Under `tests:` are the visible self-checks of exercises/NN and the points GitHub Classroom\n"
        "# gives for each; the marks come from hidden graders run by your instructor.\n\n"
    )
    return header + yaml.safe_dump({"exercises": exercises}, sort_keys=False, allow_unicode=True, width=100)


def handout_pyproject(root: Path) -> str:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    pytest_section = (
        "[tool.pytest.ini_options]\n"
        'testpaths = ["exercises"]\n'
        'addopts = "--import-mode=importlib -p no:cacheprovider -p no:anyio"\n'
    )
    section = re.compile(r"^\[tool\.pytest\.ini_options\]\n.*?(?=^\[|\Z)", re.M | re.S)
    if section.search(text):
        return section.sub(pytest_section + "\n", text).rstrip() + "\n"
    return text.rstrip() + "\n\n" + pytest_section


def handout_readme(root: Path, config: grading_config.GradingConfig, exercise_ids: list[str]) -> str:
    rows = [
        f"| {e} | {config.exercise(e).title} | [exercises/{e}/README.md](exercises/{e}/README.md) | `starter/{e}/` |"
        for e in exercise_ids
    ]
    return (TEMPLATES / "handout_README.md").read_text(encoding="utf-8").replace("@exercises@", "\n".join(rows))


def build(root: Path, out: Path, only: list[str] | None = None) -> list[str]:
    """Write the handout into `out` (which must not exist); returns the exercises released."""
    config = grading_config.load(root / "grading.yml")
    exercise_ids = chosen_exercises(root, config, only)
    checks = {e: classroom.self_checks(root, e) for e in exercise_ids}
    out.mkdir(parents=True)
    for exercise_id in exercise_ids:
        shutil.copytree(root / "exercises" / exercise_id, out / "exercises" / exercise_id, ignore=SKIPPED)
        shutil.copytree(root / "starter" / exercise_id, out / "starter" / exercise_id, ignore=SKIPPED)
        shutil.copytree(root / "starter" / exercise_id, out / ".pristine" / exercise_id, ignore=SKIPPED)
    (out / ".pristine" / "README.md").write_text(PRISTINE_NOTE, encoding="utf-8")
    shutil.copytree(root / "src" / "ticketrail", out / "src" / "ticketrail", ignore=SKIPPED)
    if (root / "docs" / "student.md").is_file():
        (out / "docs").mkdir()
        shutil.copy2(root / "docs" / "student.md", out / "docs" / "student.md")
    (out / "pyproject.toml").write_text(handout_pyproject(root), encoding="utf-8")
    (out / "grading.yml").write_text(student_grading_yml(config, checks), encoding="utf-8")
    (out / "README.md").write_text(handout_readme(root, config, exercise_ids), encoding="utf-8")
    (out / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    workflows = out / ".github" / "workflows"
    workflows.mkdir(parents=True)
    all_checks = [check for e in exercise_ids for check in checks[e]]
    points = {check.name: 1.0 for check in all_checks}
    timeouts = {e: config.exercise(e).test_timeout for e in exercise_ids}
    (workflows / "classroom.yml").write_text(classroom.workflow(all_checks, points, timeouts), encoding="utf-8")
    return exercise_ids


# --- what must never be in a handout ---------------------------------------------------------


def _text_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
            and p.suffix not in (".pyc", ".zip", ".png")]


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace")


def _test_names(path: Path) -> set[str]:
    try:
        tree = ast.parse(_read(path))
    except SyntaxError:
        return set()
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")}


def hidden_test_names(root: Path) -> set[str]:
    """Names of grader tests that no visible self-check shares."""
    hidden: set[str] = set()
    for path in (root / "graders").rglob("*.py"):
        hidden |= _test_names(path)
    visible: set[str] = set()
    for path in (root / "exercises").rglob("*.py"):
        visible |= _test_names(path)
    return hidden - visible


def reference_lines(root: Path) -> dict[str, str]:
    """Lines of the reference solutions that no code handed out by design contains (the starters, the
    harness, the self-checks), each with where it comes from. READMEs are not in that baseline: a README
    that quotes the solution leaks it."""
    sources = [*_text_files(root / "starter"), *_text_files(root / "src" / "ticketrail"),
               *(root / "exercises").rglob("*.py")]
    handed_out = {line.strip() for path in sources for line in _read(path).splitlines()}
    found = {}
    for path in _text_files(root / "reference"):
        for number, line in enumerate(_read(path).splitlines(), start=1):
            text = line.strip()
            if len(text) >= MIN_REFERENCE_LINE and text not in handed_out:
                found.setdefault(text, f"{path.relative_to(root)}:{number}")
    return found


def find_leaks(root: Path, handout: Path) -> list[str]:
    """Every hidden test name, reference line or hidden folder found in the handout, as 'where: what'."""
    problems = [f"{path.relative_to(handout)}: a {part}/ folder"
                for path in handout.rglob("*") if path.is_dir() for part in ("reference", "graders")
                if path.name == part]
    names = hidden_test_names(root)
    lines = reference_lines(root)
    # Whole names only: a hidden test_x is not leaked by a visible test_x_quickly.
    name_pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b") \
        if names else None
    for path in _text_files(handout):
        text = _read(path)
        where = path.relative_to(handout)
        if name_pattern:
            problems += [f"{where}: hidden test name {name}" for name in sorted(set(name_pattern.findall(text)))]
        stripped = {line.strip() for line in text.splitlines()}
        problems += [f"{where}: reference line from {origin}: {line}"
                     for line, origin in lines.items() if line in stripped]
    return problems


def run(options: argparse.Namespace) -> int:
    kit = Kit.find()
    root = kit.root
    out = options.out.resolve()
    if out.exists() and not out.is_dir():
        fail(f"{out} is a file; the handout is a folder: choose another name.")
    if out.exists() and any(out.iterdir()) and not options.force:
        fail(f"{out} exists and is not empty; choose another folder or add --force to replace it.")
    try:
        chosen_exercises(root, kit.config, options.only)  # a wrong --only is refused before anything is written
    except (ReleaseError, grading_config.ConfigError) as error:
        fail(f"cannot release: {error}")
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        released = build(root, scratch / "handout", options.only)
        leaks = find_leaks(root, scratch / "handout")
        if leaks:
            print("The handout would leak hidden material; nothing was written:", file=sys.stderr)
            print("\n".join(f"  {leak}" for leak in leaks[:50]), file=sys.stderr)
            return 1
        if out.exists():
            shutil.rmtree(out)
        (scratch / "handout").rename(out)
    except (ReleaseError, grading_config.ConfigError) as error:
        print(f"ticketrail: cannot release: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"Wrote the handout of exercises {', '.join(released)} to {out}.")
    print("No hidden test name and no reference line is in it. Students: pip install -e . then ticketrail status.")
    print("For GitHub Classroom, push it as the assignment's template repository "
          "(.github/workflows/classroom.yml runs the self-checks on every push).")
    return 0
