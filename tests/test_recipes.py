"""The recipes in deploy/ for grading a class on a cluster, run here as their engine runs them: each command line
with the engine's index variable set, against a `ticketrail` that records what it was asked to do. The
container definition is checked as far as a machine without Docker can: what it copies, what it installs."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ticketrail import cli
from ticketrail import config as grading_config

from helpers import KIT
from test_grading import add_student, make_kit

DEPLOY = KIT / "deploy"

RECORDER = """#!/usr/bin/env bash
# Records each call as a JSON line: the arguments, the working folder, the index variables the engine set.
exec "{python}" -c 'import json, os, sys
keep = ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX")
entry = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {{k: os.environ[k] for k in keep if k in os.environ}}}}
print(json.dumps(entry), file=open("{log}", "a"))
print("submitted", flush=True)' "$@"
"""


@pytest.fixture
def engine(tmp_path) -> dict:
    """A PATH where `ticketrail`, `sbatch` and `sudo` record their calls, and the log they write."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    for name in ("ticketrail", "sbatch"):
        (bin_dir / name).write_text(RECORDER.format(python=sys.executable, log=log))
        (bin_dir / name).chmod(0o755)
    (bin_dir / "sudo").write_text('#!/usr/bin/env bash\nexec "$@"\n')
    (bin_dir / "sudo").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return {"env": env, "log": log}


