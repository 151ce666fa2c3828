"""The pacer, on a fake clock: ARM's bucket mirrored, corrected by its headers, AIMD on 429s."""

from __future__ import annotations

import pytest

from shared.adapters.retry import Pacer, classify, request_kind
from shared.services.ports import ThrottledError

LIMITS = {"reads": (250.0, 25.0), "writes": (200.0, 10.0), "graph": (15.0, 3.0)}


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(time: FakeTime, **kwargs: float) -> Pacer:
    return Pacer(LIMITS, clock=time.clock, sleep=time.sleep, **kwargs)  # type: ignore[arg-type]


def test_a_burst_uses_the_bucket_then_runs_at_the_refill_rate() -> None:
    time = FakeTime()
    p = pacer(time, reserve=2, max_wait=60)
    start = time.now
    for _ in range(198):  # the documented 200 writes, less the reserve
        p.acquire("sub", "writes")
    assert time.now == start  # no wait inside the bucket
    for _ in range(100):
        p.acquire("sub", "writes")
    assert time.now - start == pytest.approx(10.0, abs=0.2)  # then 10 per second


def test_reads_and_writes_and_subscriptions_are_separate_buckets() -> None:
    time = FakeTime()
    p = pacer(time, reserve=0)
    for _ in range(200):
        p.acquire("sub-a", "writes")
    p.acquire("sub-a", "reads")
    p.acquire("sub-b", "writes")
    assert time.slept == []


def test_a_lower_remaining_figure_from_arm_slows_the_pacer_down() -> None:
    time = FakeTime()
    p = pacer(time, reserve=0)
    p.acquire("sub", "writes")
    p.observe("sub", "writes", remaining=0, status=202)  # someone else spent the bucket: 0 to 1 left
    p.acquire("sub", "writes")
    assert sum(time.slept) == pytest.approx(0.05, abs=0.01)  # half a refill interval: ARM rounds down
    p.observe("sub", "writes", remaining=150, status=202)  # a higher figure is not trusted (may be stale)
    time.slept.clear()
    p.acquire("sub", "writes")
    assert sum(time.slept) == pytest.approx(0.1, abs=0.01)  # one refill interval
    p.observe("sub", "writes", remaining=1, status=202)  # within rounding of the estimate: no news
    assert p.budget("sub", "writes") == (0.0, 10.0)


def test_a_429_blocks_everyone_for_its_retry_after_and_backs_the_rate_off() -> None:
    time = FakeTime()
    p = pacer(time, reserve=0, max_wait=60)
    p.acquire("sub", "writes")
    p.observe("sub", "writes", remaining=None, status=429, retry_after=5)
    p.acquire("sub", "writes")
    assert sum(time.slept) >= 5
    assert p.stats().throttled == 1
    rate = p._bucket("sub", "writes").rate
    assert rate == pytest.approx(7.0)
    for _ in range(40):
        p.observe("sub", "writes", remaining=50, status=202)
    assert p._bucket("sub", "writes").rate == pytest.approx(10.0)  # recovered, never above ARM's rate


def test_a_wait_longer_than_a_worker_should_hold_is_handed_back() -> None:
    time = FakeTime()
    p = pacer(time, reserve=0, max_wait=2)
    p.acquire("sub", "writes")
    p.observe("sub", "writes", remaining=None, status=429, retry_after=30)
    with pytest.raises(ThrottledError) as err:
        p.acquire("sub", "writes")
    assert err.value.delay == pytest.approx(30, abs=0.5)
    assert time.slept == []
    assert p.stats().deferred == 1


def test_requests_are_sorted_into_arm_buckets() -> None:
    assert request_kind("GET", "https://x/subscriptions/ABC/resourceGroups/r/providers/p/t/n?api-version=1") == (
        "reads",
        "abc",
    )
    assert request_kind("POST", "https://x/subscriptions/abc/resourceGroups/r/x/assessPatches") == ("writes", "abc")
    assert request_kind("POST", "https://x/providers/Microsoft.ResourceGraph/resources?api-version=1")[0] == "graph"


def test_unknown_failures_are_transient_but_not_retried_whole() -> None:
    from shared.adapters.retry import retryable_whole
    from shared.services.ports import TransientError

    err = classify(ValueError("surprise"))
    assert isinstance(err, TransientError)
    assert not retryable_whole(ValueError("surprise"))
