"""Nobody can game the graders: the attack corpus (tests/attacks) graded in one batch, and the defences one by one.

The batch runs `ticketrail grade` as an instructor would, as root, so that the sandbox is on: every attack
must end with its honest score, show that it really tried, leave nothing behind, and leave the controls
graded beside it as if they were alone. `benchmarks/attack_table.py` prints the same batch as a table.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from attacks import corpus
from helpers import KIT, explain
from ticketrail import config, procfs, procs, sandbox
from ticketrail.grading.runner import run_exercise
from ticketrail.procs import Child, ChildFailed, PortTaken, python_argv, wait_for_port
from ticketrail.sandbox.runtime import runtime_python
from ticketrail.waiting import wait_until

ATTACKS = corpus.load()
BROKERS = ["server", "embedded"]


def graded_on(broker: str) -> list[corpus.Attack]:
    """Every attack on redis-server; on the embedded server, those that strike the broker itself and the controls."""
    return [attack for attack in ATTACKS if broker == "server" or attack.on_every_broker]


as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox (and so the attack corpus) needs root")


@pytest.fixture(scope="module", params=BROKERS)
def batch(request, tmp_path_factory):
    """The corpus in one `ticketrail grade` batch on each Redis backend (see `graded_on`)."""
    if os.geteuid() != 0:
        pytest.skip("the sandbox (and so the attack corpus) needs root")
    work = tmp_path_factory.mktemp(f"attacks-{request.param}")
    names = [attack.name for attack in graded_on(request.param)]
    attacks, outcomes, seconds, printed = corpus.run(work, names, jobs=2, redis=request.param)
    print(corpus.table(attacks, outcomes)[0], f"\n{seconds:.0f} s on {request.param}")
    return work, outcomes, printed, names


def _outcome(batch, attack: corpus.Attack) -> corpus.Outcome:
    _, outcomes, printed, names = batch
    if attack.name not in names:
        pytest.skip(f"{attack.name} does not strike the broker: it is graded on redis-server only")
    assert attack.name in outcomes, f"{attack.name} has no record after the batch. The batch printed:\n{printed[-3000:]}"
    return outcomes[attack.name]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_each_attack_earns_only_its_honest_score(batch, attack):
    outcome = _outcome(batch, attack)
    assert outcome.score == attack.honest, (
        f"{attack.name} tries: {attack.tries}.\nIts honest score is {attack.honest:g} ({attack.why}), but it got "
        f"{outcome.score:g}/{outcome.max_score:g} ({outcome.status}); failed: {outcome.failed}.\n{outcome.text[-3000:]}"
    )


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.proofs], ids=lambda attack: attack.name)
def test_each_attack_really_tried_what_it_claims(batch, attack):
    outcome = _outcome(batch, attack)
    missing = [proof for proof in attack.proofs if not outcome.shows(proof)]
    assert not missing, (
        f"{attack.name} tries: {attack.tries}. The grading output should show {missing} as proof that it "
        f"really did; it shows:\n{outcome.text[-3000:]}"
    )


def test_the_batch_finished_with_every_attack_graded_or_refused(batch):
    _, outcomes, printed, names = batch
    assert sorted(outcomes) == sorted(names), printed[-3000:]
    broken = {name: (o.status, o.text[:500]) for name, o in outcomes.items() if o.status in ("ungradable", "timeout")}
    assert not broken, f"Gradings that did not come to a verdict: {broken}"


def test_no_hidden_text_reaches_any_output(batch):
    work, _, printed, _ = batch
    hidden = corpus.hidden_texts()
    assert len(hidden) >= 3 and all(text.strip() for text in hidden), hidden
    found = corpus.leaks(work / "results", hidden) + [f"printed: {text}" for text in hidden if text in printed]
    assert not found, f"Text from graders/, reference/ or grading.yml reached the grading output: {found}"


def test_nothing_an_attack_started_or_planted_outlives_the_batch(batch):
    work, _, _, _ = batch
    daemons = [pid for pid in os.listdir("/proc") if pid.isdigit() and _comm(pid) == "attack-daemon"]
    assert not daemons, f"Attack processes still running after the batch: {daemons}"
    pool = _pool_processes()
    give_up = time.monotonic() + 10  # a process killed at the batch's end may take a moment to go
    while pool and time.monotonic() < give_up:
        time.sleep(0.2)
        pool = _pool_processes()
    assert not pool, (f"Processes of the sandbox's uids (students', brokers', worlds') outlived the batch by "
                      f"10 s (a zombie is a dead program nobody reaped): {pool}")
    leftovers = [str(path) for folder in corpus.SHARED_FOLDERS for path in folder.glob("ticketrail-attack-*")]
    assert not leftovers, f"Files the attacks wrote outside their folders are still there: {leftovers}"
    escaped = [str(path) for path in work.rglob("ticketrail-attack-zip-escaped.py")]
    assert not escaped, f"A zip entry was written outside its submission: {escaped}"


def _pool_processes() -> list[str]:
    return [f"{pid} (uid {uid}, {_state(pid)}): {_cmdline(pid)}" for pid in os.listdir("/proc") if pid.isdigit()
            and (uid := _uid(pid)) is not None and any(start <= uid < start + sandbox.POOL_SIZE
                                                       for start in sandbox.POOL_STARTS)
            and not _under_a_grading(int(pid))]


def _state(pid: str) -> str:
    return " ".join(procfs.status(int(pid)).get("State", ["gone"]))


def _under_a_grading(pid: int) -> bool:
    """Started by a grading still under way (the kit's tests may grade beside the batch): not the batch's."""
    while pid > 1:
        if "pytest" in _cmdline(str(pid)) and _uid(str(pid)) == 0:
            return True
        pid = procfs.parent(pid) or 0
    return False


def _uid(pid: str) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/status").read_text().split("\nUid:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:160]
    except OSError:
        return ""


def test_a_jailed_program_sees_only_the_runtime_its_copy_its_private_folders_and_the_worlds_socket(batch):
    """The jail_probe attack lists what it can see from inside; each list is what the jail allows."""
    _, outcomes, _, _ = batch
    if "jail_probe" not in outcomes:
        pytest.skip("the jail probe is graded on redis-server only")
    seen = corpus.probe_report(outcomes["jail_probe"])
    assert seen is not None, f"the probe reported nothing:\n{outcomes['jail_probe'].text[-2000:]}"
    assert len(seen["processes"]) <= 3 and all("pytest" not in cmd and "redis" not in cmd and "world" not in cmd
                                                for cmd in seen["processes"]), (
        f"a jailed program should see only its own processes (its pid namespace), but saw: {seen['processes']}")
    allowed_top = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin", "tmp", "usr", "var"}
    assert set(seen["top"]) <= allowed_top, f"paths outside the runtime and its copy: {set(seen['top']) - allowed_top}"
    assert seen["sockets"] == ["/run/ticketrail/world.sock"], (
        f"the only socket a jailed program may see is the world's, but it found: {seen['sockets']}")
    assert seen["foreign"] == [], f"files of other uids (other runs, the host's users): {seen['foreign']}"
    assert not [path for path in seen["writable"] if not path.startswith("/var/cache/ticketrail/work/")], (
        f"a jailed program may write only its own copy and private folders; it can write: {seen['writable']}")


def test_a_correct_submission_graded_in_a_new_batch_after_the_attacks_earns_full_marks(batch, tmp_path):
    attacks, outcomes, _, printed = corpus.run(tmp_path, ["control_correct"], jobs=1)
    assert outcomes["control_correct"].score == attacks[0].honest, (
        f"after the attack batch, a correct submission graded alone got {outcomes['control_correct'].score}:\n"
        f"{outcomes['control_correct'].text[-2000:]}\n{printed[-2000:]}")


def _comm(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


# --- each attack is real: what it does to a grader without these defences --------------------------


def _naive_pytest(folder: Path, *args: str, **env: str) -> str:
    (folder / "test_the_grader.py").write_text("def test_that_fails():\n    assert 1 == 2\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:ticketrail",
                           *args, str(folder / "test_the_grader.py")], cwd=folder, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], **env})
    return done.stdout + done.stderr


def test_the_conftest_and_sitecustomize_attacks_do_pass_a_failing_test_under_a_naive_grader(tmp_path):
    built = corpus.load(["conftest_marks_all_passed"])
    submission = corpus.build(built, tmp_path / "batch") / "conftest_marks_all_passed" / "01"
    control = tmp_path / "control"
    control.mkdir()
    assert "1 failed" in _naive_pytest(control), "the naive grader's own test must fail without the attack"
    with_conftest = tmp_path / "with_conftest"
    shutil.copytree(submission, with_conftest, ignore=shutil.ignore_patterns("pytest.ini", "sitecustomize.py"))
    assert "1 passed" in _naive_pytest(with_conftest), "the attack's conftest.py should turn the failure into a pass"
    with_site = tmp_path / "with_site"
    shutil.copytree(submission, with_site, ignore=shutil.ignore_patterns("pytest.ini", "conftest.py"))
    assert "1 passed" in _naive_pytest(with_site, PYTHONPATH=str(with_site)), (
        "the attack's sitecustomize.py, on the grader's path, should turn the failure into a pass")


def test_a_report_forged_without_the_sandbox_makes_the_run_ungradable_instead_of_full_marks(tmp_path):
    attack = corpus.load(["forge_results_file"])[0]
    impl = tmp_path / "01"
    shutil.copytree(attack.folder / "01", impl)
    try:
        result = run_exercise(KIT, config.load(KIT / "grading.yml"), "01", impl, student_user="none")
    finally:
        for forged in Path("/tmp").glob("ticketrail-attack-forged-*"):
            forged.unlink()
    assert result.status == "ungradable" and "something other than the graders wrote to it" in result.note, (
        "Run as the grader's own user, the forger reaches its report and appends a 'passed' line for every test; "
        "the lines it adds carry no seal, so the runner should refuse to score the run:\n" + explain(result))
    assert result.score == 0, explain(result)


@as_root
def test_a_link_to_the_reference_takes_full_marks_without_the_sandbox_and_nothing_within(tmp_path):
    impl = tmp_path / "01"
    impl.mkdir()
    os.symlink(KIT / "reference" / "01" / "app.py", impl / "app.py")
    grading = config.load(KIT / "grading.yml")
    only = {"test_an_unknown_order_gets_404_and_no_side_effects"}
    open_run = run_exercise(KIT, grading, "01", impl, student_user="none", only=only)
    assert open_run.score == open_run.max_score, "followed as root, the link serves the reference:\n" + explain(open_run)
    sandboxed = run_exercise(KIT, grading, "01", impl, student_user="auto", only=only)
    assert sandboxed.score == 0, "in the sandbox the link leads to a file the uid cannot read:\n" + explain(sandboxed)
    assert 'Could not import module "app"' in sandboxed.tests[0].message, explain(sandboxed)


# --- the defences, one by one ------------------------------------------------------------------------


FLOOD = "import sys\nfor stream in (sys.stdout, sys.stderr):\n    stream.write(('x' * 1023 + '\\n') * 40 * 1024)\nprint('last words')\n"


def test_a_flood_of_output_is_cut_to_a_head_and_a_tail_and_the_program_goes_on(tmp_path):
    child = Child("flood", python_argv("-c", FLOOD), tmp_path, {"PATH": "/usr/bin:/bin"}, log_dir=tmp_path)
    child.process.wait(60)
    child.stop()
    log = child.log()
    assert child.process.returncode == 0, f"every write should succeed; the program {child.describe_exit()}"
    assert child.log_path.stat().st_size < procs.OUTPUT_HEAD + procs.OUTPUT_TAIL + 4096, "the log file is capped"
    assert "MiB of output dropped here" in log and log.rstrip().endswith("last words"), log[-300:]
    assert 75 < child.output.dropped / procs.MiB < 80, f"80 MiB were printed, {child.output.dropped} bytes dropped"


def test_a_program_that_floods_then_dies_is_reported_with_the_cut_and_its_last_words(tmp_path):
    child = Child("flood", python_argv("-c", FLOOD + "raise SystemExit(3)\n"), tmp_path, {"PATH": "/usr/bin:/bin"},
                  log_dir=tmp_path)
    child.process.wait(60)
    child.output.close(5)
    message = str(ChildFailed(child, "it stopped"))
    assert "MiB of output was dropped" in message and "last words" in message, message[-500:]
    assert len(message) < 5000, "the report of a flood stays short enough to read"


def test_a_port_answered_by_another_program_is_not_taken_for_the_api(tmp_path):
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    port = squatter.getsockname()[1]
    child = Child("sleeper", python_argv("-c", "import time; time.sleep(30)"), tmp_path, {"PATH": "/usr/bin:/bin"},
                  log_dir=tmp_path)
    try:
        with pytest.raises(PortTaken):
            wait_for_port(child, port, timeout=5)
    finally:
        squatter.close()
        child.stop(grace=1)


def test_the_api_really_listening_on_its_port_is_recognised(tmp_path):
    server = "import socket, time\ns = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(1); time.sleep(30)"
    port = procs.free_port()
    child = Child("listener", python_argv("-c", server.format(port=port)), tmp_path, {"PATH": "/usr/bin:/bin"},
                  log_dir=tmp_path)
    try:
        wait_for_port(child, port, timeout=20)
        assert procs.listens_on(child, port)
    finally:
        child.stop(grace=1)


@pytest.fixture(scope="module", params=["jail", "uid"])
def box(request):
    """The sandbox, once with the jail and once with the uid alone (as where namespaces are refused)."""
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")
    started = sandbox.activate("auto", KIT, isolation="auto" if request.param == "jail" else "uid")
    if started.isolation != request.param:
        started.close()
        pytest.skip(f"this machine gives the {started.isolation} isolation only: {started.notes[0]}")
    yield started
    started.close()


def _run_as(box: sandbox.Sandbox, folder: Path, code: str, name: str = "probe", log_dir: Path | None = None) -> Child:
    return Child(name, python_argv("-c", code), folder, {"PATH": "/usr/bin:/bin", "HOME": str(folder)},
                 user=box.user, log_dir=log_dir or folder.parent, jail=box.jail(folder))


def test_the_runtime_holds_the_kits_modules_compiled_even_where_the_grader_keeps_its_bytecode_elsewhere(box):
    """Student programs run with -B and read no cache prefix: the runtime's own __pycache__ is all they get."""
    if box.isolation != "jail":
        pytest.skip("one build is enough: the runtime is the same for both isolations")
    root = Path(tempfile.mkdtemp(prefix="runtime-test-", dir=sandbox.ROOT))
    os.chmod(root, 0o755)
    prefix = root / "prefix"
    saved = sys.pycache_prefix
    try:
        sys.pycache_prefix = str(prefix)  # as under bytecode.kept, where the shell forbids bytecode
        python = runtime_python(root, box.user)
    finally:
        sys.pycache_prefix = saved
    try:
        package = next(Path(python).parent.parent.glob("lib/python*/site-packages/ticketrail"))
        bare = [str(source.relative_to(package)) for source in package.rglob("*.py")
                if not (source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc").is_file()]
        assert not bare, f"modules of the runtime with no bytecode beside them (each program would compile them): {bare}"
        assert not prefix.exists(), "the build wrote the runtime's bytecode into the grader's own cache"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_sandbox_uid_has_no_account_and_cannot_open_any_kit_secret(box, tmp_path):
    assert box.claimed and sandbox._account_exists(box.uid) is False
    if box.isolation == "uid":
        secrets = [KIT / name for name in sandbox.SECRETS]
        assert sandbox.readable_by(box.uid, box.gid, secrets) == []
    assert sandbox.readable_by(box.uid, box.gid, [Path(box.python)]) == [Path(box.python)], "the runtime is readable"
    workspace = box.workspace(KIT / "starter" / "01")
    probe = ("import os, ticketrail.shop, fastapi, uvicorn\n"
             f"print('uid', os.getuid())\nopen({str(KIT / 'reference' / '01' / 'app.py')!r})\n")
    child = _run_as(box, workspace, probe, log_dir=tmp_path)
    child.process.wait(60)
    child.stop()
    refused = "FileNotFoundError" if box.isolation == "jail" else "PermissionError"  # the jail holds no kit at all
    assert f"uid {box.uid}" in child.log() and refused in child.log(), child.log()
    box.discard(workspace)


def test_the_workspace_is_a_private_copy_whose_links_stay_links(box, tmp_path):
    source = tmp_path / "01"
    source.mkdir()
    (source / "app.py").write_text("print('hello')\n")
    os.symlink(KIT / "reference" / "01" / "app.py", source / "worker.py")
    workspace = box.workspace(source)
    try:
        assert (workspace / "app.py").stat().st_uid == box.uid and (workspace / "app.py").read_text() == "print('hello')\n"
        assert (workspace / "worker.py").is_symlink(), "a link is copied as a link, never as the file it points to"
        assert oct(workspace.parent.stat().st_mode & 0o777) == "0o711", "others cannot list the workspaces"
    finally:
        box.discard(workspace)
    assert not workspace.exists()


def test_reaping_ends_a_process_that_left_its_group_and_removes_its_temporary_files(box, tmp_path):
    workspace = box.workspace(KIT / "starter" / "01")
    escape = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n"
              "    open(f'/tmp/ticketrail-reap-probe-{os.getpid()}', 'w').write('x')\n    time.sleep(300)\n")
    child = _run_as(box, workspace, escape, log_dir=tmp_path)
    child.process.wait(30)
    if box.isolation != "jail":
        # Stopped before the daemon's setsid(), the daemon would go with the group: wait for its probe file.
        wait_until(lambda: list(Path("/tmp").glob("ticketrail-reap-probe-*")), 10,
                   lambda: f"the daemon never wrote its probe:\n{child.log()}", interval=0.05)
    child.stop()
    if box.isolation == "jail":
        # Its pid namespace ended with the program: the daemon went with it (killed by the kernel, and dying in its
        # own time on a busy machine), and its /tmp was the jail's own.
        wait_until(lambda: not sandbox.processes_of(box.uid, include_zombies=False), 10, lambda: (
            "a daemon outlived its jail by 10 s: " + ", ".join(
                f"{pid} ({_state(str(pid))}): {_cmdline(str(pid))}"
                for pid in sandbox.processes_of(box.uid, include_zombies=False))), interval=0.05)
        box.discard(workspace)
        assert not list(Path("/tmp").glob("ticketrail-reap-probe-*")), "the jail's /tmp is not the host's"
        return
    wait_until(lambda: sandbox.processes_of(box.uid, include_zombies=False), 10,
               lambda: "the probe's daemon should have survived the stop of its group", interval=0.05)
    swept = box.reap()
    box.discard(workspace)
    assert swept.processes >= 1 and not sandbox.processes_of(box.uid), swept
    assert not list(Path("/tmp").glob("ticketrail-reap-probe-*")), "the files it left in /tmp are gone"


def test_the_watchdog_stops_a_fork_bomb_once_it_hits_the_process_limit(box, tmp_path):
    attack = corpus.load(["fork_bomb"])[0]
    workspace = box.workspace(attack.folder / "01")
    heard: list[str] = []
    stopped = threading.Event()
    box.on_stop.append(lambda why: (heard.append(why), stopped.set()))
    child = Child("bomb", python_argv("app.py"), workspace, {"PATH": "/usr/bin:/bin"}, user=box.user,
                  log_dir=tmp_path, jail=box.jail(workspace))
    try:
        # A bound for a loaded machine (it took 15 s beside three gradings on two cores), not a speed goal.
        assert stopped.wait(30), f"the watchdog did not stop the bomb within 30 s; it printed:\n{child.log_tail()}"
        child.process.wait(10)
        child.output.close(5)
    finally:
        box.on_stop.clear()
        child.stop(grace=1)
        box.reap()
        box.discard(workspace)
    assert "Resource temporarily unavailable" in child.log(), "the bomb really hit RLIMIT_NPROC:\n" + child.log_tail()
    assert "a fork bomb?" in heard[0] or "a CPU bomb?" in heard[0], heard
    assert child.describe_exit() == "killed by SIGKILL"


def test_an_allocation_past_the_memory_limit_fails_with_memory_error(box, tmp_path):
    workspace = box.workspace(tmp_path)
    child = _run_as(box, workspace, "bytearray(3 * 1024 ** 3)", log_dir=tmp_path)
    child.process.wait(30)
    child.stop()
    box.discard(workspace)
    assert "MemoryError" in child.log(), child.log()


def test_a_file_stops_at_the_file_size_limit_with_an_error_not_a_crash(box, tmp_path):
    workspace = box.workspace(tmp_path)
    code = ("import errno\ntry:\n    open('big', 'wb').write(b'0' * (64 * 1024 * 1024))\n"
            "except OSError as error:\n    print('refused', errno.errorcode[error.errno])\n")
    child = _run_as(box, workspace, code, log_dir=tmp_path)
    child.process.wait(30)
    child.stop()
    try:
        assert "refused EFBIG" in child.log() and child.process.returncode == 0, child.log()
        assert (workspace / "big").stat().st_size == procs.STUDENT_LIMITS.file_bytes
    finally:
        box.discard(workspace)


# --- ticketrail validate: its verdicts, on made-up results ------------------------------------------


def _solution(name: str, failed: set[str], checks_failed: set[str] = frozenset(), known_wrong: bool = True):
    from ticketrail.commands.validate import Solution
    from ticketrail.grading.runner import ExerciseResult, TestResult

    spec = config.load(KIT / "grading.yml").exercise("01")
    tests = [TestResult(test, "failed" if test in failed else "passed", 0.0, 1.0, "visible") for test in spec.tests]
    checks = {check: "failed" if check in checks_failed else "passed" for check in ("check_a", "check_b")}
    return Solution(name, Path("."), known_wrong, ExerciseResult("01", "", "graded", tests), checks)


def test_validate_names_the_grader_test_no_known_wrong_solution_fails():
    from ticketrail.commands.validate import uncaught

    spec = config.load(KIT / "grading.yml").exercise("01")
    first, *others = list(spec.tests)
    wrong = [_solution("misses_the_first", set(others))]
    assert uncaught(spec, wrong) == [first]


def test_validate_flags_a_self_check_that_fails_a_solution_every_grader_passes():
    from ticketrail.commands.validate import self_check_cover

    spec = config.load(KIT / "grading.yml").exercise("01")
    latency = "test_confirm_answers_within_the_latency_budget"
    exactly_once = "test_every_side_effect_happens_exactly_once_soon_after"
    solutions = [_solution("reference", set(), known_wrong=False),
                 _solution("slow", {latency}, {"check_a"}),
                 _solution("twice", {exactly_once}, {"check_a"}),
                 _solution("strict", set(), {"check_b"})]
    cover = {name: rest for name, *rest in self_check_cover(spec, solutions)}
    assert cover["check_a"] == [["slow", "twice"], [], []], "two graders catch what check_a fails: not stricter"
    assert cover["check_b"] == [["strict"], [], ["strict"]], "check_b fails a solution every grader passes: stricter"


def test_no_control_character_or_formula_from_a_submission_reaches_any_output(batch):
    """The output_injection attack prints ESC, BEL and NUL and is named like a spreadsheet formula."""
    work, outcomes, printed, _ = batch
    if "output_injection" not in outcomes:
        pytest.skip("output_injection is graded on redis-server only")
    raw = [f"{path.relative_to(work / 'results')}" for path in (work / "results").rglob("*") if path.is_file()
           and path.suffix in (".md", ".html", ".csv", ".json") and any(c in path.read_bytes() for c in b"\x1b\x07\x00")]
    assert not raw, f"raw control characters from a submission reached: {raw}"
    assert not any(c in printed for c in "\x1b\x07\x00"), "raw control characters reached the terminal summary"
    for name in ("grades.csv", "tests.csv"):
        with open(work / "results" / name, newline="", encoding="utf-8-sig") as table:
            formulas = [cell for row in csv.reader(table) for cell in row if cell[:1] in ("=", "+", "@")]
        assert not formulas, f"{name} holds cells a spreadsheet would run as formulas: {formulas[:3]}"
