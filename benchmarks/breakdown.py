"""Where a run's seconds go: each exercise's self-checks and graders, reference and untouched starter, broken down.

    .venv/bin/python benchmarks/breakdown.py                          # every exercise, every kind of run, once
    .venv/bin/python benchmarks/breakdown.py 01 04 --runs 3           # some exercises, the median of three runs
    .venv/bin/python benchmarks/breakdown.py --kinds graders-reference --json after.json --compare before.json
    .venv/bin/python benchmarks/breakdown.py --load after.json --compare before.json   # no run: two saved files

Each run is the pytest process a student or the grading runner starts (`pytest exercises/NN --impl reference`,
`pytest graders/NN ...` with the runner's options), with TICKETRAIL_TIMINGS set and `-p ticketrail.timings`:
the harness then writes a span for each program start and stop, each wait, each latency measurement and each
call the world simulated (see src/ticketrail/timings.py), and this script lays them over the wall time it
measured. Student programs never see the variable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ticketrail import bytecode, config, timings

KIT = Path(__file__).resolve().parent.parent
COLUMNS = (*timings.CATEGORIES, timings.IN_TESTS, timings.OUTSIDE_TESTS)
SHORT = {"latency": "latcy", "deadline": "dline", "simulated": "simul", "pytest": "pytst"}
# What the shell set for pytest, Redis or the kit is not the run's: the grading runner drops the same.
SHELL_ONLY = ("PYTEST_", "REDIS_URL", "TICKETRAIL_")
ALL_GRADERS_GOAL = 90.0

LEGEND = """\
Wall seconds, each counted once (overlapping spans, such as programs starting side by side, are a union),
under the first of these active at that moment:
  start   programs starting: the API, the world and Redis until they answer; workers, subscribers and the
          childcall child from their start until they first sit idle (their imports done)
  stop    stopping programs, the world and Redis
  lock    waiting for the machine-wide latency lock (another run on this machine measuring)
  latcy   latency sampling (latency.measure; the burst)
  dline   waits that ran to their deadline (wait_until, wait_quiet)
  simul   the world's simulated service time (time_scale'd sleeps and held calls, from its ledger)
  hold    windows held on purpose to see that nothing happens (wait_quiet once calm, hold_steady, idle_cost)
  early   waits that ended early (polling while a program does its own work)
  body    in a test, none of the above (the test's code, fixtures, pytest's per-test work)
  pytst   outside every test phase: interpreter, imports, plugins, collection, reporting, exit
