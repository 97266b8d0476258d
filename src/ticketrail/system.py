"""The student's programs for one test: the API under uvicorn, workers, and the rest."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ticketrail import notdone, procs, startup, timings
from ticketrail.procs import BusyAtStart, Child, ChildFailed, PortTaken, free_port, python_argv, wait_for_port
from ticketrail.sandbox import Sandbox, Sweep

PORT_ATTEMPTS = 3
HOPELESS_PERIOD = 0.5
PRINTED_LINES = 20  # of a program's own output shown beside its crash
EARLY_SECONDS = 5.0  # a program that died this soon after its start, before its main block ran, died starting
BUSY_SHARE = 0.8  # of its time since it started, running or ready to run: one that waits never comes near
# Once an API spent procs.START_CPU_BUDGET at start without listening, the same files in a later check of the run
# get this much: still three times what its imports take, and a loop at import costs each check 2 s, not 10.
BUSY_AGAIN_CPU_BUDGET = 2.0
# Where a jailed program finds the world's socket: the world learns from the kernel who called, never from a header.
JAILED_WORLD_SOCKET = "/run/ticketrail/world.sock"


class CouldNotStart(ChildFailed):
    """A program died before it was ready: its message is the one line that says why, and the student's frames."""

    def __init__(self, child: Child, text: str) -> None:
        RuntimeError.__init__(self, text)
        self.child = child


# Start-up crashes already told in full in this run: the same crash in a later test is told in one line. When the
# checks run side by side, the run's folder holds them, a file each, for every worker (see tell_once_across).
_told: set[str] = set()
_told_folder: Path | None = None


def tell_once_across(folder: str | None) -> None:
    """Count a crash as told once it is told in any process that shares `folder` (None: in this process)."""
    global _told_folder
    _told_folder = Path(folder) if folder else None


def _told_file(headline: str) -> Path:
    return _told_folder / hashlib.sha256(headline.encode()).hexdigest()


def _first_telling(headline: str) -> bool:
    if _told_folder is None:
        first = headline not in _told
        _told.add(headline)
        return first
    try:
        os.close(os.open(_told_file(headline), os.O_CREAT | os.O_EXCL, 0o600))
        return True
    except FileExistsError:
        return False


def _told_before(headline: str) -> bool:
    return headline in _told if _told_folder is None else _told_file(headline).exists()


def _role(child: Child) -> str:
    if child.name.startswith("api"):
        return "the API"
    return child.name if child.name.endswith(".py") else f"the {child.name}"


