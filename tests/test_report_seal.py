"""The grading report's seal: the runner believes only the lines the graders' plugin wrote, whole and in order."""

from ticketrail.report_seal import ReportSeal

KEY = "k" * 64


def _sealed(*entries: dict, closed: bool = True) -> list[dict]:
    seal = ReportSeal(KEY)
    lines = [seal.sign(entry) for entry in entries]
    if closed:
        lines.append(seal.sign({"end": True, "lines": len(entries)}))
    return lines


def test_the_lines_the_plugin_wrote_are_believed():
    lines = _sealed({"name": "test_a", "outcome": "failed"}, {"name": "test_b", "outcome": "passed"})
    assert ReportSeal(KEY).check(lines, finished=True) is None


def test_a_line_rewritten_in_place_is_caught():
    lines = _sealed({"name": "test_a", "outcome": "failed"}, {"name": "test_b", "outcome": "failed"})
    lines[0]["outcome"] = "passed"
    assert ReportSeal(KEY).check(lines, finished=True) == "line 1 of the report is not the one the graders wrote"


def test_a_line_resealed_without_the_key_is_caught():
    lines = _sealed({"name": "test_a", "outcome": "failed"})
    lines[0] = ReportSeal("guessed").sign({"name": "test_a", "outcome": "passed"})
    assert ReportSeal(KEY).check(lines, finished=True) == "line 1 of the report is not the one the graders wrote"


def test_lines_swapped_dropped_or_added_after_the_close_are_caught():
    lines = _sealed({"name": "test_a", "outcome": "passed"}, {"name": "test_b", "outcome": "failed"})
    assert ReportSeal(KEY).check([lines[1], lines[0], lines[2]], finished=True) is not None
    assert ReportSeal(KEY).check([lines[0], lines[2]], finished=True) is not None
    assert ReportSeal(KEY).check([*lines, {"name": "test_c", "outcome": "passed"}], finished=True) is not None


def test_a_report_cut_short_is_refused_only_when_the_run_ended_by_itself():
    lines = _sealed({"name": "test_a", "outcome": "passed"}, closed=False)
    assert ReportSeal(KEY).check(lines, finished=True) == "the report ends before the graders' closing line"
    assert ReportSeal(KEY).check(lines, finished=False) is None, "a run stopped at its timeout keeps what it wrote"
