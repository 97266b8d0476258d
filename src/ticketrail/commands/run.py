"""`ticketrail run NN`: the whole shop running, to poke by hand with curl."""

from __future__ import annotations

import argparse
import shlex
import signal
import socket
import sys
import time

from ticketrail import startup
from ticketrail.commands._common import check_redis, describe_redis, exercise_argument, fail, find_kit, \
    impl_argument, interrupt_on_terminate, redis_argument
from ticketrail.kit import Kit, resolve_impl
from ticketrail.procs import Child, ChildFailed, free_port
from ticketrail.redisd import start_redis
from ticketrail.services import SHORT_NAMES
from ticketrail.system import System
from ticketrail.worldctl import WorldProcess


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="start Redis, the world, the API and the workers of an exercise")
    exercise_argument(parser)
    impl_argument(parser, find_kit())
    parser.add_argument("--port", type=int, default=8000, help="the API's port (default 8000, or a free one)")
    redis_argument(parser)
    parser.add_argument("--time-scale", type=float, default=1.0, help="1.0 is the lecture's real durations")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="set an environment variable for every program, e.g. EVENT_BUS=pubsub (repeatable)")
    parser.set_defaults(handler=run)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class _Tail:
    def __init__(self, child: Child) -> None:
        self.child, self.offset = child, 0

    def new_lines(self) -> list[str]:
        text = self.child.log()
        fresh, self.offset = text[self.offset:], len(text)
        return fresh.splitlines()


def _env_options(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            fail(f"--env takes NAME=VALUE, not {pair!r}")
        env[name] = value
    return env


def run(options: argparse.Namespace) -> int:
    kit = Kit.find()
    exercise = kit.exercise(options.exercise)
    env = {**exercise.env, **_env_options(options.env)}
    check_redis(options.redis)
    impl = resolve_impl(kit.root, options.impl, exercise.id)
    # A closed terminal or a `kill` stops everything as Ctrl-C does, leaving no Redis or API behind.
    interrupt_on_terminate()
    redis = world = system = None
    try:
        redis = start_redis(options.redis)
        print(f"[ticketrail] exercise {exercise.id}: {exercise.title}; Redis: {describe_redis(redis)}")
        world = WorldProcess(time_scale=options.time_scale)
        system = System(impl, redis.url, world.url, env)
        return _serve(options, exercise, system, world)
    except ChildFailed as error:
        found = startup.crash(error.child.log(), system.impl_dir, _role(error.child.name)) if system else None
        print(f"[ticketrail] {found or error}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:  # a program's file is not in the folder: the System's message names it
        print(f"[ticketrail] {error}", file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        print("\n[ticketrail] stopping everything …")
        for started in (system, world, redis):
            if started is not None:
                started.stop()


def _role(name: str) -> str:
    return "the API" if name.startswith("api") else name


def _serve(options, exercise, system: System, world: WorldProcess) -> int:
    print(f"[ticketrail] your files: {system.impl_dir}; the world at {world.url}, time scale {options.time_scale}")
    tails = []
    if exercise.run_api:
        port = options.port if _port_free(options.port) else free_port()
        api = system.start_api(exercise.run_api, port=port, access_log=True)
        tails.append(("api", _Tail(api.child)))
        print(f"[ticketrail] the API answers at {api.url}   try:")
        print(f"    curl -X POST {api.url}/orders/42/confirm")
    for program in exercise.run_programs:
        filename, *args = shlex.split(program)
        child = system.start_program(filename, *args, name=program)
        tails.append((program, _Tail(child)))
        print(f"[ticketrail] started {program} (pid {child.pid}); its lines are labelled [{program}]")
    print("[ticketrail] logs follow; Ctrl-C stops everything.\n")
    seen = 0
    while True:
        for label, tail in list(tails):
            for line in tail.new_lines():
                print(f"[{label}] {line}")
            if not tail.child.alive():
                print(f"[{label}] {tail.child.describe_exit()}")
                found = startup.crash(tail.child.log(), system.impl_dir, _role(label), happened="stopped")
                if found is not None:
                    print(f"[ticketrail] {found.headline}")
                tails.remove((label, tail))
        calls = world.control.ledger()
        for call in calls[seen:]:
            if call.outcome == "running":
                break
            order = f" order {call.order_id}" if call.order_id is not None else ""
            print(f"[world] {SHORT_NAMES.get(call.service, call.service)}{order}: {call.outcome} in {call.duration:.2f} s")
            seen += 1
        time.sleep(0.2)
