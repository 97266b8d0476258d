"""Wall times of the self-checks and graders on the references, and verdict stability under load.

    .venv/bin/python benchmarks/graders.py                 # every exercise, 10 loaded runs each
    .venv/bin/python benchmarks/graders.py 01 03 --runs 3  # some exercises, fewer runs

For each exercise it prints the wall time of `pytest exercises/NN --impl reference`, of
graders/NN on the reference, then grades the reference `--runs` times while as many
busy-looping processes as there are cores keep the machine loaded, and counts the runs
whose verdicts (test by test) differ from the unloaded run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

from ticketrail import config
from ticketrail.grading.runner import run_exercise

KIT = Path(__file__).resolve().parent.parent


def burn(stop: multiprocessing.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def self_check_seconds(exercise_id: str, redis: str) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", f"exercises/{exercise_id}", "--impl", "reference", "--redis", redis, "-q"],
        cwd=KIT, capture_output=True,
    )
    return time.monotonic() - started, done.returncode


def verdicts(result) -> dict[str, str]:
    return {t.name: t.outcome for t in result.tests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercises", nargs="*", help="exercise ids (default: all in grading.yml)")
    parser.add_argument("--runs", type=int, default=10, help="loaded grader runs per exercise (default 10)")
    parser.add_argument("--redis", default="server", help="server or embedded (default server)")
    options = parser.parse_args()
    grading = config.load(KIT / "grading.yml")
    exercise_ids = options.exercises or list(grading.exercises)
    cores = os.cpu_count() or 1
    print(f"{cores} cores; Redis backend: {options.redis}; {options.runs} loaded runs per exercise\n")
    print(f"{'exercise':<9}{'self-check':>12}{'graders':>10}{'score':>12}{'loaded runs':>13}{'changed':>9}{'slowest':>9}")
    for exercise_id in exercise_ids:
        check_seconds, check_code = self_check_seconds(exercise_id, options.redis)
        baseline = run_exercise(KIT, grading, exercise_id, KIT / "reference" / exercise_id, redis=options.redis)
        expected = verdicts(baseline)
        stop = multiprocessing.Event()
        burners = [multiprocessing.Process(target=burn, args=(stop,), daemon=True) for _ in range(cores)]
        for burner in burners:
            burner.start()
        changed, slowest = [], 0.0
        try:
            for run in range(options.runs):
                loaded = run_exercise(KIT, grading, exercise_id, KIT / "reference" / exercise_id, redis=options.redis)
                slowest = max(slowest, loaded.duration)
                if verdicts(loaded) != expected:
                    diff = {n: o for n, o in verdicts(loaded).items() if expected.get(n) != o}
                    changed.append(f"run {run + 1}: {diff}")
        finally:
            stop.set()
            for burner in burners:
                burner.join()
        check = f"{check_seconds:.1f} s" + ("" if check_code == 0 else " FAIL")
        print(f"{exercise_id:<9}{check:>12}{baseline.duration:>8.1f} s"
              f"{f'{baseline.score:g}/{baseline.max_score:g}':>12}{options.runs:>13}{len(changed):>9}{slowest:>7.1f} s")
        for line in changed:
            print(f"    changed verdict, {line}")


if __name__ == "__main__":
    main()