CPU: every process of the run (pytest and all it reaped); sCPU: the programs' CPU until they first sat idle;
progs: programs started (student programs, world, Redis, childcall children); load: 1-min load average at start."""


@dataclass(frozen=True)
class Kind:
    title: str
    folder: str  # exercises or graders
    impl: str
    goal: float | None
    total_goal: float | None = None


KINDS = {
    "check-reference": Kind("self-checks on the reference", "exercises", "reference", 5.0),
    "check-starter": Kind("self-checks on the untouched starter", "exercises", "starter", 10.0),
    "graders-reference": Kind("graders on the reference", "graders", "reference", 30.0, ALL_GRADERS_GOAL),
    "graders-starter": Kind("graders on the untouched starter", "graders", "starter", None),
}


def command(kind: Kind, exercise_id: str, redis: str) -> list[str]:
    argv = [sys.executable, "-m", "pytest", f"{kind.folder}/{exercise_id}", "--impl", kind.impl, "--redis", redis,
            "-q", "-p", "ticketrail.timings"]
    if kind.folder == "graders":
        # The grading runner's options; as root it grades in the sandbox, as the runner does.
        argv += ["-p", "no:cacheprovider", "-p", "no:randomly", "--noconftest", "--rootdir", str(KIT),
                 "-c", str(KIT / "pyproject.toml"), "--tb=short", "--no-header", "-rN"]
        if os.geteuid() == 0:
            argv += ["--student-user", "auto"]
    return argv


def run_once(kind: Kind, exercise_id: str, redis: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="ticketrail-breakdown-") as scratch:
        spans_file = Path(scratch) / "spans.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith(SHELL_ONLY)}
        env[timings.VARIABLE] = str(spans_file)
        if kind.folder == "graders":
            env = bytecode.kept(env)  # as the grading runner starts it
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(Path(scratch) / "output.txt", "w+b") as output:
            start = time.monotonic()
            process = subprocess.Popen(command(kind, exercise_id, redis), cwd=KIT, env=env, stdin=subprocess.DEVNULL,
                                       stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
            timed_out = _wait(process, timeout)
            end = time.monotonic()
            output.seek(0)
            tail = output.read().decode("utf-8", "replace").splitlines()[-3:]
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spans = timings.read(spans_file) if spans_file.exists() else []
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return figures(spans, start, end) | {
        "cpu": round(cpu, 2), "load": round(load, 1), "exit": process.returncode, "timed_out": timed_out,
        "tail": tail,
    }


def _wait(process: subprocess.Popen, timeout: float) -> bool:
    try:
        process.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # pytest tears down what it started
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return True


def figures(spans: list[dict], start: float, end: float) -> dict:
    """The breakdown of one run from its spans and the wall time measured around it."""
    seconds = timings.breakdown(spans, start, end)
    programs = [s for s in spans if s["cat"] == "start" and "cpu" in s]
    marks = {s["label"]: round(s["start"] - start, 2) for s in spans if s["cat"] == "mark"}
    return {
        "wall": round(end - start, 2),
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
        "span_seconds": {name: round(value, 2) for name, value in timings.span_seconds(spans, start, end).items()},
        "start_cpu": round(sum(s["cpu"] or 0 for s in programs if s.get("ready") is not False), 2),
        "programs": len(programs),
        "never_idle": sorted(s["label"] for s in programs if s.get("ready") is False),
        "marks": marks,
        "tests": tests_of(spans),
    }


def tests_of(spans: list[dict]) -> list[dict]:
    """Each test: its outcome (failed if any phase failed), wall time and its own breakdown."""
    phases: dict[str, list[dict]] = {}
    for span in spans:
        if span["cat"] == "test":
            phases.setdefault(span["label"], []).append(span)
    tests = []
    for nodeid, parts in phases.items():
        outcomes = {p["outcome"] for p in parts}
        outcome = "failed" if "failed" in outcomes else "skipped" if "skipped" in outcomes else "passed"
        first, last = min(p["start"] for p in parts), max(p["end"] for p in parts)
        seconds = timings.breakdown(spans, first, last)
        tests.append({"nodeid": nodeid, "outcome": outcome, "wall": round(last - first, 2),
                      "seconds": {k: round(v, 2) for k, v in seconds.items() if v >= 0.005}})
    return tests


def result_text(kind: Kind, exercise_id: str, run: dict, grading: config.GradingConfig) -> str:
    tests = run["tests"]
    if run["timed_out"]:
        return "timeout"
    if kind.folder == "graders":
        spec = grading.exercise(exercise_id)
        passed = {t["nodeid"].split("::")[-1].split("[")[0] for t in tests if t["outcome"] == "passed"}
        points = sum(test.points for name, test in spec.tests.items() if name in passed)
        return f"{points:g}/{spec.max_points:g}"
    return f"{sum(t['outcome'] == 'passed' for t in tests)}/{len(tests)} ok"


def median_of(runs: list[dict]) -> dict:
    """The median of each figure over the runs; the parts need not add up to the median wall time."""
    first = runs[0]
    return first | {
        "wall": round(statistics.median(r["wall"] for r in runs), 2),
        "cpu": round(statistics.median(r["cpu"] for r in runs), 2),
        "start_cpu": round(statistics.median(r["start_cpu"] for r in runs), 2),
        "programs": statistics.median(r["programs"] for r in runs),
        "load": round(statistics.median(r["load"] for r in runs), 1),
        "seconds": {c: round(statistics.median(r["seconds"].get(c, 0.0) for r in runs), 2) for c in COLUMNS},
        "runs": len(runs),
    }


def goal_text(kind: Kind, wall: float) -> str:
    if kind.goal is None:
        return "-"
    return f"met {kind.goal:g}" if wall <= kind.goal else f"MISSED {kind.goal:g}"


def print_table(name: str, by_exercise: dict[str, dict]) -> None:
    kind = KINDS[name]
    goal = "no goal" if kind.goal is None else f"goal <= {kind.goal:g} s each" + (
        f", <= {kind.total_goal:g} s for all six" if kind.total_goal else "")
    print(f"\n{kind.title} ({name}; {goal})")
    heads = [SHORT.get(c, c) for c in COLUMNS]
    print(f"{'ex':<4}{'wall':>7} |" + "".join(f"{h:>6}" for h in heads)
          + f" |{'CPU':>6}{'sCPU':>6}{'progs':>6}{'load':>6}  {'result':<9}{'goal'}")
    totals = dict.fromkeys(("wall", "cpu", "start_cpu", "programs", *COLUMNS), 0.0)
    for exercise_id, entry in sorted(by_exercise.items()):
        run = entry["median"]
        varied = " (verdicts varied)" if len({tuple(sorted((t["nodeid"], t["outcome"]) for t in r["tests"]))
                                               for r in entry["runs"]}) > 1 else ""
        print(f"{exercise_id:<4}{run['wall']:>7.1f} |" + "".join(f"{run['seconds'].get(c, 0):>6.1f}" for c in COLUMNS)
              + f" |{run['cpu']:>6.1f}{run['start_cpu']:>6.1f}{run['programs']:>6g}{run['load']:>6.0f}  "
              + f"{entry['result']:<9}{goal_text(kind, run['wall'])}{varied}")
        for key in ("wall", "cpu", "start_cpu", "programs"):
            totals[key] += run[key]
        for column in COLUMNS:
            totals[column] += run["seconds"].get(column, 0.0)
    if len(by_exercise) > 1:
        total_goal = ""
        if kind.total_goal is not None:
            verdict = "met" if totals["wall"] <= kind.total_goal else "MISSED"
            total_goal = f"{verdict} {kind.total_goal:g}" + ("" if len(by_exercise) == 6 else " (not all six)")
        print(f"{'all':<4}{totals['wall']:>7.1f} |" + "".join(f"{totals[c]:>6.1f}" for c in COLUMNS)
              + f" |{totals['cpu']:>6.1f}{totals['start_cpu']:>6.1f}{totals['programs']:>6.0f}{'':>6}  "
              + f"{'':<9}{total_goal}")


def print_slowest(name: str, by_exercise: dict[str, dict], count: int) -> None:
    print(f"\nslowest tests, {KINDS[name].title} (first run):")
    for exercise_id, entry in sorted(by_exercise.items()):
        for test in sorted(entry["runs"][0]["tests"], key=lambda t: -t["wall"])[:count]:
            parts = sorted(test["seconds"].items(), key=lambda item: -item[1])[:4]
            where = ", ".join(f"{SHORT.get(k, k)} {v:.1f}" for k, v in parts)
            print(f"  {exercise_id} {test['wall']:>5.1f} s {test['outcome']:<7} {test['nodeid'].split('::')[-1][:60]} "
                  f"({where})")


def print_comparison(before: dict, after: dict) -> None:
    print(f"\nbefore ({before['meta']['created']}, load {before['meta']['load_before']:.0f}) -> "
          f"after ({after['meta']['created']}, load {after['meta']['load_before']:.0f}); seconds, medians")
    heads = [SHORT.get(c, c) for c in COLUMNS]
    for name in KINDS:
        old, new = before["kinds"].get(name, {}), after["kinds"].get(name, {})
        common = sorted(set(old) & set(new))
        if not common:
            continue
        print(f"\n{KINDS[name].title} ({name})")
        print(f"{'ex':<4}{'wall':>12} |" + "".join(f"{h:>11}" for h in heads) + "  goal")
        for exercise_id in common:
            a, b = old[exercise_id]["median"], new[exercise_id]["median"]
            cells = "".join(f"{_arrow(a['seconds'].get(c, 0), b['seconds'].get(c, 0)):>11}" for c in COLUMNS)
            print(f"{exercise_id:<4}{_arrow(a['wall'], b['wall']):>12} |{cells}  "
                  f"{goal_text(KINDS[name], a['wall'])} -> {goal_text(KINDS[name], b['wall'])}")
        if len(common) > 1:
            a_total = sum(old[e]["median"]["wall"] for e in common)
            b_total = sum(new[e]["median"]["wall"] for e in common)
            print(f"{'all':<4}{_arrow(a_total, b_total):>12}")


def _arrow(before: float, after: float) -> str:
    return f"{before:.1f}>{after:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercises", nargs="*", help="exercise ids (default: all in grading.yml)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of: {', '.join(KINDS)}")
    parser.add_argument("--runs", type=int, default=1, help="runs of each; the tables show medians (default 1)")
    parser.add_argument("--redis", default="server", help="server or embedded (default server)")
    parser.add_argument("--json", type=Path, help="save the figures here (written after every run)")
    parser.add_argument("--compare", type=Path, help="a saved JSON of an earlier run: print before and after")
    parser.add_argument("--load", type=Path, help="print these saved figures instead of running")
    parser.add_argument("--slowest", type=int, default=0, help="also list the N slowest tests of each exercise")
    options = parser.parse_args()
    grading = config.load(KIT / "grading.yml")
    if options.load:
        saved = json.loads(options.load.read_text())
    else:
        kinds = [k.strip() for k in options.kinds.split(",") if k.strip()]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            parser.error(f"unknown kind {unknown[0]!r}; kinds are {', '.join(KINDS)}")
        saved = measure(grading, options.exercises or list(grading.exercises), kinds, options)
    print(f"tree {saved['meta'].get('tree', '?')}; {saved['meta']['cores']} cores; Redis: {saved['meta']['redis']}; load average {saved['meta']['load_before']:.0f} "
          f"before, {saved['meta']['load_after']:.0f} after; {saved['meta']['runs']} run(s) each, medians")
    print(LEGEND)
    for name, by_exercise in saved["kinds"].items():
        print_table(name, by_exercise)
        if options.slowest:
            print_slowest(name, by_exercise, options.slowest)
    if options.compare:
        print_comparison(json.loads(options.compare.read_text()), saved)


def tree() -> str:
    """The commit measured, and whether the working tree differed from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=KIT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "?"
    changed = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
    return f"{git('rev-parse', '--short', 'HEAD')}" + (f" with {changed} changed files" if changed else "")


