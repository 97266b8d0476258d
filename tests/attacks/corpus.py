"""The attack corpus: submissions that attack the grader, graded in one batch.

Each folder here is one student: `NAME/NN/<files>` for exercise NN (most attack 01), or a `NAME/build.py`
that makes the submission (a zip, a link, a conftest.py, a FIFO: things that must not sit in the kit's own
tree; its `build` returns the path it made). Its first lines say

    # attack: what it tries
    # honest: the score its real behaviour earns, and why
    # proof: text the grading output must hold to show it really tried (" | " between several; "-" for none)
    # exercise: NN (a build.py's exercise, when it is not 01)
    # brokers: both (an attack on the Redis broker itself; the kit's tests grade it on redis-server and on the
    #   embedded server, and every other attack on redis-server only: the jail around students is the same)

`run()` builds the corpus into a folder of submissions, grades it with `ticketrail grade` as an
instructor would, and reads back every student's record.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

KIT = Path(__file__).resolve().parents[2]
ATTACKS = Path(__file__).resolve().parent
EXERCISE = "01"
_HEADER = re.compile(r"^#\s*(attack|honest|proof|exercise|brokers):\s*(.*)$")
# Places a submission's files were told to go, outside its own folder: none may exist after the batch.
PLANTED = ("/tmp/ticketrail-attack-zip-slip.py", "/tmp/ticketrail-attack-zip-absolute.py")
# Folders every user may write: what an attack leaves there must be gone after the batch.
SHARED_FOLDERS = tuple(Path(folder) for folder in ("/tmp", "/var/tmp", "/dev/shm", "/run", "/run/lock", "/var/lock"))


@dataclass
class Attack:
    name: str
    tries: str
    honest: float
    why: str
    proofs: list[str]
    folder: Path
    exercise: str = EXERCISE
    student: str = ""  # the name the grading gives the submission it builds; the attack's name by default
    on_every_broker: bool = False

    @property
    def builder(self) -> Path | None:
        path = self.folder / "build.py"
        return path if path.is_file() else None


@dataclass
class Outcome:
    student: str
    status: str
    score: float
    max_score: float
    seconds: float
    failed: list[str]
    text: str  # the notes, messages and details of every test, and the problems found in the submission

    def shows(self, proof: str) -> bool:
        return proof in self.text


def load(names: list[str] | None = None) -> list[Attack]:
    attacks = []
    for folder in sorted(path for path in ATTACKS.iterdir() if path.is_dir() and not path.name.startswith(("_", "."))):
        if names and folder.name not in names:
            continue
        exercises = sorted(path.name for path in folder.iterdir() if path.is_dir() and re.fullmatch(r"\d\d", path.name))
        header = folder / "build.py" if (folder / "build.py").is_file() else next(
            path for path in sorted((folder / exercises[0]).glob("*.py")) if path.read_text().startswith("# attack:"))
        fields: dict[str, str] = {}
        for line in header.read_text(encoding="utf-8").splitlines()[:6]:
            match = _HEADER.match(line)
            if match:
                fields[match.group(1)] = match.group(2).strip()
        honest, _, why = fields["honest"].partition(" ")
        proofs = [proof.strip() for proof in fields["proof"].split(" | ") if proof.strip() not in ("", "-")]
        exercise = fields.get("exercise") or (exercises[0] if exercises else EXERCISE)
        attacks.append(Attack(folder.name, fields["attack"], float(honest), why, proofs, folder, exercise, folder.name,
                              fields.get("brokers") == "both"))
    return attacks


def build(attacks: list[Attack], batch: Path) -> Path:
    """The folder of submissions, readable by root alone (as every class's work must be)."""
    batch.mkdir(mode=0o700, parents=True)
    for attack in attacks:
        if attack.builder is not None:
            made = Path(runpy.run_path(str(attack.builder))["build"](batch, KIT))
            attack.student = made.stem if made.suffix == ".zip" else made.name
        else:
            shutil.copytree(attack.folder, batch / attack.name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
    return batch


def grade(batch: Path, out: Path, jobs: int = 2, extra: list[str] | None = None, exercises: list[str] = (EXERCISE,),
          redis: str | None = None) -> tuple[float, str]:
    """`ticketrail grade` on the batch; returns its wall time and everything it printed."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ticketrail.cli", "grade", str(batch), "--out", str(out), "--exercise",
            ",".join(sorted(set(exercises))), "--jobs", str(jobs), "--force", *(extra or [])]
    if redis:
        argv += ["--redis", redis]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=KIT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=3600,
                          env={k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "TICKETRAIL_"))})
    return time.monotonic() - started, done.stdout + done.stderr


def outcomes(out: Path, attacks: list[Attack]) -> dict[str, Outcome]:
    """The outcome of each attack, by the attack's name."""
    by_student = {attack.student or attack.name: attack for attack in attacks}
    found = {}
    for path in sorted((out / "records").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        attack = by_student.get(record["student"])
        entry = record.get("exercises", {}).get(attack.exercise if attack else EXERCISE)
        if attack is None or entry is None:
            continue
        result = entry["result"]
        text = "\n".join([result.get("note", ""), *record.get("problems", []),
                          *(f"{t['message']}\n{t['details']}" for t in result["tests"])])
        found[attack.name] = Outcome(record["student"], result["status"], result["score"], result["max_score"],
                                           result.get("duration", 0.0),
                                           [t["name"] for t in result["tests"] if t["outcome"] != "passed"], text)
    return found


def run(workdir: Path, names: list[str] | None = None, jobs: int = 2,
        redis: str | None = None) -> tuple[list[Attack], dict[str, Outcome], float, str]:
    attacks = load(names)
    batch = build(attacks, workdir / "submissions")
    seconds, printed = grade(batch, workdir / "results", jobs, exercises=[a.exercise for a in attacks], redis=redis)
    return attacks, outcomes(workdir / "results", attacks), seconds, printed


def probe_report(outcome: Outcome) -> dict | None:
    """What the jail_probe attack saw, from the JSON line it printed."""
    for line in outcome.text.splitlines():
        if "JAIL-PROBE {" in line:
            return json.loads(line.split("JAIL-PROBE ", 1)[1])
    return None


def hidden_texts(kit: Path = KIT) -> list[str]:
    """Lines that only a copy of the hidden files would show: their docstrings' first lines, grading.yml's header.

    Failure messages and tracebacks quote the graders' asserts by design; these lines appear in neither."""
    texts = []
    for folder in [*(kit / "graders").iterdir(), *(kit / "reference").iterdir()]:
        for path in sorted(folder.glob("*.py")):
            match = re.match(r'\s*(?:"""|\'\'\')\s*(.+)', path.read_text(encoding="utf-8"))
            if match and len(match.group(1)) >= 20:
                texts.append(match.group(1).strip().rstrip('"').strip())
    texts.append((kit / "grading.yml").read_text(encoding="utf-8").splitlines()[0])
    return texts


def leaks(out: Path, texts: list[str]) -> list[str]:
    """'file: text' for every hidden text found in any file the grading wrote."""
    found = []
    for path in sorted(out.rglob("*")):
        if path.is_file():
            content = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{path.relative_to(out)}: {text}" for text in texts if text in content]
    return found


def table(attacks: list[Attack], found: dict[str, Outcome]) -> tuple[str, bool]:
    """The attacks and their outcomes, one row each; and whether every attack ended as it honestly should."""
    rows = [("attack", "honest", "got", "status", "tried (proof seen)", "verdict", "time")]
    every_one_honest = True
    for attack in attacks:
        outcome = found.get(attack.name)
        if outcome is None:
            rows.append((attack.name, f"{attack.honest:g}", "-", "not graded", "-", "FAIL", "-"))
            every_one_honest = False
            continue
        proofs = [proof for proof in attack.proofs if not outcome.shows(proof)]
        ok = outcome.score == attack.honest and not proofs and outcome.status not in ("ungradable", "timeout")
        every_one_honest &= ok
        rows.append((attack.name, f"{attack.honest:g}", f"{outcome.score:g}/{outcome.max_score:g}", outcome.status,
                     "yes" if not proofs else "no: " + ", ".join(proofs), "ok" if ok else "FAIL",
                     f"{outcome.seconds:.0f} s"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines), every_one_honest
