"""The attack corpus (tests/attacks) graded in one batch, printed as a table of attacks and outcomes.

    .venv/bin/python benchmarks/attack_table.py                      # every attack, on both Redis backends
    .venv/bin/python benchmarks/attack_table.py fork_bomb zip_slip   # some of them
    .venv/bin/python benchmarks/attack_table.py --stability 5        # then the sample class, 5 times, cores busy

One table per Redis backend (redis-server and the embedded server). Each row: the attack, the score its
real behaviour earns (honest), the score it got, the grading's status, whether the output shows it really
tried, and the verdict. Below each table: hidden text found in any output file (there must be none),
anything an attack left running or planted (a process of any uid of the sandbox's pool counts), and the
score of a correct submission graded in a new batch afterwards (full marks). `--stability N` then grades
examples/submissions N times while a busy process per core keeps the machine loaded, and compares the
verdicts test by test. Runs as root (the sandbox needs it); exits 1 if anything is off.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT / "tests"))

from attacks import corpus  # noqa: E402
from ticketrail import sandbox  # noqa: E402


def leftovers(work: Path) -> list[str]:
    found = [f"process {pid} ({Path(f'/proc/{pid}/cmdline').read_bytes()[:80]!r})" for pid in os.listdir("/proc")
             if pid.isdigit() and _comm(pid) == "attack-daemon"]
    found += [str(path) for folder in (Path("/tmp"), Path("/dev/shm")) for path in folder.glob("ticketrail-attack-*")]
    found += [str(path) for path in work.rglob("ticketrail-attack-zip-escaped.py")]
    return found


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def burn(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def verdicts(out: Path) -> dict[str, dict[str, tuple[float, tuple[str, ...]]]]:
    """student → exercise → (score, the tests that did not pass)."""
    found = {}
    for path in sorted((out / "records").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[record["student"]] = {
            eid: (entry["result"]["score"], tuple(sorted(t["name"] for t in entry["result"]["tests"]
                                                         if t["outcome"] != "passed")))
            for eid, entry in record["exercises"].items()
        }
    return found


def stability(runs: int, jobs: int, work: Path) -> bool:
    """The sample class graded `runs` times with every core kept busy: the same verdicts every time?"""
    cores = len(os.sched_getaffinity(0))
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=burn, args=(stop,), daemon=True) for _ in range(cores)]
    for burner in burners:
        burner.start()
    seen = []
    try:
        for run in range(1, runs + 1):
            seconds, _ = _grade_class(work / f"class-{run}", jobs)
            seen.append(verdicts(work / f"class-{run}"))
            total = sum(score for student in seen[-1].values() for score, _ in student.values())
            print(f"sample class, run {run} of {runs} with {cores} busy processes: {seconds:.0f} s, "
                  f"total score {total:g}", flush=True)
    finally:
        stop.set()
        for burner in burners:
            burner.join()
    differing = [(run + 1, student) for run, found in enumerate(seen[1:], start=1) for student in found
                 if found[student] != seen[0].get(student)]
    for run, student in differing:
        print(f"  run {run}: {student} got {seen[run - 1][student]}, run 1 gave {seen[0].get(student)}")
    print(f"verdicts identical in all {runs} runs" if not differing else f"{len(differing)} verdicts changed")
    return not differing


def _grade_class(out: Path, jobs: int) -> tuple[float, str]:
    out.mkdir(mode=0o700, parents=True)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ticketrail.cli", "grade", str(KIT / "examples" / "submissions"),
                           "--out", str(out), "--jobs", str(jobs), "--force"], cwd=KIT, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    return time.monotonic() - started, done.stdout + done.stderr


def pool_processes() -> list[str]:
    """Processes of any uid in the sandbox's pool: after a batch, every one is a leftover."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            uid = os.stat(f"/proc/{pid}").st_uid if pid.isdigit() else None
        except OSError:
            continue
        if uid is not None and any(start <= uid < start + sandbox.POOL_SIZE for start in sandbox.POOL_STARTS):
            found.append(f"process {pid} of uid {uid}")
    return found


def one_backend(redis: str, names: list[str] | None, jobs: int, work: Path) -> bool:
    attacks, outcomes, seconds, printed = corpus.run(work, names, jobs, redis=redis)
    text, honest = corpus.table(attacks, outcomes)
    print(f"=== Redis backend: {redis}\n{text}")
    leaked = corpus.leaks(work / "results", corpus.hidden_texts())
    left = leftovers(work) + pool_processes()
    print(f"\n{len(attacks)} attacks graded in one batch in {seconds:.0f} s ({jobs} at a time); "
          f"results in {work / 'results'}")
    print("hidden text in any output: " + ("none" if not leaked else "; ".join(leaked)))
    print("left running or planted after the batch, whatever its uid: " + ("nothing" if not left else "; ".join(left)))
    control_attacks, control, _, _ = corpus.run(work / "after", ["control_correct"], 1, redis=redis)
    afterwards = control.get("control_correct")
    fine = afterwards is not None and afterwards.score == control_attacks[0].honest
    print(f"a correct submission graded in a new batch afterwards: "
          f"{afterwards.score:g}/{afterwards.max_score:g}" if afterwards else "a correct submission afterwards: not graded")
    if not outcomes:
        print(printed[-3000:])
    return honest and not leaked and not left and fine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("attacks", nargs="*", help="attack names (folders of tests/attacks); default: all")
    parser.add_argument("--jobs", type=int, default=2, help="gradings at a time (default 2)")
    parser.add_argument("--redis", default="server,embedded", help="the Redis backends, comma-separated (default both)")
    parser.add_argument("--keep", type=Path, default=None, help="grade into this folder and keep it")
    parser.add_argument("--stability", type=int, default=0, metavar="N",
                        help="then grade examples/submissions N times with every core busy")
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("The attack corpus runs only in the sandbox, which needs root.", file=sys.stderr)
        return 2
    work = options.keep or Path(tempfile.mkdtemp(prefix="ticketrail-attacks-"))
    ok = True
    for redis in options.redis.split(","):
        ok &= one_backend(redis, options.attacks or None, options.jobs, work / redis)
    if options.stability:
        ok &= stability(options.stability, options.jobs, work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