def measure(grading: config.GradingConfig, exercise_ids: list[str], kinds: list[str], options) -> dict:
    saved = {"meta": {"created": dt.datetime.now().isoformat(timespec="seconds"), "cores": os.cpu_count(),
                      "redis": options.redis, "runs": options.runs, "load_before": os.getloadavg()[0],
                      "load_after": None, "tree": tree()},
             "kinds": {name: {} for name in kinds}}
    for run in range(options.runs):
        for exercise_id in exercise_ids:
            timeout = grading.exercise(exercise_id).exercise_timeout
            for name in kinds:
                figures_of_run = run_once(KINDS[name], exercise_id, options.redis, timeout)
                entry = saved["kinds"][name].setdefault(exercise_id, {"runs": []})
                entry["runs"].append(figures_of_run)
                entry["median"] = median_of(entry["runs"])
                entry["result"] = result_text(KINDS[name], exercise_id, figures_of_run, grading)
                print(f"run {run + 1}/{options.runs} {name} {exercise_id}: {figures_of_run['wall']:.1f} s, "
                      f"{entry['result']}, load {figures_of_run['load']:.0f}", file=sys.stderr, flush=True)
                saved["meta"]["load_after"] = os.getloadavg()[0]
                if options.json:
                    options.json.parent.mkdir(parents=True, exist_ok=True)
                    options.json.write_text(json.dumps(saved, indent=1))
    return saved


if __name__ == "__main__":
    main()