def calls(engine: dict) -> list[dict]:
    if not engine["log"].exists():
        return []
    return [json.loads(line) for line in engine["log"].read_text().splitlines()]


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments as `ticketrail` itself reads them: a recipe naming an option the command lacks fails here."""
    parser = argparse.ArgumentParser(prog="ticketrail", exit_on_error=False)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in cli.SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    try:
        return parser.parse_args(argv)
    except SystemExit as stopped:
        raise AssertionError(f"`ticketrail {shlex.join(argv)}` is not a command ticketrail takes") from stopped


def run(script: str, engine: dict, cwd: Path, **variables: str) -> subprocess.CompletedProcess:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env={**engine["env"], **variables},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{script}\nwith {variables}:\n{done.stdout}{done.stderr}"
    return done


def assert_every_shard_once(graded: list[argparse.Namespace], count: int, recipe: str) -> None:
    shards = sorted((options.shard.index, options.shard.count) for options in graded)
    assert shards == [(index, count) for index in range(1, count + 1)], (
        f"{recipe}: the tasks graded shards {shards}; each of the {count} shards should be graded exactly once")


# --- Slurm ------------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [0, 1])
def test_a_slurm_job_array_grades_each_shard_once_whichever_index_it_starts_at(engine, tmp_path, first):
    script = DEPLOY / "slurm" / "grade-shard.sbatch"
    count = 4
    for task in range(first, first + count):
        run(f"{shlex.quote(str(script))} class results", engine, tmp_path, SLURM_ARRAY_TASK_ID=str(task),
            SLURM_ARRAY_TASK_MIN=str(first), SLURM_ARRAY_TASK_MAX=str(first + count - 1),
            SLURM_ARRAY_TASK_COUNT=str(count))
    graded = [parse(call["argv"]) for call in calls(engine)]
    assert {(o.command, str(o.submissions), str(o.out)) for o in graded} == {("grade", "class", "results")}
    assert_every_shard_once(graded, count, f"{script.name} with --array={first}-{first + count - 1}")


def test_the_slurm_submit_script_runs_the_report_after_every_shard_succeeded(engine, tmp_path):
    run(f"{shlex.quote(str(DEPLOY / 'slurm' / 'grade-class.sh'))} class results 6", engine, tmp_path)
    shards, report = [call["argv"] for call in calls(engine)]
    assert "--array=1-6" in shards and shards[-3:] == [str(DEPLOY / "slurm" / "grade-shard.sbatch"), "class",
                                                      "results"], shards
    assert any(arg.startswith("--dependency=afterok:") for arg in report), report
    engine["log"].unlink()
    run(f"{shlex.quote(report[-2])} {shlex.quote(report[-1])}", engine, tmp_path, SLURM_JOB_ID="8")
    [call] = calls(engine)
    options = parse(call["argv"])
    assert options.command == "report" and [str(f) for f in options.folders] == ["results"]


def test_the_slurm_scripts_grade_a_real_class_into_one_folder_and_report_it(tmp_path):
    kit = make_kit(tmp_path / "kit")
    for number, name in enumerate(["alice", "bob", "carol"]):
        add_student(tmp_path / "class", name, answer=42 if number != 1 else 41)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for task in (1, 2):
        done = subprocess.run([str(DEPLOY / "slurm" / "grade-shard.sbatch"), str(tmp_path / "class"),
                               str(tmp_path / "results")], cwd=kit, capture_output=True, text=True, timeout=600,
                              env={**env, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": "1",
                                   "SLURM_ARRAY_TASK_COUNT": "2"})
        assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([str(DEPLOY / "slurm" / "report.sbatch"), str(tmp_path / "results")], cwd=kit,
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    grades = (tmp_path / "results" / "grades.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in grades[1:]] == ["alice", "bob", "carol"], grades


# --- Kubernetes -----------------------------------------------------------------------------------


def kubernetes(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if doc]


def test_a_kubernetes_indexed_job_grades_each_shard_once_into_the_shared_volume(engine, tmp_path):
    docs = kubernetes("grade-class.yaml")
    [job] = [doc for doc in docs if doc["kind"] == "Job"]
    [claim] = [doc for doc in docs if doc["kind"] == "PersistentVolumeClaim"]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed", "JOB_COMPLETION_INDEX is set only in an Indexed Job"
    assert "ReadWriteMany" in claim["spec"]["accessModes"], "every shard's pod mounts the volume at once"
    [container] = spec["template"]["spec"]["containers"]
    variables = {item["name"]: str(item["value"]) for item in container.get("env", [])}
    command = container["command"] + container.get("args", [])
    assert command[:2] == ["bash", "-c"], command
    for index in range(spec["completions"]):
        run(command[2], engine, tmp_path, JOB_COMPLETION_INDEX=str(index), **variables)
    graded = [parse(call["argv"]) for call in calls(engine)]
    assert_every_shard_once(graded, spec["completions"], "grade-class.yaml")
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    volumes = {volume["persistentVolumeClaim"]["claimName"] for volume in spec["template"]["spec"]["volumes"]}
    assert volumes == {claim["metadata"]["name"]}
    assert {str(o.out) for o in graded} == {"/class/results"} and any("/class/results".startswith(m) for m in mounts)

    [report] = kubernetes("report.yaml")
    [reporter] = report["spec"]["template"]["spec"]["containers"]
    options = parse(reporter["command"][1:] + reporter["args"])
    assert options.command == "report" and [str(f) for f in options.folders] == ["/class/results"]
    assert reporter["image"] == container["image"]


# --- GitHub Actions -------------------------------------------------------------------------------


def expand(text: str, values: dict[str, str]) -> str:
    """GitHub's ${{ ... }} expressions, as the runner fills them in; one the test does not know fails it."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        assert name in values, f"the workflow uses ${{{{ {name} }}}}, which this test does not know"
        return values[name]

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def test_a_github_actions_matrix_grades_each_shard_once_and_the_report_reads_every_artifact(engine, tmp_path):
    workflow = yaml.safe_load((DEPLOY / "github-actions" / "grade-class.yml").read_text())
    grade_job, report_job = workflow["jobs"]["grade"], workflow["jobs"]["report"]
    shards = grade_job["strategy"]["matrix"]["shard"]
    assert report_job["needs"] == "grade"
    for shard in shards:
        values = {"matrix.shard": str(shard), "strategy.job-total": str(len(shards))}
        for step in grade_job["steps"]:
            if "ticketrail" in step.get("run", "") and "pip install" not in step["run"]:
                run(expand(step["run"], values), engine, tmp_path)
        [upload] = [step for step in grade_job["steps"] if step.get("uses", "").startswith("actions/upload-artifact")]
        assert expand(upload["with"]["name"], values) == f"shard-{shard}"
    graded = [parse(call["argv"]) for call in calls(engine)]
    assert_every_shard_once(graded, len(shards), "grade-class.yml")
    assert {str(o.out) for o in graded} == {upload["with"]["path"].rstrip("/")}

    engine["log"].unlink()
    [download] = [step for step in report_job["steps"] if step.get("uses", "").startswith("actions/download-artifact")]
    for shard in shards:  # download-artifact puts each artifact matching the pattern in a folder of its name
        (tmp_path / download["with"]["path"] / f"shard-{shard}" / "records").mkdir(parents=True)
    [step] = [step for step in report_job["steps"] if "ticketrail report" in step.get("run", "")]
    run(step["run"], engine, tmp_path)
    [call] = calls(engine)
    options = parse(call["argv"])
    assert options.command == "report"
    assert sorted(str(f) for f in options.folders) == sorted(f"shards/shard-{shard}" for shard in shards)


