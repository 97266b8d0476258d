"""The kit as one value: where things are, which exercise an id names, an implementation laid over the starter;
and the command line's one convention for naming an exercise and failing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ticketrail.commands import release
from ticketrail.kit import Kit, KitError, UnknownExercise, resolve_impl

from helpers import KIT


def copy_kit(into: Path, exercises: tuple[str, ...] = ("01", "02", "05"), reference: bool = True) -> Path:
    """A small kit holding just these exercises or, without reference, their handout as `release` writes it."""
    if not reference:
        release.build(KIT, into, only=list(exercises))
        return into
    into.mkdir()
    shutil.copy(KIT / "grading.yml", into / "grading.yml")
    for eid in exercises:
        for folder in ("starter", "exercises", "reference", "graders"):
            shutil.copytree(KIT / folder / eid, into / folder / eid, ignore=shutil.ignore_patterns("__pycache__"))
    return into


def ticketrail(folder: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ticketrail.cli", *args], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def said(result: subprocess.CompletedProcess) -> str:
    return f"exit code {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


# --- the Kit value ---------------------------------------------------------------------------


def test_the_kit_is_found_from_any_folder_inside_it():
    assert Kit.find(KIT / "starter" / "01").root == KIT
    assert Kit.find(KIT / "exercises" / "05").config.path == KIT / "grading.yml"


def test_outside_a_kit_the_error_says_where_to_run_ticketrail(tmp_path):
    with pytest.raises(KitError, match="run ticketrail from the kit's folder"):
        Kit.find(tmp_path)


def test_grading_yml_is_loaded_once():
    kit = Kit(KIT)
    assert kit.config is kit.config


@pytest.mark.parametrize("typed", ["1", "01", " 01", "001", "01 "])
def test_1_01_and_a_padded_01_all_name_exercise_01(typed):
    assert Kit(KIT).exercise(typed).id == "01", f"Kit.exercise({typed!r}) should be exercise 01"


@pytest.mark.parametrize("typed", ["07", "7", "x", "", "1.0"])
def test_an_unknown_exercise_is_one_error_listing_the_known_ones(typed):
    with pytest.raises(UnknownExercise) as raised:
        Kit(KIT).exercise(typed)
    assert str(raised.value).endswith("the exercises are 01, 02, 03, 04, 05, 06."), str(raised.value)


def test_an_exercises_folders_are_named_by_the_kit():
    kit = Kit(KIT)
    assert (kit.starter("02"), kit.reference("02"), kit.graders("02"), kit.self_checks("02")) == (
        KIT / "starter/02", KIT / "reference/02", KIT / "graders/02", KIT / "exercises/02")
    assert kit.known_wrong("01") and all(p.parent == KIT / "tests/wrong/01" and p.is_dir() for p in kit.known_wrong("01"))


def test_a_handout_has_no_reference_and_offers_none(tmp_path):
    handout = Kit(copy_kit(tmp_path / "handout", reference=False))
    assert handout.is_handout and handout.reference("01") is None and handout.known_wrong("01") == []
    assert handout.impl_choices() == ("starter",) and Kit(KIT).impl_choices() == ("starter", "reference")
    with pytest.raises(KitError, match="handout and has no reference"):
        resolve_impl(handout.root, "reference", "01")


# --- laying folders over the starter ---------------------------------------------------------


def test_assemble_lays_only_the_students_files_over_the_starter_in_order(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for layer, text in ((first, "first"), (second, "second")):
        layer.mkdir()
        (layer / "subscribers.py").write_text(f"# {text}\n")
        (layer / "worker.py").write_text("# the kit's worker, changed: must not be used\n")
    (first / "app.py").write_text("# first's app\n")
    folder = Kit(KIT).assemble("5", first, second, into=tmp_path / "05")
    assert sorted(p.name for p in folder.iterdir()) == ["app.py", "subscribers.py", "worker.py"]
    assert (folder / "subscribers.py").read_text() == "# second\n", "a later layer wins"
    assert (folder / "app.py").read_text() == "# first's app\n", "a file a later layer lacks comes from an earlier one"
    assert (folder / "worker.py").read_bytes() == (KIT / "starter/05/worker.py").read_bytes(), \
        "worker.py is not a student file of exercise 05: the starter's (the kit's) is used"


def test_assemble_names_a_layer_that_is_not_a_folder(tmp_path):
    with pytest.raises(KitError, match=f"{tmp_path / 'nowhere'} is not a folder"):
        Kit(KIT).assemble("01", tmp_path / "nowhere", into=tmp_path / "01")


def test_a_missing_starter_is_named_as_the_kits_not_the_students(tmp_path):
    kit = copy_kit(tmp_path / "kit", exercises=("01",))
    shutil.rmtree(kit / "starter" / "01")
    with pytest.raises(KitError, match="belongs to the kit, not to your work"):
        Kit(kit).assemble("01", KIT / "reference" / "01", into=tmp_path / "01")


def test_in_a_handout_the_layers_go_over_the_starter_as_handed_out(tmp_path):
    handout = copy_kit(tmp_path / "handout", exercises=("02",), reference=False)
    (handout / "starter/02/worker.py").write_text("# the student's half-done worker\n")
    student = tmp_path / "student"
    student.mkdir()
    (student / "app.py").write_text("# the student's app\n")
    folder = Kit(handout).assemble("02", student, into=tmp_path / "02")
    assert (folder / "worker.py").read_bytes() == (KIT / "starter/02/worker.py").read_bytes(), \
        "the pristine starter (.pristine/02), not the edited starter/02, is the bottom layer"


def test_impl_folder_with_only_the_students_files_is_laid_over_the_starter_once(tmp_path):
    student = tmp_path / "student"
    student.mkdir()
    shutil.copy(KIT / "reference/05/subscribers.py", student / "subscribers.py")
    shutil.copy(KIT / "reference/05/app.py", student / "app.py")
    folder = resolve_impl(KIT, str(student), "05", scratch=tmp_path)
    assert folder != student and (folder / "worker.py").is_file(), "worker.py comes from the starter"
    assert resolve_impl(KIT, str(student), "05", scratch=tmp_path) == folder, "assembled once, then reused"
    assert resolve_impl(KIT, str(KIT / "reference"), "05") == KIT / "reference/05", \
        "a folder holding every file is used as it is"


def test_pytest_grades_a_folder_that_holds_only_the_students_files(tmp_path):
    student = tmp_path / "student"
    student.mkdir()
    for name in ("app.py", "subscribers.py"):
        shutil.copy(KIT / "reference/05" / name, student / name)
    grader = "test_the_email_subscriber_hands_each_event_to_the_job_queue"  # it starts worker.py, the kit's
    result = subprocess.run([sys.executable, "-m", "pytest", "graders/05", "-k", grader, "--impl", str(student),
                             "--redis", "embedded", "-p", "no:cacheprovider", "-q", "--no-header", "--student-user",
                             "none"], cwd=KIT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "1 passed" in result.stdout, (
        "pytest graders/05 --impl FOLDER, with only app.py and subscribers.py in FOLDER, should grade them "
        "with the starter's worker.py, as `ticketrail grade` does\n" + said(result))


# --- one command-line convention ---------------------------------------------------------------


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    return copy_kit(tmp_path_factory.mktemp("kits") / "handout", exercises=("01", "02"), reference=False)


@pytest.mark.parametrize("command", ["run 07", "run 7", "check 07", "hint 07", "watch 07", "reset 07 --yes"])
def test_an_unknown_exercise_ends_every_command_in_one_clear_line(handout, command):
    result = ticketrail(handout, *command.split())
    assert result.returncode == 2, said(result)
    typed = command.split()[1]
    assert result.stdout == "" and result.stderr.strip().splitlines() == [
        f"ticketrail: There is no exercise '{typed}' in this kit; the exercises are 01, 02."], said(result)
    assert not (handout / ".ticketrail").exists(), f"`ticketrail {command}` changed something before refusing"


@pytest.mark.parametrize("command", ["run 01", "check 01", "status", "hint 01", "validate", "release out"])
def test_a_malformed_grading_yml_is_refused_by_every_command_with_its_file_and_line(tmp_path, command):
    kit = copy_kit(tmp_path / "kit", exercises=("01",))
    text = (kit / "grading.yml").read_text().splitlines()
    broken = next(n for n, line in enumerate(text) if line.strip().startswith("tests:"))
    text[broken] = text[broken].replace(":", "", 1)
    (kit / "grading.yml").write_text("\n".join(text) + "\n")
    result = ticketrail(kit, *command.split())
    assert result.returncode == 2 and "Traceback" not in result.stderr, said(result)
    assert f"grading.yml:{broken + 1}: not valid YAML" in result.stderr, (
        f"the error should name the file and the line that broke ({broken + 1})\n" + said(result))
    assert not (kit / ".ticketrail").exists() and not (kit / "out").exists(), said(result)


def test_hint_takes_1_as_well_as_01(tmp_path):
    handout = copy_kit(tmp_path / "handout", exercises=("01",), reference=False)
    first, second = ticketrail(handout, "hint", "1"), ticketrail(handout, "hint", " 01")
    assert first.returncode == second.returncode == 0, said(first) + said(second)
    assert first.stdout.startswith("Hint 1 of") and second.stdout.startswith("Hint 2 of"), said(first) + said(second)


@pytest.mark.parametrize("command", ["run 01 --impl reference", "check 01 --impl reference"])
def test_in_a_handout_impl_reference_is_refused_before_anything_starts(handout, command):
    result = ticketrail(handout, *command.split())
    assert result.returncode == 2 and "has no reference solutions" in result.stderr, said(result)
    assert "Traceback" not in result.stderr and not (handout / ".ticketrail").exists(), said(result)


@pytest.mark.parametrize("command", ["run", "check", "watch"])
def test_the_help_of_impl_offers_reference_only_where_there_is_one(handout, command):
    in_handout, in_kit = ticketrail(handout, command, "--help"), ticketrail(KIT, command, "--help")
    assert "reference" not in in_handout.stdout.split("--impl IMPL", 1)[1].split("--", 1)[0], said(in_handout)
    assert "reference" in in_kit.stdout.split("--impl IMPL", 1)[1], said(in_kit)


def test_a_bad_redis_choice_is_a_usage_error(handout):
    result = ticketrail(handout, "run", "01", "--redis", "memcached")
    assert result.returncode == 2 and "--redis takes server, embedded or a redis:// URL" in result.stderr, said(result)


def test_status_into_a_pipe_nobody_reads_ends_without_a_traceback(handout):
    # As `ticketrail status | head -1` when head has gone: the pipe's reading end is closed before anything is written.
    reading, writing = os.pipe()
    os.close(reading)
    try:
        result = subprocess.run([sys.executable, "-m", "ticketrail.cli", "status"], cwd=handout, stdout=writing,
                                stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(writing)
    assert result.stderr == "" and result.returncode == 141, \
        f"exit code {result.returncode}, stderr:\n{result.stderr}"


@pytest.fixture(scope="module")
def instructors_kit(tmp_path_factory) -> Path:
    return copy_kit(tmp_path_factory.mktemp("kits") / "kit", exercises=("01", "02"))  # grading.yml names all six


@pytest.mark.parametrize("command", ["grade {class} --out {out} -e 07", "grade {class} --out {out} -e 01,7",
                                     "validate -e 7", "gradescope {out} -e 07"])
def test_an_instructors_command_refuses_an_unknown_exercise_in_one_line_before_writing_anything(
        instructors_kit, tmp_path, command):
    (tmp_path / "class" / "ada").mkdir(parents=True)
    argv = command.format(**{"class": tmp_path / "class", "out": tmp_path / "out"}).split()
    result = ticketrail(instructors_kit, *argv)
    typed = argv[-1].split(",")[-1]
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == (
        f"ticketrail: There is no exercise '{typed}' in this kit; the exercises are 01, 02, 03, 04, 05, 06."), \
        said(result)
    assert not (tmp_path / "out").exists(), f"`ticketrail {command}` wrote something before refusing"


def test_release_refuses_an_unknown_exercise_before_writing_anything(tmp_path):
    result = ticketrail(KIT, "release", str(tmp_path / "out"), "--only", "9")
    assert result.returncode == 2 and "no exercise 09 to release" in result.stderr, said(result)
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [], said(result)


@pytest.mark.parametrize("how", ["interrupt_on_terminate()\nif True:", "with stopped_by_signals():"])
def test_sigterm_stops_a_command_as_ctrl_c_does(how):
    program = ("import time\nfrom ticketrail.commands._common import interrupt_on_terminate, stopped_by_signals\n"
               f"{how}\n"
               "    try:\n        print('ready', flush=True)\n        time.sleep(60)\n"
               "    except KeyboardInterrupt:\n        print('interrupted', flush=True)\n")
    process = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGTERM)
        assert process.stdout.readline().strip() == "interrupted", \
            "SIGTERM should raise KeyboardInterrupt, so the command stops what it started"
    finally:
        process.kill()
        process.wait(10)
