"""Time to response as a customer sees it, against a real server.

In-process transports (TestClient, ASGITransport) run BackgroundTasks before they
return, so they would fail a correct solution: always measure over a socket.
Noise only ever slows a request down, so a verdict takes the median of many
requests, and a round that misses the budget is measured again.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import httpx


@dataclass(frozen=True)
class Sample:
    key: int  # what the request was about, e.g. the order id
    sent: float  # wall clock, comparable with the world's ledger
    received: float
    seconds: float  # perf_counter difference
    status: int


@dataclass
class LatencyResult:
    budget: float
    rounds: list[list[Sample]] = field(default_factory=list)

    @property
    def best(self) -> list[Sample]:
        return min(self.rounds, key=_median)

    @property
    def median(self) -> float:
        return _median(self.best)

    @property
    def p90(self) -> float:
        return _p90(self.best)

    @property
    def passed(self) -> bool:
        return any(_round_passes(samples, self.budget) for samples in self.rounds)

    def typical(self) -> Sample:
        """The sample nearest the median of the best round: the one to explain."""
        samples = self.best
        median = _median(samples)
        return min(samples, key=lambda s: abs(s.seconds - median))

    def describe(self) -> str:
        return (
            f"median {self.median:.3f} s and p90 {self.p90:.3f} s over {len(self.best)} requests "
            f"(best of {len(self.rounds)} round{'s' if len(self.rounds) != 1 else ''}); "
            f"budget {self.budget:.3f} s for the median, {2 * self.budget:.3f} s for p90"
        )


def _median(samples: list[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def _p90(samples: list[Sample]) -> float:
    ordered = sorted(s.seconds for s in samples)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def _round_passes(samples: list[Sample], budget: float) -> bool:
    return _median(samples) <= budget and _p90(samples) <= 2 * budget


def timed(send: Callable[[int], httpx.Response], key: int) -> Sample:
    sent, start = time.time(), time.perf_counter()
    response = send(key)
    seconds = time.perf_counter() - start
    return Sample(key, sent, time.time(), seconds, response.status_code)


def measure(
    send: Callable[[int], httpx.Response],
    keys: Callable[[], int],
    budget: float,
    requests: int = 30,
    warmup: int = 2,
    rounds: int = 3,
) -> LatencyResult:
    """Send `requests` requests one after another, `rounds` times at most, and keep the figures.

    A round stops early once its verdict is certain: more than half the requests over
    budget, or the first five all over three times the budget. A clear miss is not
    measured again; noise does not make a request three times slower five times running.
    """
    result = LatencyResult(budget)
    for _ in range(warmup):
        send(keys())
    for _ in range(rounds):
        samples: list[Sample] = []
        for _ in range(requests):
            samples.append(timed(send, keys()))
            over = sum(s.seconds > budget for s in samples)
            if over > requests // 2 or (len(samples) == 5 and min(s.seconds for s in samples) > 3 * budget):
                break
        result.rounds.append(samples)
        if _round_passes(samples, budget) or min(s.seconds for s in samples) > 3 * budget:
            break
    return result
