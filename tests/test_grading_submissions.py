"""Submissions are read without trusting them: only the listed student files, only regular files
under the size cap, never through a symbolic link, and zips are checked rather than unpacked."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from ticketrail import config
from ticketrail.grading import submissions
from ticketrail.grading.submissions import (
    FolderTree,
    Identity,
    Rejected,
    ZipTree,
    content_root,
    discover,
    find_handin,
    git_head,
    identity,
)

from helpers import KIT

SPEC = config.load(KIT / "grading.yml").exercise("01")
APP = b"app = 'the student's app'\n"


def make_zip(path: Path, entries: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 2, 14, 18, 30, 0))
            info.external_attr = (modes or {}).get(name, 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return path


def test_a_folder_a_zip_and_a_git_checkout_are_each_one_student(tmp_path):
    (tmp_path / "alice" / "01").mkdir(parents=True)
    (tmp_path / "carol" / ".git").mkdir(parents=True)
    make_zip(tmp_path / "Bob Smith_1234_assignsubmission_file_.zip", {"01/app.py": APP})
    (tmp_path / "grades-from-the-lms.csv").write_text("x")
    (tmp_path / ".DS_Store").write_text("x")
    found, notes = discover(tmp_path)
    assert [(s.student, s.kind) for s in found] == [
        ("Bob Smith_1234_assignsubmission_file_", "zip"), ("alice", "folder"), ("carol", "git")]
    assert notes == ["ignored grades-from-the-lms.csv (neither a folder nor a zip)"]


def test_a_student_who_handed_in_twice_is_reported_and_not_guessed_at(tmp_path):
    (tmp_path / "alice").mkdir()
    make_zip(tmp_path / "alice.zip", {"01/app.py": APP})
    found, notes = discover(tmp_path)
    assert found == []
    assert "alice handed in twice (alice/ and alice.zip)" in notes[0]


@pytest.mark.parametrize("layout", ["01/app.py", "starter/01/app.py", "alice-main/01/app.py",
                                    "alice-main/starter/01/app.py"])
def test_the_files_are_found_in_each_layout(tmp_path, layout):
    target = tmp_path / "alice" / layout
    target.parent.mkdir(parents=True)
    target.write_bytes(APP)
    handin = find_handin(FolderTree(tmp_path / "alice"), SPEC, flat=False)
    assert handin.complete and handin.files == {"app.py": APP}
    assert handin.folder == str(Path(layout).parent)


def test_files_at_the_top_count_only_when_one_exercise_is_graded(tmp_path):
    (tmp_path / "app.py").write_bytes(APP)
    assert find_handin(FolderTree(tmp_path), SPEC, flat=True).files == {"app.py": APP}
    missing = find_handin(FolderTree(tmp_path), SPEC, flat=False)
    assert missing.missing == ["app.py"]


def test_a_missing_file_is_explained_with_what_was_there_instead(tmp_path):
    (tmp_path / "01").mkdir()
    (tmp_path / "01" / "notes.txt").write_bytes(b"my notes")
    handin = find_handin(FolderTree(tmp_path), SPEC, flat=False)
    assert not handin.complete
    message = handin.explain_missing()
    assert "app.py is missing" in message and "Found there instead: notes.txt" in message and "scores 0" in message


@pytest.mark.parametrize("handed_in", ["main.py", "App.py", "app (1).py", "app.py.txt", "ap.py"])
def test_a_file_handed_in_under_the_wrong_name_is_reported_by_name(tmp_path, handed_in):
    (tmp_path / "01").mkdir()
    (tmp_path / "01" / handed_in).write_bytes(APP)
    (tmp_path / "01" / "README.md").write_bytes(b"# my work")
    message = find_handin(FolderTree(tmp_path), SPEC, flat=False).explain_missing()
    assert f"Found `{handed_in}`; the exercise wants `app.py`" in message, message
    assert "Found there also: README.md" in message, message


def test_two_missing_files_are_each_matched_to_their_look_alike(tmp_path):
    spec = config.load(KIT / "grading.yml").exercise("02")
    (tmp_path / "02").mkdir()
    (tmp_path / "02" / "api.py").write_bytes(APP)
    (tmp_path / "02" / "wroker.py").write_bytes(APP)
    handin = find_handin(FolderTree(tmp_path), spec, flat=False)
    assert handin.misnamed == {"app.py": "api.py", "worker.py": "wroker.py"}, handin.misnamed
    assert handin.missing == ["app.py", "worker.py"]


def test_an_unrelated_file_is_not_offered_as_the_missing_one(tmp_path):
    (tmp_path / "01").mkdir()
    (tmp_path / "01" / "helpers.py").write_bytes(APP)
    (tmp_path / "01" / "tests.py").write_bytes(APP)
    handin = find_handin(FolderTree(tmp_path), SPEC, flat=False)
    assert handin.misnamed == {}, "with two unexpected Python files, which one was meant is a guess"


@pytest.mark.parametrize("name, expected", [
    ("Kim Nguyen_302117_assignsubmission_file_", Identity("Kim Nguyen", "302117", "moodle")),
    ("Kim Nguyen_302117_assignsubmission_file_ticketrail", Identity("Kim Nguyen", "302117", "moodle")),
    ("Anne-Marie de la Tour_88_assignsubmission_file_", Identity("Anne-Marie de la Tour", "88", "moodle")),
    ("nguyenkim_302117_9876543_ticketrail", Identity("nguyenkim", "302117", "canvas")),
    ("nguyenkim_late_302117_9876543_ticketrail-1", Identity("nguyenkim", "302117", "canvas", late=True)),
    ("Week 9_knguyen_attempt_2026-02-14-18-30-00_ticketrail", Identity("knguyen", "knguyen", "blackboard")),
    ("Week_9 Ticket_Rail_knguyen_attempt_2026-02-14-18-30-00", Identity("knguyen", "knguyen", "blackboard")),
    ("ada_lovelace", Identity("ada_lovelace")),
    ("O'Brien, Liam", Identity("O'Brien, Liam")),
])
def test_an_lms_download_name_becomes_a_name_and_an_id(name, expected):
    assert identity(name) == expected


def test_the_key_stays_the_whole_download_name_so_two_attempts_stay_apart(tmp_path):
    for attempt in ("2026-02-14-18-30-00", "2026-02-15-09-00-00"):
        make_zip(tmp_path / f"Week 9_knguyen_attempt_{attempt}_ticketrail.zip", {"01/app.py": APP})
        (tmp_path / f"Week 9_knguyen_attempt_{attempt}.txt").write_text("Name: Kim Nguyen (knguyen)\n")
    found, notes = discover(tmp_path)
    assert [s.student for s in found] == [f"Week 9_knguyen_attempt_{a}_ticketrail"
                                          for a in ("2026-02-14-18-30-00", "2026-02-15-09-00-00")]
    assert {s.identity.id for s in found} == {"knguyen"}
    assert notes == ["blackboard id knguyen handed in 2 times (Week 9_knguyen_attempt_2026-02-14-18-30-00_ticketrail, "
                     "Week 9_knguyen_attempt_2026-02-15-09-00-00_ticketrail): each is graded under its own name; "
                     "keep the one that counts"], "Blackboard's receipts hold no work and are passed over quietly"


def test_a_symbolic_link_is_refused_and_reported(tmp_path):
    (tmp_path / "01").mkdir()
    (tmp_path / "01" / "app.py").symlink_to("/etc/passwd")
    handin = find_handin(FolderTree(tmp_path), SPEC, flat=False)
    assert handin.missing == ["app.py"] and handin.files == {}
    assert "symbolic link" in handin.refused[0]


def test_a_folder_reached_through_a_symbolic_link_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "app.py").write_bytes(APP)
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "01").symlink_to(tmp_path / "elsewhere")
    handin = find_handin(FolderTree(tmp_path / "alice"), SPEC, flat=False)
    assert handin.files == {}


def test_a_pipe_is_refused(tmp_path):
    (tmp_path / "01").mkdir()
    os.mkfifo(tmp_path / "01" / "app.py")
    handin = find_handin(FolderTree(tmp_path), SPEC, flat=False)
    assert "not a regular file" in handin.refused[0]


def test_a_file_over_the_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(submissions, "STUDENT_FILE_CAP", 100)
    (tmp_path / "01").mkdir()
    (tmp_path / "01" / "app.py").write_bytes(b"#" * 101)
    handin = find_handin(FolderTree(tmp_path), SPEC, flat=False)
    assert "at most" in handin.refused[0] and handin.missing == ["app.py"]


def test_zip_entries_that_climb_out_or_point_elsewhere_are_refused_and_the_rest_is_read(tmp_path):
    path = make_zip(tmp_path / "mallory.zip", {
        "01/app.py": APP, "../../evil.py": b"x", "01/../../../tmp/x": b"x", "/etc/cron.d/x": b"x",
        "C:\\Windows\\x": b"x", "01/link.py": b"/etc/passwd", "__MACOSX/01/._app.py": b"x",
    }, modes={"01/link.py": stat.S_IFLNK | 0o777})
    tree = ZipTree(path)
    assert len(tree.problems) == 5, tree.problems
    assert any("climbs out" in p for p in tree.problems) and any("absolute" in p for p in tree.problems)
    assert any("symbolic link" in p for p in tree.problems)
    assert find_handin(tree, SPEC, flat=False).files == {"app.py": APP}
    assert not (tmp_path.parent / "evil.py").exists()


def test_a_zip_bomb_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(submissions, "STUDENT_FILE_CAP", 1000)
    path = make_zip(tmp_path / "bomb.zip", {"01/app.py": b"\0" * 1_000_000})
    with pytest.raises(Rejected, match="zip bomb"):
        ZipTree(path)
    monkeypatch.setattr(submissions, "ZIP_UNPACKED_CAP", 10_000)
    with pytest.raises(Rejected, match="claims"):
        ZipTree(path)


def test_a_file_that_is_not_a_zip_is_rejected(tmp_path):
    path = tmp_path / "alice.zip"
    path.write_bytes(b"this is not a zip")
    with pytest.raises(Rejected, match="not a readable zip"):
        ZipTree(path)


def test_a_lone_wrapper_folder_is_stepped_into(tmp_path):
    path = make_zip(tmp_path / "a.zip", {"ticketrail-alice/01/app.py": APP, "__MACOSX/x": b""})
    assert content_root(ZipTree(path)) == "ticketrail-alice"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_commit_of_a_git_checkout_is_read_without_git(tmp_path):
    repo = tmp_path / "carol"
    (repo / "starter" / "01").mkdir(parents=True)
    (repo / "starter" / "01" / "app.py").write_bytes(APP)
    git = ["git", "-C", str(repo), "-c", "user.name=Carol", "-c", "user.email=carol@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "exercise 01"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert git_head(repo / ".git") == head
    subprocess.run([*git, "pack-refs", "--all"], check=True)
    assert git_head(repo / ".git") == head
