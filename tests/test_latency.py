"""A latency verdict stops measuring once it is certain, and only then."""

import time

import httpx
import pytest

from ticketrail import latency


class Clock:
    """The measurement's clock, moved on only by the fake endpoint's answers: the figures are exact, whatever the
    machine's load."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    perf_counter = time

    def __getattr__(self, name: str):
        return getattr(time, name)  # the lock's own waits keep the real clock


@pytest.fixture(autouse=True)
def clock(tmp_path, monkeypatch) -> Clock:
    monkeypatch.setattr(latency, "lock_folder", lambda: tmp_path)
    fake = Clock()
    monkeypatch.setattr(latency, "time", fake)
    return fake


@pytest.fixture
def endpoint(clock):
    """A fake endpoint answering request i after seconds[i] (the last figure for the rest), counting its calls."""

    def make(seconds: list[float]):
        calls = []

        def send(key: int) -> httpx.Response:
            clock.now += seconds[min(len(calls), len(seconds) - 1)]
            calls.append(key)
            return httpx.Response(200, request=httpx.Request("POST", f"http://shop/orders/{key}/confirm"))

        return send, calls

    return make


def keys():
    keys.count = getattr(keys, "count", 0) + 1
    return keys.count


def test_an_endpoint_five_times_over_budget_is_told_after_three_requests(endpoint):
    send, calls = endpoint([0.06])
    result = latency.measure(send, keys, budget=0.01, requests=10, warmup=2)
    assert not result.passed and len(result.rounds) == 1, result.describe()
    assert len(calls) == 2 + 3, f"{len(calls)} requests sent: two to warm up and three to tell a clear miss"


def test_an_endpoint_three_to_five_times_over_budget_takes_five_requests(endpoint):
    send, calls = endpoint([0.04])
    result = latency.measure(send, keys, budget=0.01, requests=10, warmup=2)
    assert not result.passed and len(result.rounds) == 1, result.describe()
    assert len(calls) == 2 + 5, f"{len(calls)} requests sent; 0.04 s is four times the budget: five to be sure"


def test_one_slow_start_is_not_a_clear_miss_and_a_fast_endpoint_passes(endpoint):
    # Two warm-up answers, then a stall of the first two timed requests: noise, not a verdict.
    send, calls = endpoint([0.0, 0.0, 0.08, 0.08, 0.001])
    result = latency.measure(send, keys, budget=0.01, requests=10, warmup=2)
    assert result.passed, result.describe()
    assert len(result.rounds[0]) == 10, (
        f"the first round stopped after {len(result.rounds[0])} requests: two stalls are not a clear miss")
