"""The timing spans behind benchmarks/breakdown.py: written only when asked for, summed without double counting."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ticketrail import timings
from ticketrail.system import System

from helpers import KIT

# A check's waits, one that comes true and one that runs to its deadline, in a process of their own: the
# variable is read once, when the harness is imported.
WAITS = """
import json, sys
from ticketrail import waiting
waiting.wait_until(lambda: True, 5, str)
try:
    waiting.wait_until(lambda: False, 0.1, lambda: "never")
except waiting.WaitTimeout:
    pass
print(json.dumps({"wrapped": hasattr(waiting.wait_until, "__wrapped__")}))
"""


def run_waits(tmp_path: Path, variable: str | None) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if variable is not None:
        env[timings.VARIABLE] = variable
    done = subprocess.run([sys.executable, "-c", WAITS], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_without_the_variable_nothing_is_wrapped_and_nothing_written(tmp_path):
    assert run_waits(tmp_path, None) == {"wrapped": False}
    assert run_waits(tmp_path, "") == {"wrapped": False}
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_with_the_variable_each_wait_is_a_span_named_by_how_it_ended(tmp_path):
    spans_file = tmp_path / "spans.jsonl"
    assert run_waits(tmp_path, str(spans_file)) == {"wrapped": True}
    spans = timings.read(spans_file)
    assert [(s["cat"], s["how"]) for s in spans] == [("early", "returned"), ("deadline", "raised")]
    assert spans[1]["end"] - spans[1]["start"] >= 0.1
    assert all(s["start"] <= time.monotonic() for s in spans)  # one clock for every process of the machine


def test_student_programs_never_see_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(timings.VARIABLE, str(tmp_path / "spans.jsonl"))
    impl = tmp_path / "impl"
    impl.mkdir()
    (impl / "show.py").write_text("import os\nprint('timings:', os.environ.get('TICKETRAIL_TIMINGS'))\n")
    system = System(impl, "redis://127.0.0.1:1/0", "http://127.0.0.1:1")
    try:
        assert timings.VARIABLE not in system.environment()
        child = system.start_program("show.py")
        child.process.wait(30)
        child.output.close(timeout=5)
        assert "timings: None" in child.log(), child.log()
    finally:
        system.stop()


def write_spans(path: Path, spans: list[dict]) -> None:
    lines = [json.dumps(span) for span in spans]
    path.write_text("\n".join(lines) + '\n{"cat": "start", "label": "cut by a kil')  # a killed writer's last line


HANDMADE = [
    {"cat": "test", "label": "t", "start": 0.5, "end": 9.5, "phase": "call", "outcome": "passed"},
    {"cat": "start", "label": "api", "start": 0.0, "end": 2.0},
    {"cat": "start", "label": "worker.py", "start": 1.0, "end": 3.0, "cpu": 0.5, "ready": True},  # side by side
    {"cat": "start", "label": "worker.py (never idle)", "start": 3.0, "end": 4.0, "cpu": 1.0, "ready": False},
    {"cat": "latency", "label": "measure", "start": 4.0, "end": 6.0},
    {"cat": "lock", "label": "waiting for the measurement lock", "start": 4.0, "end": 5.0},  # inside the measure
    {"cat": "simulated", "label": "send_confirmation_email", "start": 5.5, "end": 8.0},
    {"cat": "early", "label": "checks.wait", "start": 7.0, "end": 9.0},
    {"cat": "stop", "label": "world", "start": 9.8, "end": 12.0},  # past the run's end
    {"cat": "mark", "label": "collected", "start": 0.4, "end": 0.4},
]


def test_each_second_is_counted_once_under_the_first_category_active(tmp_path):
    spans_file = tmp_path / "spans.jsonl"
    write_spans(spans_file, HANDMADE)
    spans = timings.read(spans_file)
    assert len(spans) == len(HANDMADE)
    seconds = timings.breakdown(spans, 0.0, 10.0)
    assert seconds == pytest.approx({
        "start": 3.0,  # two programs starting side by side from 0 to 3: a union, not 4 span-seconds
        "stop": 0.2,  # clipped to the run
        "latency": 1.0,  # the measure's first second was the lock's
        "lock": 1.0,
        "deadline": 0.0,
        "simulated": 2.0,  # 6 to 8: before 6 the measure ran
        "hold": 0.0,
        "early": 1.0,  # 8 to 9: before 8 the wait was waiting for the world
        "body": 1.5,  # in the test, nothing else: 3 to 4 (a program that never sat idle is not starting) and 9 to 9.5
        "pytest": 0.3,  # outside the test, nothing else: 9.5 to 9.8
    })
    assert sum(seconds.values()) == pytest.approx(10.0)
    assert timings.span_seconds(spans, 0.0, 10.0)["start"] == 5.0  # overlaps counted each time
    assert timings.union([(0, 2), (1, 3), (5, 6), (5.5, 5.7)]) == 4.0


def test_the_benchmark_s_figures_add_up_to_the_wall_time():
    spec = importlib.util.spec_from_file_location("breakdown_benchmark", KIT / "benchmarks" / "breakdown.py")
    breakdown = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = breakdown  # its dataclasses look their module up
    spec.loader.exec_module(breakdown)
    figures = breakdown.figures(HANDMADE, 0.0, 10.0)
    assert figures["wall"] == 10.0
    assert round(sum(figures["seconds"].values()), 2) == 10.0
    assert (figures["programs"], figures["start_cpu"], figures["never_idle"]) == (2, 0.5, ["worker.py (never idle)"])
    assert [(t["nodeid"], t["outcome"], t["wall"]) for t in figures["tests"]] == [("t", "passed", 9.0)]
