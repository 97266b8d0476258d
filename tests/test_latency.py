"""A latency verdict stops measuring once it is certain, and only then."""

import time

import httpx
import pytest

from ticketrail import latency


def endpoint(seconds: list[float]):
    """A fake endpoint answering request i after seconds[i] (the last figure for the rest), counting its calls."""
    calls = []

    def send(key: int) -> httpx.Response:
        time.sleep(seconds[min(len(calls), len(seconds) - 1)])
        calls.append(key)
        return httpx.Response(200, request=httpx.Request("POST", f"http://shop/orders/{key}/confirm"))

    return send, calls


@pytest.fixture(autouse=True)
def own_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(latency, "lock_folder", lambda: tmp_path)


def keys():
    keys.count = getattr(keys, "count", 0) + 1
    return keys.count


def test_an_endpoint_five_times_over_budget_is_told_after_three_requests():
    send, calls = endpoint([0.06])
    result = latency.measure(send, keys, budget=0.01, requests=10, warmup=2)
    assert not result.passed and len(result.rounds) == 1, result.describe()
    assert len(calls) == 2 + 3, f"{len(calls)} requests sent: two to warm up and three to tell a clear miss"


def test_an_endpoint_three_to_five_times_over_budget_takes_five_requests():
    send, calls = endpoint([0.04])
    result = latency.measure(send, keys, budget=0.01, requests=10, warmup=2)
    assert not result.passed and len(result.rounds) == 1, result.describe()
    assert len(calls) == 2 + 5, f"{len(calls)} requests sent; 0.04 s is four times the budget: five to be sure"


def test_one_slow_start_is_not_a_clear_miss_and_a_fast_endpoint_passes():
    # Two warm-up answers, then a stall of the first two timed requests: noise, not a verdict.
    send, calls = endpoint([0.0, 0.0, 0.08, 0.08, 0.001])
    result = latency.measure(send, keys, budget=0.01, requests=10, warmup=2)
    assert result.passed, result.describe()
    assert len(result.rounds[0]) == 10, (
        f"the first round stopped after {len(result.rounds[0])} requests: two stalls are not a clear miss")
