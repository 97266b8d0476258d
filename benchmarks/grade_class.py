"""Whole-course grading time, one grading at a time against the default parallelism.

    .venv/bin/python benchmarks/grade_class.py                      # the sample class, --jobs 1 vs the default
    .venv/bin/python benchmarks/grade_class.py --jobs 1,2,4,6       # more levels
    .venv/bin/python benchmarks/grade_class.py --class SUBMISSIONS -e 01,04

Each level grades the class from scratch into its own folder with `ticketrail grade`, as an
instructor would. Prints the wall time of each, the speed-up over the first level, and how
many verdicts (test outcomes, exercise statuses) differ from the first level: parallel
grading must not change a verdict, so the aim is none.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT / "src"))

from ticketrail.grading.batch import cores, default_jobs  # noqa: E402


def grade(submissions: Path, out: Path, jobs: int, redis: str | None, exercises: str | None) -> float:
    argv = [sys.executable, "-m", "ticketrail.cli", "grade", str(submissions), "--out", str(out), "--jobs", str(jobs)]
    if redis:
        argv += ["--redis", redis]
    if exercises:
        argv += ["--exercise", exercises]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=KIT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"ticketrail grade --jobs {jobs} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def verdicts(out: Path) -> dict[tuple[str, ...], str]:
    found = {}
    for path in sorted((out / "records").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        for exercise_id, exercise in record["exercises"].items():
            result = exercise["result"]
            found[(record["student"], exercise_id)] = result["status"]
            for test in result["tests"]:
                found[(record["student"], exercise_id, test["name"])] = test["outcome"]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--class", dest="submissions", type=Path, default=KIT / "examples" / "submissions")
    parser.add_argument("--jobs", default=f"1,{default_jobs()}",
                        help=f"parallelism levels, the first is the baseline (default: 1,{default_jobs()})")
    parser.add_argument("--redis", default=None, help="server or embedded (default: the kit's choice)")
    parser.add_argument("-e", "--exercise", default=None, metavar="NN,NN",
                        help="these exercises only (default: every exercise the class worked on)")
    options = parser.parse_args()
    levels = [int(level) for level in options.jobs.split(",")]
    print(f"class: {options.submissions}; {cores()} cores; default parallelism "
          f"{default_jobs()}; load average before: {os.getloadavg()[0]:.1f}")
    timings, results = {}, {}
    with tempfile.TemporaryDirectory(prefix="ticketrail-bench-") as scratch:
        for jobs in levels:
            out = Path(scratch) / f"jobs{jobs}"
            timings[jobs] = grade(options.submissions, out, jobs, options.redis, options.exercise)
            results[jobs] = verdicts(out)
            print(f"  --jobs {jobs}: {timings[jobs]:6.1f} s", flush=True)
    baseline = levels[0]
    print(f"\n{'jobs':>4}  {'wall time':>9}  {'speed-up':>8}  verdicts differing from --jobs {baseline}")
    for jobs in levels:
        differing = sorted(key for key in results[baseline].keys() | results[jobs].keys()
                           if results[baseline].get(key) != results[jobs].get(key))
        print(f"{jobs:>4}  {timings[jobs]:8.1f}s  {timings[baseline] / timings[jobs]:7.2f}x  {len(differing)}"
              f" of {len(results[baseline])}")
        for key in differing:
            print(f"        {' / '.join(key)}: {results[baseline].get(key)} -> {results[jobs].get(key)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