# --- the container --------------------------------------------------------------------------------


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_container_copies_what_grading_needs_and_never_the_reference(tmp_path):
    steps = instructions(DEPLOY / "Dockerfile")
    copies = [shlex.split(rest) for keyword, rest in steps if keyword == "COPY"]
    image = tmp_path / "kit"  # the image's /kit, as its COPY lines would fill it from the kit's root
    for *sources, target in copies:
        for source in sources:
            assert not source.startswith("--"), f"COPY {source}: copy from the build context only"
            assert (KIT / source).exists(), f"COPY {source}: no such file in the kit (the build context)"
            assert source.rstrip("/") not in (".", "reference", "tests"), f"COPY {source} puts it in the image"
            destination = image / target / (Path(source).name if target.endswith("/") and len(sources) > 1 else "")
            if (KIT / source).is_dir():
                shutil.copytree(KIT / source, destination, dirs_exist_ok=True)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(KIT / source, destination)
    config = grading_config.load(image / "grading.yml")
    for exercise_id in config.exercises:
        assert (image / "graders" / exercise_id).is_dir() and (image / "starter" / exercise_id).is_dir(), exercise_id
    project = (image / "pyproject.toml").read_text()
    readme = re.search(r'^readme = "(.+)"', project, re.M)
    assert readme is None or (image / readme.group(1)).is_file(), "pip will not build the kit without its readme"
    assert (image / "src" / "ticketrail" / "cli.py").is_file()
    assert dict(steps)["WORKDIR"] == "/kit", "ticketrail finds grading.yml from the working folder"
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["ticketrail"]


def test_the_container_installs_python_redis_and_bubblewrap_from_packages_that_exist():
    steps = instructions(DEPLOY / "Dockerfile")
    base = dict(steps)["FROM"]
    version = re.match(r"python:(\d+)\.(\d+)", base)
    assert version, f"FROM {base}: the grader needs Python"
    needed = re.search(r'requires-python = ">=(\d+)\.(\d+)"', (KIT / "pyproject.toml").read_text())
    assert tuple(map(int, version.groups())) >= tuple(map(int, needed.groups())), f"FROM {base} is too old"
    runs = " && ".join(rest for keyword, rest in steps if keyword == "RUN")
    installs = re.findall(r"apt-get install ([^&]+)", runs)
    packages = [word for words in installs for word in words.split() if not word.startswith("-")]
    assert {"redis-server", "bubblewrap"} <= set(packages), packages
    assert "pip install" in runs and " -e . " in f"{runs} "
    if shutil.which("apt-get") is None or not list(Path("/var/lib/apt/lists").glob("*Packages*")):
        pytest.skip("no apt package lists on this machine to check the package names against")
    simulated = subprocess.run(["apt-get", "install", "-s", "-q", *packages], capture_output=True, text=True,
                               timeout=120)
    assert simulated.returncode == 0, f"apt-get install {' '.join(packages)} would fail:\n{simulated.stderr}"
