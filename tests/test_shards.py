"""`ticketrail grade --shard K/N` and `ticketrail report`: a class graded in parts, on one machine or many,
then put together into the exports a single run writes."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from ticketrail import cli
from ticketrail import config as grading_config
from ticketrail.grading.batch import Batch, Options, Shard
from ticketrail.grading.submissions import discover

from test_grading import add_student, grade, make_kit

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "O'Brien, Liam", "Kim Nguyen_302117", "eun-ji", "zoë"]


@pytest.fixture
def kit(tmp_path, monkeypatch) -> Path:
    root = make_kit(tmp_path / "kit")
    monkeypatch.chdir(root)
    return root


def planned(kit: Path, class_dir: Path, shard: Shard) -> list[str]:
    submissions, _ = discover(class_dir)
    batch = Batch(kit, grading_config.load(kit / "grading.yml"), submissions, class_dir.parent / "unused",
                  Options(exercises=["01"], shard=shard))
    return [s.student for s in batch.plan().selected]


def report(*args: str, capsys) -> tuple[int, str, str]:
    code = cli.main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- the partition --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_student_falls_in_exactly_one_shard(count):
    shards = [Shard(index, count) for index in range(1, count + 1)]
    for name in NAMES:
        holding = [str(shard) for shard in shards if shard.holds(name)]
        assert len(holding) == 1, f"{name!r} is in shards {holding} of {count}; each student belongs to exactly one"


def test_a_students_shard_depends_on_their_name_not_on_the_rest_of_the_class(kit, tmp_path):
    everyone, fewer = tmp_path / "everyone", tmp_path / "fewer"
    for name in NAMES:
        add_student(everyone, name)
    for name in NAMES[::3]:  # another order of discovery, and most of the class gone
        add_student(fewer, name)
    for index in (1, 2, 3):
        shard = Shard(index, 3)
        in_everyone, in_fewer = planned(kit, everyone, shard), planned(kit, fewer, shard)
        assert [name for name in in_everyone if name in NAMES[::3]] == in_fewer, (
            f"shard {shard} of the whole class holds {in_everyone}; of a third of it, {in_fewer}: a student moved "
            "to another shard when other students were added or removed")
    sizes = [len(planned(kit, everyone, Shard(index, 3))) for index in (1, 2, 3)]
    assert sum(sizes) == len(NAMES) and all(sizes), f"3 shards of {len(NAMES)} students hold {sizes}"


@pytest.mark.parametrize("given", ["0/3", "4/3", "3", "two/3", "1/0", "-1/2"])
def test_a_shard_out_of_range_is_refused_with_the_form_it_takes(given, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["grade", "class", f"--shard={given}"])
    assert stopped.value.code == 2
    assert "K/N with 1 <= K <= N" in capsys.readouterr().err


def test_a_shard_writes_its_students_records_and_leaves_the_class_files_to_the_report(kit, tmp_path, capsys):
    klass = tmp_path / "class"
    for name in NAMES[:4]:
        add_student(klass, name)
    shard = Shard(1, 2)
    out = tmp_path / "out"
    code, stdout, stderr = grade(klass, out, "--shard", str(shard), capsys=capsys)
    assert code == 0, stderr
    expected = sorted(name for name in NAMES[:4] if shard.holds(name))
    assert sorted(path.stem for path in (out / "records").glob("*.json")) == expected
    assert sorted(path.stem for path in (out / "results").glob("*.json")) == expected
    assert not (out / "grades.csv").exists(), "a shard's grades.csv would hold part of the class"
    assert f"ticketrail report {out}" in stdout, stdout


def test_with_nbgrader_a_shard_points_to_the_report_step(kit, tmp_path, capsys):
    add_student(tmp_path / "class", "alice")
    code, _, stderr = grade(tmp_path / "class", tmp_path / "out", "--shard", "1/2", "--nbgrader", "gb.db",
                            capsys=capsys)
    assert code == 2 and "ticketrail report" in stderr and "--nbgrader gb.db" in stderr, stderr


# --- the report -----------------------------------------------------------------------------------


def test_shards_in_their_own_folders_and_in_one_shared_folder_give_the_same_report(kit, tmp_path, capsys):
    klass = tmp_path / "class"
    for number, name in enumerate(NAMES[:5]):
        add_student(klass, name, answer=42 if number % 2 else 41)
    own = [tmp_path / f"shard{index}" for index in (1, 2, 3)]
    for index, folder in enumerate(own, 1):
        code, _, stderr = grade(klass, folder, "--shard", f"{index}/3", capsys=capsys)
        assert code == 0, stderr
    shared = tmp_path / "shared"
    for folder in own:  # as if every shard had written into one folder
        shutil.copytree(folder / "records", shared / "records", dirs_exist_ok=True)

    code, stdout, stderr = report(*map(str, own), "--out", str(tmp_path / "joined"), capsys=capsys)
    assert code == 0, stderr
    assert all(name in stdout for name in NAMES[:5]), stdout
    code, _, stderr = report(str(shared), capsys=capsys)
    assert code == 0, stderr
    for name in ("grades.csv", "tests.csv"):
        joined, together = (tmp_path / "joined" / name).read_bytes(), (shared / name).read_bytes()
        assert joined == together, f"{name} differs between the report of copied folders and of one shared folder"
    for student in NAMES[:5]:
        for part in (f"results/{student}.json", f"feedback/{student}.md", f"records/{student}.json"):
            assert (tmp_path / "joined" / part).is_file(), f"the report's folder lacks {part}"
    with open(shared / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        scores = {row["student"]: row["01"] for row in csv.DictReader(handle)}
    assert scores == {name: "4" if number % 2 else "2" for number, name in enumerate(NAMES[:5])}


def test_the_report_refuses_one_student_graded_by_two_versions_of_the_graders(kit, tmp_path, capsys):
    add_student(tmp_path / "class", "alice")
    code, _, stderr = grade(tmp_path / "class", tmp_path / "before", capsys=capsys)
    assert code == 0, stderr
    graders = kit / "graders" / "01" / "test_answer.py"
    graders.write_text(graders.read_text() + "\n# a grader fixed after the first run\n")
    code, _, stderr = grade(tmp_path / "class", tmp_path / "after", capsys=capsys)
    assert code == 0, stderr

    code, stdout, stderr = report(str(tmp_path / "before"), str(tmp_path / "after"), "--out",
                                  str(tmp_path / "joined"), capsys=capsys)
    assert code == 2, stdout
    assert "alice, exercise 01: graded by different graders versions" in stderr, stderr
    assert str(tmp_path / "before" / "records" / "alice.json") in stderr
    assert str(tmp_path / "after" / "records" / "alice.json") in stderr
    assert not (tmp_path / "joined").exists(), "a refused report writes nothing"


def test_an_unreadable_record_is_named_and_nothing_is_written(kit, tmp_path, capsys):
    records = tmp_path / "out" / "records"
    records.mkdir(parents=True)
    (records / "alice.json").write_text('{"student": "alice", "exercises": {"01": {"key": "x"')
    code, _, stderr = report(str(tmp_path / "out"), capsys=capsys)
    assert code == 2 and f"{records / 'alice.json'}: not a record" in stderr, stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_a_folder_without_records_is_named(kit, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, stderr = report(str(tmp_path / "empty"), capsys=capsys)
    assert code == 2 and f"{tmp_path / 'empty'}: no records/ folder" in stderr, stderr
