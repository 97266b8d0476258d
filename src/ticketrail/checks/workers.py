"""The student's workers as processes: started, stopped, described, and what they cost while idle."""

from __future__ import annotations

import signal
import time
from typing import Callable, Iterable, Sequence

from ticketrail import procfs
from ticketrail.procs import Child
from ticketrail.system import System
from ticketrail.waiting import WaitTimeout, wait_until


def start_workers(system: System, count: int = 1) -> list[Child]:
    if count == 1:
        return [system.start_program("worker.py", name="worker")]
    return [system.start_program("worker.py", name=f"worker {n}") for n in range(1, count + 1)]


def stop_workers(workers: Sequence[Child], grace: float = 5.0) -> None:
    """SIGTERM every worker at once, then wait: stopping them one by one would add their waits up."""
    for child in workers:
        child.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in workers:
        wait_until(lambda: not child.alive() or time.monotonic() > deadline, grace + 1, lambda: "")


def kill_worker(child: Child) -> None:
    """SIGKILL the worker's whole process group, and prove it is dead."""
    __tracebackhide__ = True
    child.kill()
    assert not child.alive() and child.describe_exit() == "killed by SIGKILL", (
        f"The check sent SIGKILL to {child.name} (pid {child.pid}), yet it is {child.describe_exit()}."
    )


def wait_stopped(child: Child, timeout: float = 5.0) -> None:
    __tracebackhide__ = True
    wait_until(lambda: process_state(child.pid) == "T", timeout,
               lambda: f"{child.name} (pid {child.pid}) was sent SIGSTOP but its state is {process_state(child.pid)!r}.")


def any_alive(workers: Sequence[Child]) -> bool:
    return any(child.alive() for child in workers)


def happens_within(condition: Callable[[], object], seconds: float) -> bool:
    """Watch for something that should NOT happen (a worker dying mid-job) for `seconds`."""
    try:
        wait_until(condition, seconds, lambda: "")
        return True
    except WaitTimeout:
        return False


def describe_workers(workers: Sequence[Child]) -> str:
    lines = []
    for child in workers:
        line = f"{child.name} (pid {child.pid}): {child.describe_exit()}"
        if not child.alive():
            line += "; the last lines it printed:\n" + "\n".join(
                f"    {text}" for text in (child.log_tail(12) or "(nothing)").splitlines())
        lines.append(line)
    return "\n".join(lines)


def process_state(pid: int) -> str:
    """'R', 'S', 'T' (stopped) … or 'gone'."""
    fields = procfs.stat_fields(pid)
    return fields[0].decode() if fields else "gone"


def owner_of(children: Iterable[Child], pid: str | int | None) -> Child | None:
    """The child whose process (or process group) made a call, from the caller pid the world recorded."""
    try:
        pid = int(pid)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    fields = procfs.stat_fields(pid)
    group = int(fields[2]) if fields else None
    return next((c for c in children if c.pid == pid or c.pid == group), None)


# --- what an idle worker costs ------------------------------------------------------------------


def cpu_seconds(child: Child) -> float:
    """CPU time (user + system) of every process in the child's process group."""
    return child.cpu_seconds()


def idle_cost(child: Child, seconds: float) -> tuple[float, float]:
    """(CPU seconds, runnable seconds) the child's processes piled up over the next `seconds`.

    CPU time alone hides a busy loop on a loaded machine, where it waits for a core; time spent running or
    ready to run piles up as fast as the clock for a loop, and stays near zero for a worker blocked in BRPOP.
    """
    cpu, runnable = child.cpu_seconds(), child.runnable_seconds()
    time.sleep(seconds)  # the measurement window itself
    return child.cpu_seconds() - cpu, child.runnable_seconds() - runnable


def wakeups(child: Child) -> int:
    """Context switches of every thread in the child's process group: how often it woke up.

    A starved busy loop gets little CPU on a loaded machine, but it still wakes up thousands
    of times a second; a worker blocked on Redis wakes a few times.
    """
    total = 0
    for folder in procfs.thread_folders(procfs.group_members(child.pid)):
        try:
            with open(f"{folder}/status") as status:
                total += sum(int(line.split()[1]) for line in status if "ctxt_switches:" in line)
        except (OSError, ValueError, IndexError):
            continue
    return total
