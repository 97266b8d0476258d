"""The report protocol: the plugin writes one line per test, the runner, `check` and `validate` read the same
lines, and one command line makes them; a grading run says so, and is sealed and sandboxed for it."""

from __future__ import annotations

import json
import stat
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ticketrail import bytecode
from ticketrail.report import ReportError, ReportLine, ReportWriter, follow_report, pytest_command, read_report
from ticketrail.report_seal import KEY_VARIABLE, ReportSeal
from ticketrail.waiting import wait_until

GRADERS = '''
import pytest


@pytest.mark.task(2)
def test_a_passing_check():
    pass


def test_a_failing_check():
    assert False, "Called nothing. Saw nothing; look at the README's task 1."


@pytest.mark.skip(reason="not this time")
def test_a_skipped_check():
    pass


@pytest.fixture
def oven():
    raise RuntimeError("the oven did not start")


def test_a_check_whose_setup_fails(oven):
    pass


def test_student_code_runs_unprivileged(call_student_function):
    result = call_student_function("app", "uid")
    assert result.ok and result.value != 0, f"the student's code ran as uid {result.value}"
'''

GRADING_YML = '''
exercises:
  "01":
    title: Tiny
    student_files: [app.py]
    tests:
      test_a_passing_check: {points: 1}
      test_a_failing_check: {points: 1}
      test_a_skipped_check: {points: 1}
      test_a_check_whose_setup_fails: {points: 1}
      test_student_code_runs_unprivileged: {points: 1}
  "02":
    title: Broken
    student_files: [app.py]
    tests:
      test_never_collected: {points: 1}
'''


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kit")
    files = {"pyproject.toml": "[tool.pytest.ini_options]\n", "grading.yml": GRADING_YML,
             "graders/01/test_tiny.py": GRADERS, "graders/02/test_broken.py": "import a_module_nobody_wrote\n",
             "starter/01/app.py": "import os\n\n\ndef uid():\n    return os.getuid()\n",
             "starter/02/app.py": ""}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def run(kit: Path, exercise_id: str, tmp_path: Path, grading: bool) -> tuple[list[ReportLine], Path, str]:
    report = tmp_path / f"report-{exercise_id}-{grading}.jsonl"
    command = pytest_command(kit, kit / "graders" / exercise_id, kit / "starter" / exercise_id, report,
                             grading=grading)
    done = subprocess.run(command.argv, cwd=command.cwd, env=command.env, capture_output=True, text=True, timeout=300)
    return read_report(report, command.seal()), report, done.stdout + done.stderr


def test_each_test_is_one_line_with_its_outcome_task_and_what_it_said(kit, tmp_path):
    lines, _, output = run(kit, "01", tmp_path, grading=False)
    by_name = {line.name: line for line in lines}
    assert len(lines) == len(by_name) == 5, output
    assert (by_name["test_a_passing_check"].outcome, by_name["test_a_passing_check"].task) == ("passed", 2), output
    assert by_name["test_a_failing_check"].outcome == "failed"
    assert "Called nothing. Saw nothing" in by_name["test_a_failing_check"].message
    assert (by_name["test_a_skipped_check"].outcome, by_name["test_a_skipped_check"].message) == \
        ("skipped", "Skipped: not this time")
    assert by_name["test_a_check_whose_setup_fails"].outcome == "error"
    assert "the oven did not start" in by_name["test_a_check_whose_setup_fails"].message
    assert all(line.nodeid.startswith("graders/01/test_tiny.py::") for line in lines)


def test_a_file_that_cannot_be_collected_is_one_line_without_a_name(kit, tmp_path):
    lines, _, output = run(kit, "02", tmp_path, grading=False)
    assert [(line.name, line.outcome) for line in lines] == [(None, "collect_error")], output
    assert "a_module_nobody_wrote" in lines[0].message


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox is root's: elsewhere student code runs as its caller")
def test_only_a_run_that_says_it_grades_puts_student_code_in_the_sandbox(kit, tmp_path):
    checked, _, output = run(kit, "01", tmp_path, grading=False)
    graded, _, output_graded = run(kit, "01", tmp_path, grading=True)
    outcome = {line.name: line.outcome for line in checked}["test_student_code_runs_unprivileged"]
    assert outcome == "failed", f"a self-check run (a report, no grading) ran student code in the sandbox\n{output}"
    outcome = {line.name: line.outcome for line in graded}["test_student_code_runs_unprivileged"]
    assert outcome == "passed", f"a grading run as root ran student code as root\n{output_graded}"


def test_a_grading_run_is_sealed_to_its_closing_line(kit, tmp_path):
    lines, report, output = run(kit, "01", tmp_path, grading=True)
    written = [json.loads(text) for text in report.read_text().splitlines()]
    assert all("mac" in entry for entry in written) and written[-1]["end"], output
    assert written[-1]["lines"] == len(lines) == 5
    with pytest.raises(ReportError, match="not the one the graders wrote"):
        read_report(report, ReportSeal("a key guessed by someone else"))


def test_grading_without_a_report_is_refused(kit):
    done = subprocess.run([sys.executable, "-m", "pytest", "graders/01", "--ticketrail-grading", "-p", "no:cacheprovider"],
                          cwd=kit, capture_output=True, text=True, timeout=300)
    assert done.returncode == 4 and "--ticketrail-grading needs --ticketrail-report" in done.stderr, done.stderr


def test_what_the_writer_writes_the_reader_reads_back_sealed_or_not(tmp_path):
    lines = [ReportLine("graders/01/test_x.py::test_a", "test_a", "failed", 1.5, "saw 3", "details", task=1),
             ReportLine("graders/01/test_y.py", None, "collect_error", message="no module")]
    for key in ("", "k" * 64):
        path = tmp_path / f"report{len(key)}.jsonl"
        writer = ReportWriter(path, key)
        for line in lines:
            writer.write(line)
        writer.close()
        assert read_report(path, ReportSeal(key) if key else None) == lines


