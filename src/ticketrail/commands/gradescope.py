"""`ticketrail gradescope OUT.zip`: a Gradescope autograder that grades with the hidden graders.

The zip holds `setup.sh` (run once, when Gradescope builds its image: Python, redis-server,
the kit), `run_autograder` (run for
each submission) and `kit/` (the harness, grading.yml, the graders and starters; never
the reference). Gradescope unpacks it into /autograder/source.

`run_autograder` runs this module: it grades /autograder/submission as `ticketrail grade`
grades one student (the same isolation, the same results.json) and writes
/autograder/results/results.json. The root is $TICKETRAIL_AUTOGRADER_ROOT when set, so the
kit's tests can run it against a fake /autograder tree. Whatever happens, a valid
results.json is written, and nothing is printed into it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from ticketrail import config as grading_config
from ticketrail.kit import find_kit_root

STUDENT = "submission"
KIT_PARTS = ("grading.yml", "pyproject.toml", "src/ticketrail")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", ".ticketrail")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip redis-server
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet -e /autograder/source/kit
# Nobody but root reads the graders. (Grading as root, the kit runs the student's programs as a uid of their own.)
chmod -R go-rwx /autograder/source/kit/graders
chmod +x /autograder/source/run_autograder
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for each submission. It grades /autograder/submission with the hidden graders and
# writes /autograder/results/results.json; what it prints goes to the autograder's log, never into the JSON.
root="${{TICKETRAIL_AUTOGRADER_ROOT:-/autograder}}"
python="${{TICKETRAIL_PYTHON:-$root/venv/bin/python}}"
cd "$root/source/kit" && exec "$python" -m ticketrail.commands.gradescope --root "$root" {exercises}
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gradescope", help="write a Gradescope autograder zip (setup.sh, run_autograder)")
    parser.add_argument("out", type=Path, help="the zip to write, e.g. ex01-autograder.zip")
    parser.add_argument("-e", "--exercise", action="append", default=[], metavar="NN",
                        help="the exercise(s) this Gradescope assignment grades (repeat); default: every exercise "
                             "that has graders")
    parser.set_defaults(handler=run)


def run(options: argparse.Namespace) -> int:
    root = find_kit_root(Path.cwd(), Path(__file__).resolve())
    config = grading_config.load(root / "grading.yml")
    exercises = [e.zfill(2) for value in options.exercise for e in value.split(",") if e.strip()]
    exercises = exercises or [e for e in config.exercises if (root / "graders" / e).is_dir()]
    unknown = [e for e in exercises if e not in config.exercises or not (root / "graders" / e).is_dir()]
    if unknown or not exercises:
        print(f"No graders for exercise {', '.join(unknown) or '(none)'}; "
              f"the exercises with graders: {', '.join(e for e in config.exercises if (root / 'graders' / e).is_dir())}")
        return 1
    write_bundle(root, exercises, options.out)
    print(f"Wrote {options.out}: a Gradescope autograder for exercise{'s' if len(exercises) > 1 else ''} "
          f"{', '.join(exercises)}.")
    print("Upload it as the assignment's autograder (Ubuntu base image). Students submit their repository "
          f"(starter/NN/...) or, for one exercise, just its files ({', '.join(config.exercise(exercises[0]).student_files)}).")
    return 0


def write_bundle(root: Path, exercises: list[str], out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="ticketrail-gradescope-") as scratch:
        staging = Path(scratch)
        stage_bundle(root, exercises, staging)
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(staging.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo.from_file(path, path.relative_to(staging).as_posix())
                    bundle.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)


def stage_bundle(root: Path, exercises: list[str], staging: Path) -> None:
    """What the zip holds, written into `staging` (Gradescope unpacks it to /autograder/source)."""
    kit = staging / "kit"
    for part in KIT_PARTS:
        source = root / part
        if source.is_dir():
            shutil.copytree(source, kit / part, ignore=SKIPPED)
        else:
            (kit / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, kit / part)
    for exercise_id in exercises:
        for folder in ("graders", "starter", "exercises"):
            if (root / folder / exercise_id).is_dir():
                shutil.copytree(root / folder / exercise_id, kit / folder / exercise_id, ignore=SKIPPED)
    if not (kit / "README.md").exists():  # pyproject names a readme; pip refuses to build without it
        (kit / "README.md").write_text("Ticket Rail, as packed for a Gradescope autograder.\n", encoding="utf-8")
    for name, text in (("setup.sh", SETUP_SH),
                       ("run_autograder", RUN_AUTOGRADER.format(exercises=" ".join(f"-e {e}" for e in exercises)))):
        (staging / name).write_text(text, encoding="utf-8")
        (staging / name).chmod(0o755)


# --- at grading time, inside Gradescope -----------------------------------------------------


def autograde(autograder: Path, exercises: list[str], redis: str | None = None) -> dict:
    """Grade autograder/submission; the Gradescope results as a dict."""
    from ticketrail.grading.batch import Batch, Options
    from ticketrail.grading.exports import ClassView, gradescope_results
    from ticketrail.grading.submissions import Submission

    kit = autograder / "source" / "kit"
    config = grading_config.load(kit / "grading.yml")
    submission = Submission(STUDENT, autograder / "submission", "folder")
    with tempfile.TemporaryDirectory(prefix="ticketrail-gradescope-") as out:
        batch = Batch(kit, config, [submission], Path(out),
                      Options(exercises=exercises, jobs=1, redis=redis),
                      stream=sys.stdout)
        batch.run(batch.plan())
        record = batch.store.load(STUDENT)
        view = ClassView(config, [STUDENT], {STUDENT: record}, [e for e in exercises])
        results = gradescope_results(view, STUDENT)
    # The log shows how grading went; it is for the instructor.
    results["stdout_visibility"] = "hidden"
    return results


def failed_results(error: str, started: float) -> dict:
    return {
        "score": 0.0,
        "execution_time": round(time.monotonic() - started),
        "output": "The autograder could not grade this submission; this is not a verdict on your code. "
                  "Your instructor has been shown why.",
        "output_format": "md",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"error": error[-8000:]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_autograder")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("TICKETRAIL_AUTOGRADER_ROOT", "/autograder")))
    parser.add_argument("-e", "--exercise", action="append", required=True)
    parser.add_argument("--redis", default=None)
    options = parser.parse_args(argv)
    started = time.monotonic()
    try:
        results = autograde(options.root, options.exercise, options.redis)
    except BaseException:  # a results.json must exist whatever went wrong, or Gradescope shows nothing useful
        error = traceback.format_exc()
        print(error, flush=True)
        results = failed_results(error, started)
    target = options.root / "results" / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, target)
    print(f"Wrote {target}: {results['score']:g} points.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
