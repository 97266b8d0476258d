"""A private Redis for the checks: redis-server when installed, else fakeredis over TCP."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from ticketrail import timings
from ticketrail.procs import Child, Limits, MiB, free_port

if TYPE_CHECKING:
    from ticketrail.sandbox import Sandbox

BACKENDS = ("server", "embedded")
# A broker a student feeds commands to is capped like a student program: CONFIG SET appendonly (or a script) must
# not fill the disk or the memory. redis-server also refuses to hold more than MAXMEMORY of data.
BROKER_LIMITS = Limits(memory_bytes=2048 * MiB, file_bytes=64 * MiB, processes=256)
MAXMEMORY = "256mb"


@dataclass
class RedisHandle:
    url: str
    backend: str  # "server", "embedded" or "external"
    child: Child | None = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def flush(self) -> None:
        with self.client() as r:
            if self.backend == "embedded":
                _unblock_every_client(r)
            r.flushdb()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(grace=2)


def _unblock_every_client(r: redis.Redis) -> None:
    """fakeredis serves a blocking command (BRPOP, BRPOPLPUSH …) whose client has gone until it times out: a
    worker stopped while it waited would take the next test's first job into a list nobody reads. Between two
    tests nobody may be waiting, so every wait there is ends now."""
    for client in r.client_list():
        r.client_unblock(int(client["id"]))


def choose_backend(requested: str | None) -> str:
    """'server', 'embedded' or a redis:// URL; by default redis-server when it is installed."""
    requested = requested or os.environ.get("TICKETRAIL_REDIS") or os.environ.get("REDIS_URL")
    if requested:
        return requested
    return "server" if shutil.which("redis-server") else "embedded"


@timings.timed("start", "redis until it answers")
def start_redis(requested: str | None = None, timeout: float = 15.0, sandbox: Sandbox | None = None) -> RedisHandle:
    """A private Redis; with a sandbox it runs as the sandbox's broker uid, capped, in a jail when there is one,
    its files in a folder that goes with the run."""
    backend = choose_backend(requested)
    if backend.startswith(("redis://", "rediss://", "unix://")):
        handle = RedisHandle(backend, "external")
        _wait_for_ping(handle, None, timeout)
        return handle
    if backend not in BACKENDS:
        raise ValueError(f"--redis takes 'server', 'embedded' or a redis:// URL, not {backend!r}")
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="ticketrail-redis-"))
    folder = sandbox.service_folder("broker") if sandbox is not None else log_dir
    jail = sandbox.service_jail(folder) if sandbox is not None else None
    if backend == "server":
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("--redis server was asked for, but redis-server is not installed (apt-get install redis-server)")
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(folder), "--protected-mode", "no", "--loglevel", "warning",
                "--maxmemory", MAXMEMORY, "--maxmemory-policy", "noeviction"]
    else:
        python = sandbox.python if sandbox is not None else sys.executable
        argv = [python, "-E", "-s", "-B", "-m", "ticketrail.fakeserver", "--port", str(port)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "LANG": "C.UTF-8"}
    user = sandbox.services["broker"].user if sandbox is not None else None
    child = Child(f"redis-{backend}", argv, folder, env, limits=BROKER_LIMITS if user else None, user=user,
                  log_dir=log_dir, jail=jail)
    handle = RedisHandle(f"redis://127.0.0.1:{port}/0", backend, child)
    _wait_for_ping(handle, child, timeout)
    return handle


def _wait_for_ping(handle: RedisHandle, child: Child | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} {child.describe_exit()}:\n{child.log_tail()}")
        try:
            with handle.client() as r:
                r.ping()
            if child is not None:
                timings.program_ready(child)
            return
        except redis.RedisError as error:
            last_error = error
            time.sleep(0.02)
    raise RuntimeError(f"Redis at {handle.url} did not answer PING within {timeout:.0f} s: {last_error}")
