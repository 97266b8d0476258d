"""What the jail costs: a student program's start, and one submission's grading, with and without it.

    sudo .venv/bin/python benchmarks/jail.py            # starts: 20 each; gradings: exercise 01's reference, 2 each
    sudo .venv/bin/python benchmarks/jail.py --gradings 0

Starts: the runtime's interpreter running `import fastapi, uvicorn, redis, ticketrail.shop` as the sandbox's uid,
plain (the uid alone) and inside the bubblewrap jail; the median and the slowest, and the jail's cost per start.
Gradings: exercise 01's reference graded with --isolation uid and with the jail; the wall time of each.
Runs as root (the sandbox needs it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT / "src"))

from ticketrail import config, procs, sandbox  # noqa: E402
from ticketrail.grading.runner import run_exercise  # noqa: E402

IMPORTS = "import fastapi, uvicorn, redis, ticketrail.shop"


def starts(box: sandbox.Sandbox, jailed: bool, count: int) -> list[float]:
    workspace = box.workspace(KIT / "starter" / "01")
    argv = procs.python_argv("-c", IMPORTS)
    if jailed:
        argv = box.jail(workspace).wrap(argv, workspace)
    seconds = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            subprocess.run(argv, cwd=workspace, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, check=True,
                           preexec_fn=procs.limits_preexec(procs.STUDENT_LIMITS, box.user))
            seconds.append(time.perf_counter() - started)
    finally:
        box.discard(workspace)
    return seconds


def grading(isolation: str) -> float:
    started = time.perf_counter()
    result = run_exercise(KIT, config.load(KIT / "grading.yml"), "01", KIT / "reference" / "01", redis="server",
                          isolation=isolation)
    assert result.score == result.max_score, (result.status, result.note)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--gradings", type=int, default=2)
    options = parser.parse_args()
    box = sandbox.activate("auto", KIT)
    if box is None or box.isolation != "jail":
        print("needs root and a machine where bubblewrap builds a jail", file=sys.stderr)
        return 1
    try:
        plain, jailed = starts(box, False, options.starts), starts(box, True, options.starts)
    finally:
        box.close()
    print(f"program start, {options.starts} each ({IMPORTS}):")
    for name, seconds in (("uid alone", plain), ("jail", jailed)):
        print(f"  {name:10} median {statistics.median(seconds) * 1000:6.0f} ms   slowest {max(seconds) * 1000:6.0f} ms")
    cost = statistics.median(jailed) - statistics.median(plain)
    print(f"  the jail adds {cost * 1000:.0f} ms a start ({cost / statistics.median(plain):+.0%})")
    if options.gradings:
        print(f"exercise 01's reference graded, {options.gradings} each:")
        walls = {isolation: [grading(isolation) for _ in range(options.gradings)] for isolation in ("uid", "auto")}
        for isolation, seconds in walls.items():
            name = "jail" if isolation == "auto" else "uid alone"
            print(f"  {name:10} {', '.join(f'{s:.1f} s' for s in seconds)}")
        ratio = statistics.median(walls["auto"]) / statistics.median(walls["uid"]) - 1
        print(f"  the jail changes a grading's wall time by {ratio:+.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
