"""Child processes: each in its own process group, with limits, a capped log and a clean stop."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ticketrail import procfs, timings
from ticketrail._libc import die_with_parent

if TYPE_CHECKING:
    from ticketrail.sandbox.jail import Jail

MiB = 1024 * 1024
KiB = 1024


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2048 * MiB
    file_bytes: int = 32 * MiB
    cpu_seconds: int = 600
    # Processes *and threads* of the student's uid together (RLIMIT_NPROC counts tasks; the API's thread pool
    # alone may take 40). Root ignores it: it binds when the sandbox runs the programs as a uid of their own.
    processes: int = 256
    open_files: int = 1024


STUDENT_LIMITS = Limits()

# What a program may print: the first OUTPUT_HEAD bytes reach its log file, then only the last OUTPUT_TAIL are
# kept. A flood neither fills the disk nor stops the program (its writes keep succeeding), and the log a learner
# reads stays short enough to read.
OUTPUT_HEAD = 2 * MiB
OUTPUT_TAIL = 256 * KiB

# Student programs run in a zone that is neither UTC nor a whole hour from it (UTC-03:30, -02:30 in summer):
# a time stamped in local time where the contract says UTC is then caught, wherever the grader runs.
STUDENT_TZ = "America/St_Johns"

# The interpreter for student programs; the sandbox points it at one the unprivileged user can run.
_student_python = sys.executable


def student_python() -> str:
    return _student_python


def run_students_with(python: str | None) -> None:
    """Start student programs with `python` from now on (None: this process's own interpreter again)."""
    global _student_python
    _student_python = python or sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def limits_preexec(limits: Limits | None, user: tuple[int, int] | None) -> Callable[[], None]:
    """What a child runs before exec: the limits, then the drop to `user` (limits need root to raise)."""

    def apply() -> None:
        if limits is None:
            if user is not None:
                os.setgid(user[1])
                os.setgroups([])
                os.setuid(user[0])
            return
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        if user is not None:
            os.setgid(user[1])
            os.setgroups([])
            os.setuid(user[0])
        # RLIMIT_NPROC is not enforced for root, so it only binds once the uid is dropped.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    return apply


def _dying_with_parent(apply: Callable[[], None]) -> Callable[[], None]:
    """Whatever ends the harness's process (a kill, a crash) ends its programs too."""

    def run() -> None:
        apply()
        die_with_parent(signal.SIGKILL)

    return run


class Output:
    """A program's stdout and stderr, read from a pipe: the head goes to the log file, the rest is cut to a tail."""

    def __init__(self, path: Path, head: int = OUTPUT_HEAD, tail: int = OUTPUT_TAIL) -> None:
        self.path = path
        self.head, self.tail_cap = head, tail
        # Created by this process, never followed through a link: the log folder is the harness's own.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._written = 0
        self._tail = bytearray()
        self.beyond = 0  # bytes printed after the head
        self._notes: list[str] = []
        self._lock = threading.Lock()
        self._read_fd, self.write_fd = os.pipe()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._pump, name=f"log of {path.name}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while True:
                try:
                    chunk = os.read(self._read_fd, 64 * KiB)
                except OSError:
                    break
                if not chunk:
                    break
                with self._lock:
                    room = self.head - self._written
                    if room > 0:
                        self._file.write(chunk[:room])
                        self._file.flush()
                        self._written += min(room, len(chunk))
                        chunk = chunk[room:]
                    if chunk:
                        self.beyond += len(chunk)
                        self._tail += chunk
                        if len(self._tail) > self.tail_cap:
                            del self._tail[: len(self._tail) - self.tail_cap]
        finally:
            with self._lock:
                if self.beyond:
                    self._file.write(self._cut_notice() + bytes(self._tail))
                self._file.close()
                self._finished.set()  # under the lock: text() must never see the file closed and the log unfinished
            os.close(self._read_fd)

    @property
    def dropped(self) -> int:
        return self.beyond - len(self._tail)

    def _cut_notice(self) -> bytes:
        return (f"\n[ticketrail: {self.dropped / MiB:.1f} MiB of output dropped here; a program's log keeps its "
                f"first {self.head // MiB} MiB and its last {self.tail_cap // KiB} KiB]\n").encode()

    def text(self) -> str:
        with self._lock:
            if not self._finished.is_set():
                self._file.flush()
            try:
                with open(self.path, "rb") as log:
                    data = log.read(self._written)
            except OSError:
                data = b""
            if self.beyond:
                data += self._cut_notice() + bytes(self._tail)
            notes = "".join(f"\n{note}" for note in self._notes)
        return data.decode("utf-8", "replace") + notes

    def note(self, text: str) -> None:
        """Add a line of the harness's own to the end of the log (why it stopped the program, say)."""
        with self._lock:
            self._notes.append(f"[ticketrail: {text}]")

    def close(self, timeout: float) -> None:
        """Wait for the end of the output (every writer gone); a writer that escaped the stop keeps its pipe."""
        self._finished.wait(timeout)


class Child:
    """A program the harness started: its log, its process group, its stop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        cwd: Path,
        env: dict[str, str],
        limits: Limits | None = STUDENT_LIMITS,
        user: tuple[int, int] | None = None,
        log_dir: Path | None = None,
        jail: "Jail | None" = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.jail = jail
        self.cwd = Path(cwd)
        self.user = user
        log_dir = Path(log_dir or tempfile.mkdtemp(prefix="ticketrail-log-"))
        self.log_path = log_dir / f"{name.replace(' ', '_').replace('/', '_')}.log"
        self.output = Output(self.log_path)
        try:
            self.process = subprocess.Popen(
                jail.wrap(self.argv, self.cwd) if jail is not None else self.argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self.output.write_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_dying_with_parent(limits_preexec(limits, user)),
            )
        finally:
            os.close(self.output.write_fd)  # the child holds the only writing end now: its exit is our EOF
        self.started_at = time.monotonic()
        timings.program_started(self)
        self._terminated = False
        self._drained = False
        self.signalled = False  # the harness sent it a signal: an exit from now on is not the program's own doing

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        self.signalled = True
        if self.jail is not None and signum not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCONT):
            # bubblewrap's own process outside the jail would die of SIGTERM (and take the jail with it): a
            # signal asking to stop is for the program inside, as it is without a jail. SIGKILL, SIGSTOP and
            # SIGCONT go to the whole group, bubblewrap too, so that its state is the program's.
            for pid in procfs.group_members(self.process.pid):
                if pid != self.process.pid:
                    try:
                        os.kill(pid, signum)
                    except ProcessLookupError:
                        pass
            return
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole group and reap it: the abrupt death of a machine."""
        self.signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self) -> None:
        """SIGTERM, once: a second one makes some servers (uvicorn) skip their graceful shutdown."""
        if self.alive() and not self._terminated:
            self._terminated = True
            self.signal(signal.SIGTERM)

    @timings.timed("stop", "{self.name}", cpu_of="self")
    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL; returns the exit code."""
        if self.alive():
            self.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # Whatever the program left behind in its group goes too.
        self.signal(signal.SIGKILL)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.output.close(timeout=1.0)
        return self.process.returncode

    def log(self) -> str:
        if not self._drained and self.process.poll() is not None:
            # A program that just ended may have its last words still in the pipe, unread by the pump: they are
            # the ones that say why it ended. Waited for once (a process that escaped the stop may hold the pipe).
            self._drained = True
            self.output.close(timeout=1.0)
        return self.output.text()

    def log_tail(self, lines: int = 30, chars: int = 4000) -> str:
        tail = "\n".join(self.log().splitlines()[-lines:])
        return tail[-chars:]

    def cpu_seconds(self) -> float:
        """CPU time used so far by the processes of its group."""
        return procfs.cpu_seconds(procfs.group_members(self.pid))

    def runnable_seconds(self) -> float:
        """The most time any process of its group spent running or ready to run (see procfs.runnable_seconds)."""
        return max((procfs.runnable_seconds(pid) for pid in procfs.group_members(self.pid)), default=0.0)

    def failed_on_its_own(self) -> bool:
        """Ended with an error (a non-zero code, or a signal nobody here sent) without being asked to stop."""
        return not self.signalled and self.process.poll() not in (None, 0)

    def describe_exit(self) -> str:
        code = self.process.returncode
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        if self.jail is not None and code > 128 and code - 128 in signal.valid_signals():
            return f"killed by {signal.Signals(code - 128).name}"  # bubblewrap passes a signal on as 128 + its number
        return f"exited with code {code}"


@timings.timed("stop", "stop_all")
def stop_all(children: Sequence[Child], grace: float) -> None:
    """Stop programs together: workers finishing a blocking read each take up to a second, in parallel."""
    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        child.stop(grace=max(0.0, deadline - time.monotonic()))


def python_argv(*args: str) -> list[str]:
    # -E ignores PYTHON* variables (hence -u for unbuffered output), -s the user site-packages; -B writes no bytecode into
    # the student's folder. Not -I: it would hide the student's own sibling modules.
    return [_student_python, "-E", "-s", "-B", "-u", *args]


# An API's imports and start take under a second of CPU; one that has used this much and still does not listen
# is spinning (an endless loop at import), whatever the load: CPU time, unlike the clock, does not pass while
# other programs run.
START_CPU_BUDGET = 10.0


def wait_for_port(child: Child, port: int, timeout: float, cpu_budget: float = START_CPU_BUDGET,
                  busy_note: str = "") -> None:
    """Wait until `child` listens on `port`. An answer from any other program on that port is not taken for it."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    look_every = min(1.0, cpu_budget / 4)
    next_look = time.monotonic() + look_every
    while time.monotonic() < deadline:
        if time.monotonic() > next_look:  # a look at /proc costs more than a connect: not at every connect
            next_look += look_every
            if child.alive() and child.cpu_seconds() > cpu_budget:
                raise BusyAtStart(child, f"{child.name} did not answer on port {port}: it used {cpu_budget:.0f} s of "
                                         f"CPU without listening, busy at start{busy_note} (an endless loop at import?)")
        if not child.alive():
            if child.process.returncode < 0:  # killed: the harness's note on why comes just after its last words
                time.sleep(0.2)
            raise ChildFailed(child, f"{child.name} {child.describe_exit()} before it answered on port {port}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            answered = sock.connect_ex(("127.0.0.1", port)) == 0
        if answered:
            if listens_on(child, port):
                timings.program_ready(child)
                return
            if not procfs.listening_inodes(port):
                continue  # the listener closed between the connect and the look
            raise PortTaken(child, f"port {port} answered, but another program than {child.name} listens on it")
        time.sleep(0.02)
    raise ChildFailed(child, f"{child.name} did not answer on port {port} within {timeout:.0f} s")


def listens_on(child: Child, port: int) -> bool:
    """Does a process of `child`'s group hold the socket that listens on `port`?"""
    inodes = procfs.listening_inodes(port)
    return bool(inodes) and any(procfs.holds_socket(pid, inodes) for pid in procfs.group_members(child.pid))


class ChildFailed(RuntimeError):
    def __init__(self, child: Child, message: str) -> None:
        __tracebackhide__ = True
        tail = child.log_tail()
        output = child.output
        cut = (f"It printed so much that {output.dropped / MiB:.1f} MiB of output was dropped (a log keeps the first "
               f"{output.head // MiB} MiB and the last {output.tail_cap // KiB} KiB).\n" if output.dropped else "")
        super().__init__(f"{message}.\n{cut}The last lines it printed:\n{tail or '(nothing)'}")
        self.child = child


class BusyAtStart(ChildFailed):
    """A program spent its start's CPU budget without listening."""


class PortTaken(ChildFailed):
    """The port a program was to listen on was taken by another program: start it again on another port."""
