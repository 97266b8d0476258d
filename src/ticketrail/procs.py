"""Child processes: each in its own process group, with limits, a log and a clean stop."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2048 * MiB
    file_bytes: int = 32 * MiB
    cpu_seconds: int = 600
    processes: int = 256
    open_files: int = 1024


STUDENT_LIMITS = Limits()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _limit_child(limits: Limits, user: tuple[int, int] | None) -> Callable[[], None]:
    def apply() -> None:
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
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = Path(cwd)
        log_dir = Path(log_dir or tempfile.mkdtemp(prefix="ticketrail-log-"))
        self.log_path = log_dir / f"{name.replace(' ', '_').replace('/', '_')}.log"
        self._log = open(self.log_path, "wb")
        if user is not None:
            os.chown(self.log_path, user[0], user[1])
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_limit_child(limits, user) if limits else None,
        )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole group and reap it: the abrupt death of a machine."""
        self.signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL; returns the exit code."""
        if self.alive():
            self.signal(signal.SIGTERM)
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
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        if not self._log.closed:  # a child stopped mid-test still has its log read for the report
            self._log.flush()
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30, chars: int = 4000) -> str:
        tail = "\n".join(self.log().splitlines()[-lines:])
        return tail[-chars:]

    def describe_exit(self) -> str:
        code = self.process.returncode
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"


def python_argv(*args: str) -> list[str]:
    # -E ignores PYTHON* variables (hence -u for unbuffered output), -s the user site-packages; -B writes no bytecode into
    # the student's folder. Not -I: it would hide the student's own sibling modules.
    return [sys.executable, "-E", "-s", "-B", "-u", *args]


def wait_for_port(child: Child, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise ChildFailed(child, f"{child.name} {child.describe_exit()} before it answered on port {port}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise ChildFailed(child, f"{child.name} did not answer on port {port} within {timeout:.0f} s")


class ChildFailed(RuntimeError):
    def __init__(self, child: Child, message: str) -> None:
        tail = child.log_tail()
        super().__init__(f"{message}.\nThe last lines it printed:\n{tail or '(nothing)'}")
        self.child = child