@pytest.mark.parametrize("text, problem", [
    ("not json", "line 2 of the report is not JSON"),
    ("[1, 2]", "line 2 of the report is not an object"),
    ('{"nodeid": "x", "name": "test_x", "outcome": "won"}', "line 2 of the report is not a test's line"),
    ('{"name": "test_x", "outcome": "passed"}', "line 2 of the report is not a test's line"),
])
def test_a_line_the_plugin_would_not_write_is_refused_and_named(tmp_path, text, problem):
    path = tmp_path / "report.jsonl"
    path.write_text(json.dumps(ReportLine("x", "test_a").to_json()) + "\n" + text + "\n")
    with pytest.raises(ReportError) as refused:
        read_report(path)
    assert str(refused.value) == problem


def test_following_yields_each_line_once_as_it_is_written_never_half_of_one(tmp_path):
    path = tmp_path / "report.jsonl"
    path.touch()
    done = threading.Event()
    first, second = (json.dumps(ReportLine(f"t::{name}", name).to_json()) for name in ("test_a", "test_b"))
    seen: list[str | None] = []

    def writer() -> None:
        try:
            with open(path, "a") as file:
                file.write(first + "\n" + second[:10])
                file.flush()
                wait_until(lambda: seen == ["test_a"], 10, lambda: f"while the second line was half written: {seen}")
                file.write(second[10:] + "\n")
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    for line in follow_report(path, lambda: not done.is_set(), poll=0.01):
        seen.append(line.name)
    thread.join()
    assert seen == ["test_a", "test_b"]


def test_a_grading_command_says_so_and_drops_what_the_shell_set_and_a_check_keeps_the_students_shell(monkeypatch,
                                                                                                     tmp_path):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-x")
    monkeypatch.setenv(KEY_VARIABLE, "a key from the shell")
    args = (tmp_path, tmp_path / "graders" / "01", "starter", tmp_path / "report.jsonl")
    grading = pytest_command(*args, grading=True)
    check = pytest_command(*args, grading=False, shell_environment=True)
    validate = pytest_command(*args, grading=False)
    assert "--ticketrail-grading" in grading.argv and grading.seal_key and grading.env[KEY_VARIABLE] == grading.seal_key
    assert "REDIS_URL" not in grading.env and "PYTEST_ADDOPTS" not in grading.env
    assert "--ticketrail-grading" not in check.argv + validate.argv and check.seal_key is validate.seal_key is None
    assert check.env["REDIS_URL"] == "redis://127.0.0.1:1/0", "a student's REDIS_URL names their Redis"
    assert "REDIS_URL" not in validate.env and KEY_VARIABLE not in validate.env
    for command in (grading, check, validate):
        assert "--noconftest" in command.argv and command.argv[command.argv.index("-c") + 1] == str(
            tmp_path / "pyproject.toml"), "every run uses the kit's own ini and no conftest.py"
        assert "--student-user" not in command.argv, "whether student code is sandboxed follows from the grading flag"


def test_a_run_where_the_shell_forbids_bytecode_keeps_it_in_the_kits_own_cache_folder(monkeypatch, tmp_path):
    """A grading starts dozens of interpreters; without bytecode each compiles the kit again (a third of its CPU).
    The user's trees stay free of __pycache__ as PYTHONDONTWRITEBYTECODE asks; the cache is its owner's alone."""
    monkeypatch.setattr(bytecode, "cache_folder", lambda name: tmp_path / "cache" / name)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    args = (tmp_path, tmp_path / "graders" / "01", "starter", tmp_path / "report.jsonl")
    for command in (pytest_command(*args, grading=True), pytest_command(*args, grading=False, shell_environment=True)):
        assert "PYTHONDONTWRITEBYTECODE" not in command.env, "the kit's interpreters write their bytecode"
        assert command.env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "cache" / "bytecode"), command.env
    folder = tmp_path / "cache" / "bytecode"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, "no other user may read the graders' bytecode or plant any"

    folder.chmod(0o755)
    shared = pytest_command(*args, grading=True)
    assert shared.env.get("PYTHONDONTWRITEBYTECODE") == "1" and "PYTHONPYCACHEPREFIX" not in shared.env, (
        "a cache folder other users can read is not used: the shell's choice stands")

    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE")
    default = pytest_command(*args, grading=True)
    assert "PYTHONPYCACHEPREFIX" not in default.env, "where bytecode is written as usual, nothing changes"


def test_the_bytecode_of_a_folder_that_is_gone_is_dropped_once_a_day(tmp_path):
    cache = tmp_path / "cache"
    live, gone = tmp_path / "kit" / "graders" / "01", tmp_path / "old-handout" / "exercises" / "01"
    live.mkdir(parents=True)
    for source in (live, gone):
        mirror = cache / source.relative_to("/")
        mirror.mkdir(parents=True)
        (mirror / "test_x.cpython-311.pyc").write_bytes(b"")
    dropped = bytecode.forget_gone_sources(cache)
    assert dropped == [cache / (tmp_path / "old-handout").relative_to("/")], (
        f"only the mirror of the folder that is gone goes, from its top: {dropped}")
    assert not dropped[0].exists(), "the bytecode of a folder that is gone is deleted"
    assert (cache / live.relative_to("/") / "test_x.cpython-311.pyc").is_file(), "a live folder's bytecode stays"
    (cache / gone.relative_to("/")).mkdir(parents=True)
    assert bytecode.forget_gone_sources(cache) == [], "the cache is looked through once a day, not at every run"
