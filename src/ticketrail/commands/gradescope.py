"""`ticketrail gradescope OUT`: Gradescope autograders that grade with the hidden graders, one zip per
exercise, as instructors set up one Gradescope assignment per exercise. Gradescope flattens an
upload's folders, so a bundle of one exercise takes its files from the top of the submission
as well as from NN/ or starter/NN/; a bundle of several could not tell whose app.py it holds.

Each zip holds `setup.sh` (run once, when Gradescope builds its image: Python, redis-server,
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
from ticketrail.commands._common import kit_as_it_is_now

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
    parser = subparsers.add_parser(
        "gradescope", help="write Gradescope autograder zips, one per exercise (setup.sh, run_autograder)",
        description="Write one autograder zip per exercise, for one Gradescope assignment per exercise: a student "
                    "uploads that exercise's files (or their repository) and sees that exercise's tests only.")
    parser.add_argument("out", type=Path,
                        help="a folder, for one zip per exercise (exNN-autograder.zip), or a .zip for one exercise")
    parser.add_argument("-e", "--exercise", action="append", default=[], metavar="NN",
                        help="only these exercises (repeat, or comma-separate); default: every exercise that has "
                             "graders")
    parser.add_argument("--together", action="store_true",
                        help="one zip for all the chosen exercises, for a single assignment where students submit "
                             "their whole repository (NN/ or starter/NN/ folders; a bare upload cannot say which "
                             "exercise its files are for)")
    parser.set_defaults(handler=run)


def bundle_name(exercise_id: str) -> str:
    return f"ex{exercise_id}-autograder.zip"


def run(options: argparse.Namespace) -> int:
    kit = kit_as_it_is_now()
    root, config = kit.root, kit.config
    graded = [e for e in config.exercises if (root / "graders" / e).is_dir()]
    chosen = [kit.exercise(e).id for value in options.exercise for e in value.split(",") if e.strip()]
    unknown = [e for e in chosen if e not in graded]
    if unknown:
        print(f"No graders for exercise {', '.join(unknown)}; the exercises with graders: {', '.join(graded)}.",
              file=sys.stderr)
        return 2
    exercises = [e for e in graded if e in chosen] if chosen else graded
    out: Path = options.out
    as_zip = out.suffix.lower() == ".zip"
    if as_zip and len(exercises) > 1 and not options.together:
        print(f"{out} is one zip, for one Gradescope assignment, but {len(exercises)} exercises are chosen "
              f"({', '.join(exercises)}). Give a folder for one zip per exercise (e.g. `ticketrail gradescope "
              "autograders/`), name one exercise with -e NN, or add --together for one assignment that grades "
              "them all from a repository upload.", file=sys.stderr)
        return 2
    if options.together or as_zip:
        target = out if as_zip else out / f"ex{'-'.join(exercises)}-autograder.zip"
        write_bundle(root, exercises, target)
        written = [(target, exercises)]
    else:
        written = []
        for exercise_id in exercises:
            write_bundle(root, [exercise_id], out / bundle_name(exercise_id))
            written.append((out / bundle_name(exercise_id), [exercise_id]))
    for path, ids in written:
        if len(ids) == 1:
            files = ", ".join(config.exercise(ids[0]).student_files)
            print(f"Wrote {path}: exercise {ids[0]} ({config.exercise(ids[0]).title}); students upload {files} "
                  f"(or their repository, with {ids[0]}/ or starter/{ids[0]}/ in it).")
        else:
            print(f"Wrote {path}: exercises {', '.join(ids)} in one assignment; students upload their repository "
                  "(NN/ or starter/NN/ folders).")
    print("Upload each zip as the autograder of its own Gradescope assignment (Ubuntu base image).")
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


def autograder_batch(autograder: Path, exercises: list[str], out: Path, redis: str | None = None):
    """The batch that grades autograder/submission for these exercises, as `ticketrail grade` grades one student."""
    from ticketrail.grading.batch import Batch, Options
    from ticketrail.grading.submissions import Submission

    kit = autograder / "source" / "kit"
    config = grading_config.load(kit / "grading.yml")
    submission = Submission(STUDENT, autograder / "submission", "folder")
    return Batch(kit, config, [submission], out, Options(exercises=exercises, jobs=1, redis=redis), stream=sys.stdout)


def autograde(autograder: Path, exercises: list[str], redis: str | None = None) -> dict:
    """Grade autograder/submission; the Gradescope results as a dict."""
    from ticketrail.grading.classview import ClassView
    from ticketrail.grading.feedback.gradescope import results_json

    with tempfile.TemporaryDirectory(prefix="ticketrail-gradescope-") as out:
        batch = autograder_batch(autograder, exercises, Path(out), redis)
        batch.run(batch.plan())
        record = batch.store.load(STUDENT)
        view = ClassView(batch.config, [STUDENT], {STUDENT: record}, list(exercises))
        results = results_json(view, STUDENT)
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
