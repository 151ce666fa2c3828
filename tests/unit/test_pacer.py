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


# -- several pacers, one ARM bucket -----------------------------------------------------------


class SharedBucket:
    """ARM's write bucket as the loopback ARM keeps it (200, refilled 10/s), on the fake clock."""

    def __init__(self, time: FakeTime, size: float = 200.0, rate: float = 10.0) -> None:
        self.time, self.size, self.rate = time, size, rate
        self.tokens, self.updated = size, time.now
        self.accepted = self.throttled = 0

    def take(self) -> tuple[int, int]:
        """(status, remaining) for one request now."""
        self.tokens = min(self.size, self.tokens + (self.time.now - self.updated) * self.rate)
        self.updated = self.time.now
        if self.tokens >= 1:
            self.tokens -= 1
            self.accepted += 1
            return 202, int(self.tokens)
        self.throttled += 1
        return 429, 0


def run_instances(
    count: int, seconds: float, *, workers: int = 4, latency: float = 0.02, jitter: float = 0.0
) -> dict[str, object]:
    """``count`` processes, each with its own pacer and ``workers`` threads that always have a
    write to send, against one bucket. Discrete events on one clock: a worker asks its pacer
    for a slot without waiting (``max_wait=0``: the pacer says how long it would wait), sends,
    and sees the answer (remaining quota or 429 + Retry-After) ``latency`` later (plus up to
    ``jitter``, seeded: a loaded machine)."""
    import heapq
    import itertools
    import random

    rng = random.Random(7)

    time = FakeTime()
    bucket = SharedBucket(time)
    pacers = [Pacer(LIMITS, clock=time.clock, sleep=time.sleep, max_wait=0) for _ in range(count)]
    sent = [0] * count
    order = itertools.count()
    events: list[tuple[float, int, str, int, object]] = []
    for i in range(count):
        for _ in range(workers):
            heapq.heappush(events, (time.now, next(order), "try", i, None))
    end = time.now + seconds
    while events:
        at, _, what, i, data = heapq.heappop(events)
        if at > end:
            break
        time.now = at
        if what == "try":
            try:
                seq = pacers[i].slot("sub", "writes", max_wait=0)
            except ThrottledError as exc:
                heapq.heappush(events, (at + max(exc.delay, 0.001), next(order), "try", i, None))
                continue
            status, remaining = bucket.take()
            sent[i] += status != 429
            answered = at + latency + rng.random() * jitter
            heapq.heappush(events, (answered, next(order), "answer", i, (seq, status, remaining)))
        else:
            seq, status, remaining = data  # type: ignore[misc]
            pacers[i].observe("sub", "writes", remaining=remaining, status=status,
                              retry_after=1.0 if status == 429 else None, seq=seq)  # fmt: skip
            heapq.heappush(events, (at, next(order), "try", i, None))
    shares = [p.budget("sub", "writes")[1] for p in pacers]
    return {"accepted": bucket.accepted, "throttled": bucket.throttled, "per_instance": sent, "shares": shares}


@pytest.mark.parametrize("count", [1, 2, 4])
@pytest.mark.parametrize("jitter", [0.0, 0.3])
def test_instances_sharing_one_bucket_use_it_all_and_are_rarely_throttled(count: int, jitter: float) -> None:
    seconds = 120.0
    result = run_instances(count, seconds, jitter=jitter)
    accepted, throttled = int(result["accepted"]), int(result["throttled"])  # type: ignore[call-overload]
    ceiling = 200 + 10 * seconds  # the bucket, then its refill
    assert accepted >= 0.95 * ceiling, result  # the budget is used, not left idle
    assert throttled / (accepted + throttled) <= 0.02, result
    if count == 1:  # alone: the whole refill, not a share biased down by ARM's whole-token figures
        assert throttled == 0, result
        assert result["shares"] == [pytest.approx(10.0, abs=0.3)], result
    if not jitter:  # with steady answers nobody starves; fairness is not a goal beyond that: the
        # queue spreads the work, and what an instance leaves unspent the others learn to use
        assert min(result["per_instance"]) >= accepted / count / 3, result  # type: ignore[call-overload]


def test_a_pacer_learns_what_another_client_spends_and_gives_it_back_when_it_stops() -> None:
    time = FakeTime()
    p = Pacer(LIMITS, clock=time.clock, sleep=time.sleep, reserve=0)
    remaining = 50
    for _ in range(10):  # each second: 2 answers of ours, and ARM's figure falls by 2 more than refill
        time.now += 1.0
        remaining = remaining + 10 - 2 - 6  # someone else takes 6 a second
        p.observe("sub", "writes", remaining=remaining, status=202)
        p.observe("sub", "writes", remaining=remaining, status=202)
    _, rate = p.budget("sub", "writes")
    assert rate == pytest.approx(4.0, abs=1.0)  # the refill the other client leaves
    for _ in range(10):  # the other client stops: the bucket climbs by the refill less ours
        time.now += 1.0
        remaining = remaining + 10 - 2
        p.observe("sub", "writes", remaining=remaining, status=202)
        p.observe("sub", "writes", remaining=remaining, status=202)
    _, rate = p.budget("sub", "writes")
    assert rate == pytest.approx(10.0, abs=0.5)
