"""fakeredis over TCP in a process of its own, so that separate programs share one fake Redis.

fakeredis runs EVAL on a plain lupa runtime, from which Lua reaches `os`, `io` and Python itself. Here every
runtime it makes is a sandboxed one: the globals a Redis script has (`redis`, `cjson`, string, table, math …)
and nothing of the host, and no Python attribute reachable from Lua.
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import ModuleType
from typing import Any

from fakeredis import TcpFakeServer
from fakeredis.commands_mixins import scripting_mixin

# What Redis's own Lua lacks, and what would reach the host from a script.
UNSAFE_GLOBALS = ("python", "os", "io", "debug", "package", "require", "dofile", "loadfile", "module")


def _no_attribute(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("a Redis script cannot reach into Python objects")


class SandboxedLua:
    """The lupa module fakeredis uses, whose LuaRuntime comes sandboxed."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def LuaRuntime(self, **options: Any) -> Any:  # noqa: N802 - lupa's name
        runtime = self._module.LuaRuntime(register_eval=False, register_builtins=False,
                                          attribute_filter=_no_attribute, **options)
        runtime.execute("".join(f"{name} = nil\n" for name in UNSAFE_GLOBALS))
        return runtime


def sandbox_lua() -> None:
    if not isinstance(scripting_mixin.LUA_MODULE, SandboxedLua):
        scripting_mixin.LUA_MODULE = SandboxedLua(scripting_mixin.LUA_MODULE)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ticketrail.fakeserver")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    sandbox_lua()
    server = TcpFakeServer(("127.0.0.1", options.port), server_type="redis")
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
