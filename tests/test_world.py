"""The world: durations, the ledger, faults, idempotency, the clock, and the guarded control endpoints."""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ticketrail.worldctl import WorldProcess


@pytest.fixture(scope="module")
def world_process():
    process = WorldProcess()
    yield process
    process.stop()


@pytest.fixture
def world(world_process):
    world_process.control.reset(time_scale=0.1)
    return world_process.control


def call(world, service, args, key=None):
    return httpx.post(f"{world.url}/call/{service}", json={"args": args, "idempotency_key": key}, timeout=30)


def test_a_call_takes_its_scaled_duration_and_is_in_the_ledger(world):
    started = time.perf_counter()
    response = call(world, "send_confirmation_email", {"email": "a@example.com", "order": {"id": 42}})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert 0.3 <= elapsed < 3.0, f"3 s at time scale 0.1 should take about 0.3 s, took {elapsed:.2f} s"
    [entry] = world.ledger("send_confirmation_email")
    assert (entry.order_id, entry.outcome) == (42, "ok")
    assert entry.end - entry.start >= 0.3


def test_an_unknown_order_is_404_and_not_an_effect(world):
    assert call(world, "get_order_from_db", {"order_id": 99999}).status_code == 404
    assert world.ledger()[0].outcome == "not_found"


def test_fail_first_fails_exactly_that_many_calls(world):
    world.fail("notify_warehouse_api", first=2, error="warehouse down")
    codes = [call(world, "notify_warehouse_api", {"order": 1}).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert [c.error for c in world.ledger()][:2] == ["warehouse down", "warehouse down"]


def test_a_held_call_waits_until_released(world):
    world.hold("update_analytics")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(call, world, "update_analytics", {"order": 7})
        deadline = time.monotonic() + 10
        while not (world.ledger() and world.ledger()[0].held) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert world.ledger()[0].held and world.ledger()[0].outcome == "running"
        assert not pending.done()
        world.release("update_analytics")
        assert pending.result(timeout=10).status_code == 200
    assert world.ledger()[0].outcome == "ok"


def test_the_same_idempotency_key_has_one_effect(world):
    for _ in range(3):
        assert call(world, "send_confirmation_email", {"order": 5}, key="job-1").status_code == 200
    assert [c.outcome for c in world.ledger()] == ["ok", "duplicate", "duplicate"]
    assert world.effects_by_key("send_confirmation_email") == {"job-1": 1}


def test_the_clock_can_be_set_and_moved(world):
    world.set_clock(1_771_065_000)
    assert httpx.get(f"{world.url}/clock").json()["now"] == 1_771_065_000
    world.advance_clock(300)
    assert httpx.get(f"{world.url}/clock").json()["now"] == 1_771_065_300
    world.real_clock()
    assert abs(httpx.get(f"{world.url}/clock").json()["now"] - time.time()) < 5


@pytest.mark.parametrize("path", ["/_ledger", "/_orders/1"])
def test_control_endpoints_refuse_a_caller_without_the_token(world, path):
    assert httpx.get(f"{world.url}{path}").status_code == 403
    assert httpx.get(f"{world.url}{path}", headers={"X-World-Token": "guess"}).status_code == 403


@pytest.mark.parametrize("path", ["/_reset", "/_faults", "/_clock", "/_release"])
def test_a_student_cannot_reset_forge_or_fault_the_world(world, path):
    assert httpx.post(f"{world.url}{path}", json={}).status_code == 403


def test_the_caller_is_the_process_the_kernel_names_on_the_socket_whatever_header_it_sends(world, tmp_path):
    """Evidence of who called comes from the kernel (SO_PEERCRED), never from what the caller says."""
    program = tmp_path / "caller.py"
    program.write_text(
        "import httpx, os, sys\n"
        "transport = httpx.HTTPTransport(uds=sys.argv[1])\n"
        "with httpx.Client(transport=transport) as client:\n"
        "    client.post('http://world/call/update_analytics', json={'args': {'order': {'id': 7}}},\n"
        "                headers={'X-Caller-Pid': '1', 'X-Caller': 'someone else'})\n"
        "print(os.getpid())\n"
    )
    done = subprocess.run([sys.executable, str(program), str(world.socket)], capture_output=True, text=True, timeout=60)
    [entry] = world.ledger("update_analytics")
    assert entry.caller_chain and entry.caller_chain[0] == int(done.stdout), (entry, done.stdout, done.stderr)
    assert os.getpid() in entry.caller_chain, "the chain runs up through the caller's ancestors"
    world.programs = lambda: {os.getpid(): "the kit's test"}
    try:
        [entry] = world.ledger("update_analytics")
        assert (entry.caller_pid, entry.caller) == (str(os.getpid()), "the kit's test"), entry
    finally:
        world.programs = dict


def test_a_call_over_tcp_has_no_caller(world):
    call(world, "update_analytics", {"order": {"id": 8}})
    [entry] = world.ledger("update_analytics")
    assert entry.caller_chain == [] and entry.caller_pid is None, entry


def test_a_body_past_the_cap_is_refused_and_not_recorded(world):
    response = call(world, "update_analytics", {"order": {"id": 9}, "padding": "x" * (128 * 1024)})
    assert response.status_code == 413, response.text
    assert world.ledger("update_analytics") == []