class _AskAgainOnce(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # uvicorn closes a kept-alive connection once the app raised (an endpoint's 500, a background task), and
            # the request sent on it next is never read: send it again, on a new connection.
            return super().handle_request(request)


@dataclass
class Api:
    """The student's API under uvicorn; its client sends a request again, once, when uvicorn closed the
    connection under it."""

    url: str
    child: Child
    client: httpx.Client

    @staticmethod
    def client_for(url: str) -> httpx.Client:
        # Plain HTTP on the loopback: verify=True would load the CA bundle for each API (about 40 ms of CPU).
        return httpx.Client(base_url=url, timeout=30.0, transport=_AskAgainOnce(verify=False))


class System:
    """Starts the implementation's programs with a scrubbed environment and stops them all.

    With a sandbox the programs run as its uid, in a private copy of the implementation folder (then
    `impl_dir` is that copy, and `source_dir` the folder it was copied from); their stop ends every process
    of the uid, however it escaped its process group.
    """

    def __init__(
        self,
        impl_dir: Path,
        redis_url: str,
        world_url: str,
        env: dict[str, str] | None = None,
        user: tuple[int, int] | None = None,
        sandbox: Sandbox | None = None,
        world_socket: Path | None = None,
    ) -> None:
        self.source_dir = Path(impl_dir)
        self.sandbox = sandbox
        self.user = sandbox.user if sandbox is not None else user
        self.impl_dir = sandbox.workspace(self.source_dir) if sandbox is not None else self.source_dir
        self.redis_url = redis_url
        self.world_url = world_url
        self.extra_env = dict(env or {})
        self.world_socket = world_socket
        sockets = ((world_socket, JAILED_WORLD_SOCKET),) if world_socket is not None else ()
        self.jail = sandbox.jail(self.impl_dir, sockets=sockets) if sandbox is not None else None
        self.children: list[Child] = []
        self._clients: list[httpx.Client] = []
        # The logs are the harness's: in a folder the programs cannot reach, so that what a report quotes
        # is what they printed, never a file they swapped in. HOME is theirs.
        self.log_dir = Path(tempfile.mkdtemp(prefix="ticketrail-logs-"))
        if self.jail is not None:
            self.home = Path("/tmp")  # the jail's own, private to each program
        elif sandbox is not None:
            self.home = sandbox.home()
        else:
            self.home = Path(tempfile.mkdtemp(prefix="ticketrail-home-"))
            if user is not None:
                os.chown(self.home, *user)
        self.swept: Sweep | None = None
        self._logs_read_at = 0.0
        self.stopped_by_watchdog: list[str] = []
        if sandbox is not None:
            sandbox.on_stop.append(self._heard_watchdog)

    def _heard_watchdog(self, why: str) -> None:
        self.stopped_by_watchdog.append(why)
        for child in list(self.children):
            child.output.note(why)

    def environment(self, **overrides: str) -> dict[str, str]:
        env = {
            "PATH": f"{Path(procs.student_python()).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TZ": procs.STUDENT_TZ,
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MALLOC_ARENA_MAX": "2",
            "REDIS_URL": self.redis_url,
            "TICKETRAIL_WORLD_URL": self.world_url,
        }
        if self.world_socket is not None:
            env["TICKETRAIL_WORLD_SOCKET"] = JAILED_WORLD_SOCKET if self.jail is not None else str(self.world_socket)
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def _require(self, filename: str) -> None:
        if not (self.impl_dir / filename).is_file():
            raise FileNotFoundError(
                f"{self.source_dir / filename} does not exist: the exercise's programs live in that folder."
            )

    @timings.timed("start", "{name}")
    def start(self, name: str, argv: list[str], **env: str) -> Child:
        child = Child(name, argv, self.impl_dir, self.environment(**env), user=self.user, log_dir=self.log_dir,
                      jail=self.jail)
        self.children.append(child)
        return child

    @timings.timed("start", "api ({module}.py) until it answers")
    def start_api(self, module: str = "app", ready_timeout: float = 30.0, port: int | None = None,
                  access_log: bool = False, **env: str) -> Api:
        __tracebackhide__ = True
        self._require(f"{module}.py")
        busy_before = f"busy at start: {self.source_dir / module}.py"
        if _told_before(busy_before):
            cpu_budget = BUSY_AGAIN_CPU_BUDGET
            busy_note = f" as in the first check that started it, given {procs.START_CPU_BUDGET:.0f} s there"
        else:
            cpu_budget, busy_note = procs.START_CPU_BUDGET, ""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            chosen = port or free_port()
            argv = python_argv("-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1", "--port", str(chosen),
                               "--log-level", "info" if access_log else "warning")
            if not access_log:
                argv.append("--no-access-log")
            child = self.start(f"api ({module}.py)", argv, **env)
            try:
                wait_for_port(child, chosen, ready_timeout, cpu_budget=cpu_budget, busy_note=busy_note)
                break
            except BusyAtStart:
                _first_telling(busy_before)  # later checks of the run give these files the short budget
                raise
            except ChildFailed as error:
                # Another program took the free port first: the API is not to blame, so it gets another.
                taken = isinstance(error, PortTaken) or "address already in use" in child.log().lower()
                if port is not None or attempt == PORT_ATTEMPTS or not taken:
                    raise self._could_not_start(child) or error
                child.stop(grace=1)
                self.children.remove(child)
        url = f"http://127.0.0.1:{chosen}"
        client = Api.client_for(url)
        self._clients.append(client)
        return Api(url, child, client)

    def start_program(self, filename: str, *args: str, name: str | None = None, **env: str) -> Child:
        """A plain program such as `python worker.py`."""
        self._require(filename)
        return self.start(name or filename, python_argv(filename, *args), **env)

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        # Nothing observes the programs once the test is over: no grace period to wait out (a test that wants to
        # see a graceful stop sends SIGTERM itself, and waits for it).
        procs.stop_all(self.children, grace=0)
        if self.sandbox is not None:
            self.sandbox.on_stop.remove(self._heard_watchdog)
            self.swept = self.sandbox.reap(spare={child.pid for child in self.children})
            self.sandbox.discard(self.impl_dir)
            if self.jail is None:
                self.sandbox.discard(self.home)
        else:
            shutil.rmtree(self.home, ignore_errors=True)

    def _could_not_start(self, child: Child) -> CouldNotStart | None:
        """The crash of a program that died at start, told in full the first time in this run."""
        if child.alive():
            return None
        found = startup.crash(child.log(), self._student_folders(), _role(child))
        if found is None:
            return None
        if not _first_telling(found.headline):
            # The same line opens every check it fails, in whatever order the checks report; the traceback once.
            return CouldNotStart(child, found.headline + startup.TOLD_ELSEWHERE)
        # What it printed before it died, with any traceback cut to the student's frames: the crash's own is last.
        log = child.log()
        crashes = startup.tracebacks(log)
        before = [line for line in log.splitlines()[:crashes[0].start if crashes else None] if line.strip()]
        before = before[-PRINTED_LINES:]
        said = "\n".join(["It printed, before that:", *before]) if before else ""
        return CouldNotStart(child, "\n".join(part for part in (str(found), said) if part))

    def crash_of(self, child: Child) -> startup.Crash | None:
        """What a program that failed on its own died of, in one line and the student's frames."""
        ended = child.process.returncode is not None
        log, folders = child.log(), self._student_folders()
        early = ended and time.monotonic() - child.started_at < EARLY_SECONDS and startup.died_loading(log, folders)
        return startup.crash(log, folders, _role(child), "could not start" if early else "stopped")

    def first_crash(self) -> startup.Crash | None:
        return next((found for child in self.children if child.failed_on_its_own()
                     and (found := self.crash_of(child)) is not None), None)

    def _student_folders(self) -> tuple[Path, ...]:
        return (self.impl_dir, self.source_dir)

    def hopeless(self) -> str | None:
        """Why no check can come true any more: a program of this test failed on its own, or reached work
        the starter marks as not done yet (its logs are read at most every HOPELESS_PERIOD seconds)."""
        for child in self.children:
            if child.failed_on_its_own():
                found = self.crash_of(child)
                if found is not None:
                    return f"{found}\n\n({child.name} {child.describe_exit()} while the check waited.)"
                return (f"{child.name} {child.describe_exit()} while the check waited, so what it waited for could "
                        f"not happen any more. The last lines it printed:\n{child.log_tail(12) or '(nothing)'}")
        now = time.monotonic()
        if now - self._logs_read_at < HOPELESS_PERIOD:
            return None
        self._logs_read_at = now
        for child in self.children:
            found = notdone.from_log(child.log(), child.name, self.impl_dir)
            if found:
                return f"{found} while the check waited, so what it waited for could not happen."
        return None

    def state(self) -> str:
        """Each program: running (busy when it used most of a core since it started) or how it ended."""
        lines = []
        for child in self.children:
            if child.alive():
                seconds, cpu = time.monotonic() - child.started_at, child.cpu_seconds()
                busy = child.runnable_seconds() >= BUSY_SHARE * seconds and seconds >= 2
                what = (f"busy: {cpu:.1f} s of CPU in {seconds:.1f} s, so it is stuck in a loop, not waiting"
                        if busy else f"running, {cpu:.1f} s of CPU in {seconds:.1f} s")
            else:
                what = child.describe_exit()
            lines.append(f"  {child.name}: {what}")
        return "The programs when the check gave up:\n" + "\n".join(lines) if lines else ""

    def programs(self) -> dict[int, str]:
        """pid → name of every program started for this test, the ended ones too."""
        return {child.pid: child.name for child in self.children}

    def logs_for_report(self, lines: int = 40) -> list[tuple[str, str]]:
        """Each program's last lines, its tracebacks cut to the student's own frames (a 500 reads as the
        endpoint's lines and the error, not forty lines of Starlette)."""
        return [
            (f"{child.name}, pid {child.pid}, {child.describe_exit()}",
             "\n".join(startup.cut_tracebacks(child.log(), self._student_folders()).splitlines()[-lines:]))
            for child in self.children
        ]


__all__ = ["Api", "ChildFailed", "CouldNotStart", "System"]
