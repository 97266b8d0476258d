"""The world: the shop's slow outside services as one small HTTP service.

Student code reaches it through `ticketrail.shop`; graders read its ledger and
inject faults through the control endpoints, which want the grader's token.
Run it with `python -m ticketrail.world --port P [--socket PATH]`, the token in TICKETRAIL_WORLD_TOKEN
(the environment, unlike the command line, is not readable by other users).

Who made a call is the kernel's word, never the caller's: on the Unix socket the world asks for the peer's
credentials (SO_PEERCRED) and records the caller's pid with its ancestors, so that the grader can tell which of
the student's programs made it even when that program runs in a pid namespace of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from ticketrail.services import DURATIONS, TOKEN_HEADER, order_exists, order_record

# What a caller may make the world hold: a call's body, and the whole ledger. A flood is refused, not stored.
MAX_BODY = 64 * 1024
MAX_CALLS = 50_000
MAX_LEDGER_BYTES = 64 * 1024 * 1024


@dataclass
class Fault:
    fail_first: int = 0
    fail_always: bool = False
    hold: bool = False
    rate_limit: float = 0.0  # calls per second; 0 means unlimited
    error: str = "service unavailable"
    released: asyncio.Event = field(default_factory=asyncio.Event)
    recent: list[float] = field(default_factory=list)


class World:
    def __init__(self, time_scale: float = 1.0) -> None:
        # A grader holds the clock so that every program reading it sees its next move at once.
        self.clock_gate: asyncio.Event | None = None  # None: the clock is not held
        self.clock_readers_waiting = 0  # reads waiting at the current gate
        self.clock_reader_arrived = asyncio.Event()
        self.reset(time_scale)

    def reset(self, time_scale: float) -> None:
        for fault in getattr(self, "faults", {}).values():
            fault.released.set()
        self.time_scale = time_scale
        self.ledger: list[dict[str, Any]] = []
        self.ledger_bytes = 0
        self.faults: dict[str, Fault] = {}
        self.order_status: dict[int, list[dict[str, Any]]] = {}
        self.effects: dict[tuple[str, str], asyncio.Future] = {}
        self.clock: float | None = None
        self.release_clock()

    def now(self) -> float:
        return time.time() if self.clock is None else self.clock

    async def read_clock(self) -> float:
        gate = self.clock_gate
        if gate is not None:
            self.clock_readers_waiting += 1
            self.clock_reader_arrived.set()
            try:
                await gate.wait()
            except asyncio.CancelledError:
                if gate is self.clock_gate:
                    self.clock_readers_waiting -= 1
                raise
        return self.now()

    def hold_clock(self) -> None:
        if self.clock_gate is None:
            self.clock_gate, self.clock_readers_waiting = asyncio.Event(), 0

    def release_clock(self) -> None:
        if self.clock_gate is not None:
            self.clock_gate.set()
            self.clock_gate, self.clock_readers_waiting = None, 0

    async def wait_for_clock_readers(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.clock_readers_waiting < count and (left := deadline - time.monotonic()) > 0:
            self.clock_reader_arrived.clear()
            try:
                await asyncio.wait_for(self.clock_reader_arrived.wait(), left)
            except asyncio.TimeoutError:
                return

    def set_fault(self, service: str, spec: dict[str, Any]) -> None:
        old = self.faults.pop(service, None)
        if old is not None:
            old.released.set()
        if spec:
            self.faults[service] = Fault(**spec)

    def release(self, service: str) -> None:
        fault = self.faults.get(service)
        if fault is not None:
            fault.hold = False
            fault.released.set()

    def full(self, size: int) -> bool:
        return len(self.ledger) >= MAX_CALLS or self.ledger_bytes + size > MAX_LEDGER_BYTES

    async def call(self, service: str, body: dict[str, Any], caller: list[int], size: int = 0) -> tuple[int, dict]:
        args = body.get("args") or {}
        if not isinstance(args, dict):
            args = {}
        key = body.get("idempotency_key")
        self.ledger_bytes += size
        entry = {
            "seq": len(self.ledger),
            "service": service,
            "args": args,
            "order_id": _order_id_of(args),
            "idempotency_key": None if key is None else str(key)[:200],
            "caller_chain": caller,
            "start": time.time(),
            "end": None,
            "outcome": "running",
            "held": False,
            "error": None,
        }
        self.ledger.append(entry)
        fault = self.faults.get(service)
        try:
            status, payload = await self._perform(service, args, entry, fault)
        except asyncio.CancelledError:
            entry["outcome"], entry["end"] = "cancelled", time.time()
            raise
        entry["end"] = time.time()
        return status, payload

    async def _perform(self, service: str, args: dict, entry: dict, fault: Fault | None) -> tuple[int, dict]:
        if fault is not None and fault.hold:
            entry["held"] = True
            await fault.released.wait()
        if fault is not None and fault.rate_limit:
            now = time.monotonic()
            fault.recent = [t for t in fault.recent if now - t < 1.0]
            if len(fault.recent) >= fault.rate_limit:
                return self._fail(entry, 429, "rate limited: too many calls per second")
            fault.recent.append(now)
        await asyncio.sleep(DURATIONS[service] * self.time_scale)
        if fault is not None and (fault.fail_always or fault.fail_first > 0):
            fault.fail_first = max(0, fault.fail_first - 1)
            return self._fail(entry, 503, fault.error)
        order_id = entry["order_id"]
        if service in ("get_order_from_db", "update_order_status") and not order_exists(order_id or 0):
            entry["outcome"] = "not_found"
            return 404, {"error": f"order {order_id} not found"}
        key = entry["idempotency_key"]
        if key is not None:
            done = self.effects.get((service, key))
            if done is not None:
                entry["outcome"] = "duplicate"
                return 200, {"result": await asyncio.shield(done)}
            self.effects[(service, key)] = asyncio.get_running_loop().create_future()
        result = self._effect(service, args, entry)
        entry["outcome"] = "ok"
        if key is not None:
            self.effects[(service, key)].set_result(result)
        return 200, {"result": result}

    def _fail(self, entry: dict, status: int, error: str) -> tuple[int, dict]:
        entry["outcome"], entry["error"] = "failed", error
        return status, {"error": error}

    def _effect(self, service: str, args: dict, entry: dict) -> Any:
        if service == "get_order_from_db":
            return order_record(entry["order_id"])
        if service == "update_order_status":
            history = self.order_status.setdefault(entry["order_id"], [])
            history.append({"status": args.get("status"), "at": time.time()})
            return None
        if service == "send_confirmation_email":
            return f"msg-{entry['seq']}"
        if service == "generate_invoice_pdf":
            return "%PDF-fake-content"
        return None


def _order_id_of(args: dict[str, Any]) -> int | None:
    for name in ("order_id", "order"):
        value = args.get(name)
        if isinstance(value, dict):
            value = value.get("id", value.get("order_id"))
        if isinstance(value, (int, str)) and str(value).lstrip("-").isdigit():
            return int(value)
    return None


async def _bounded_body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _caller_chain(request: Request) -> list[int]:
    """The calling process and its ancestors, nearest first; empty when the call did not come over the socket."""
    client = request.scope.get("client")
    if not client or client[0] != PEER_PID:
        return []
    chain, pid = [], int(client[1])
    while pid > 1 and len(chain) < 64:
        chain.append(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                pid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return chain


PEER_PID = "peer-pid"


class PeerCredentials(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, but on a Unix socket the client is the pid the kernel gives for the peer."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family == socket.AF_UNIX:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            self.client = (PEER_PID, struct.unpack("3i", creds)[0])


def create_app(token: str, time_scale: float = 1.0) -> Starlette:
    world = World(time_scale)

    def guarded(handler):
        async def endpoint(request: Request):
            given = request.headers.get(TOKEN_HEADER, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"error": "control endpoints need the grader's token"}, status_code=403)
            return await handler(request)

        return endpoint

    async def health(request: Request):
        return JSONResponse({"ok": True})

    async def call(request: Request):
        service = request.path_params["service"]
        if service not in DURATIONS:
            return JSONResponse({"error": f"unknown service {service!r}"}, status_code=404)
        raw = await _bounded_body(request)
        if raw is None:
            return JSONResponse({"error": f"a call's body may hold at most {MAX_BODY} bytes"}, status_code=413)
        if world.full(len(raw)):
            return JSONResponse({"error": "the world's ledger is full: this run made too many calls"}, status_code=429)
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        status, payload = await world.call(service, body if isinstance(body, dict) else {}, _caller_chain(request),
                                           len(raw))
        return JSONResponse(payload, status_code=status)

    async def clock(request: Request):
        return JSONResponse({"now": await world.read_clock()})

    async def ledger(request: Request):
        since = int(request.query_params.get("since", 0))
        return JSONResponse({"entries": world.ledger[since:], "now": time.time()})

    async def reset(request: Request):
        body = await request.json()
        world.reset(float(body.get("time_scale", 1.0)))
        return JSONResponse({"ok": True})

    async def faults(request: Request):
        body = await request.json()
        for service, spec in body.items():
            if service not in DURATIONS:
                return JSONResponse({"error": f"unknown service {service!r}"}, status_code=400)
            world.set_fault(service, spec)
        return JSONResponse({"ok": True})

    async def release(request: Request):
        body = await request.json()
        world.release(body["service"])
        return JSONResponse({"ok": True})

    async def set_clock(request: Request):
        body = await request.json()
        if body.get("real"):
            world.clock = None
        elif "set" in body:
            world.clock = float(body["set"])
        elif "advance" in body:
            world.clock = world.now() + float(body["advance"])
        # In this order, {"release", "hold"} lets the waiting reads see the move and holds the next ones.
        if body.get("release"):
            world.release_clock()
        if body.get("hold"):
            world.hold_clock()
        if body.get("readers"):
            await world.wait_for_clock_readers(int(body["readers"]), float(body.get("timeout", 10)))
        return JSONResponse({"now": world.now(), "readers_waiting": world.clock_readers_waiting})

    async def orders(request: Request):
        order_id = int(request.path_params["order_id"])
        return JSONResponse({"order_id": order_id, "history": world.order_status.get(order_id, [])})

    routes = [
        Route("/health", health),
        Route("/call/{service}", call, methods=["POST"]),
        Route("/clock", clock),
        Route("/_ledger", guarded(ledger)),
        Route("/_reset", guarded(reset), methods=["POST"]),
        Route("/_faults", guarded(faults), methods=["POST"]),
        Route("/_release", guarded(release), methods=["POST"]),
        Route("/_clock", guarded(set_clock), methods=["POST"]),
        Route("/_orders/{order_id:int}", guarded(orders)),
    ]
    return Starlette(routes=routes)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m ticketrail.world")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--socket", default=None, help="also listen on this Unix socket (callers known by pid)")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--log-level", default="warning")
    options = parser.parse_args()
    token = os.environ.pop("TICKETRAIL_WORLD_TOKEN", "")
    if not token:
        parser.error("TICKETRAIL_WORLD_TOKEN must hold the control token")
    app = create_app(token, options.time_scale)
    listeners = [socket.create_server(("127.0.0.1", options.port))]
    if options.socket:
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind(options.socket)
        os.chmod(options.socket, 0o666)  # any of the run's uids may call; who did is the kernel's word
        unix.listen(256)
        listeners.append(unix)
    config = uvicorn.Config(app, log_level=options.log_level, access_log=False, http=PeerCredentials)
    uvicorn.Server(config).run(sockets=listeners)


if __name__ == "__main__":
    main()
