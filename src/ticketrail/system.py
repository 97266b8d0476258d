"""The student's programs for one test: the API under uvicorn, workers, and the rest."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from ticketrail.procs import Child, ChildFailed, free_port, python_argv, wait_for_port


@dataclass
class Api:
    url: str
    child: Child
    client: httpx.Client


class System:
    """Starts the implementation's programs with a scrubbed environment and stops them all."""

    def __init__(
        self,
        impl_dir: Path,
        redis_url: str,
        world_url: str,
        env: dict[str, str] | None = None,
        user: tuple[int, int] | None = None,
    ) -> None:
        self.impl_dir = Path(impl_dir)
        self.redis_url = redis_url
        self.world_url = world_url
        self.extra_env = dict(env or {})
        self.user = user
        self.children: list[Child] = []
        self._clients: list[httpx.Client] = []
        self.log_dir = Path(tempfile.mkdtemp(prefix="ticketrail-logs-"))
        if user is not None:
            os.chown(self.log_dir, *user)

    def environment(self, **overrides: str) -> dict[str, str]:
        home = self.log_dir
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MALLOC_ARENA_MAX": "2",
            "REDIS_URL": self.redis_url,
            "TICKETRAIL_WORLD_URL": self.world_url,
        }
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def _require(self, filename: str) -> None:
        if not (self.impl_dir / filename).is_file():
            raise FileNotFoundError(
                f"{self.impl_dir / filename} does not exist: the exercise's programs live in that folder."
            )

    def start(self, name: str, argv: list[str], **env: str) -> Child:
        child = Child(name, argv, self.impl_dir, self.environment(**env), user=self.user, log_dir=self.log_dir)
        self.children.append(child)
        return child

    def start_api(self, module: str = "app", ready_timeout: float = 30.0, port: int | None = None,
                  access_log: bool = False, **env: str) -> Api:
        self._require(f"{module}.py")
        port = port or free_port()
        argv = python_argv("-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1", "--port", str(port),
                           "--log-level", "info" if access_log else "warning")
        if not access_log:
            argv.append("--no-access-log")
        child = self.start(f"api ({module}.py)", argv, **env)
        wait_for_port(child, port, ready_timeout)
        url = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=url, timeout=30.0)
        self._clients.append(client)
        return Api(url, child, client)

    def start_program(self, filename: str, *args: str, name: str | None = None, **env: str) -> Child:
        """A plain program such as `python worker.py`."""
        self._require(filename)
        return self.start(name or filename, python_argv(filename, *args), **env)

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        for child in self.children:
            child.stop(grace=3)

    def logs_for_report(self, lines: int = 40) -> list[tuple[str, str]]:
        return [
            (f"{child.name}, pid {child.pid}, {child.describe_exit()}", child.log_tail(lines))
            for child in self.children
        ]


__all__ = ["Api", "ChildFailed", "System"]
