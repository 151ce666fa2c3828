"""Resilience for ARM calls: who retries what, and how fast the fleet may go.

Three layers, each doing one thing, none repeating another:

1. **azure-core's pipeline** (``RetryPolicy``, configured in :func:`sdk_retry_options`)
   retries single HTTP requests: 408/429/5xx and any response with ``Retry-After``, and
   connection errors for idempotent methods, a few times with exponential backoff.
2. **The pacer** (:class:`Pacer`, one per process, shared by every client and thread)
   sits *inside* the pipeline's retry loop, so every attempt passes through it. It mirrors
   ARM's token buckets per subscription (reads 250 refilled 25/s, writes 200 refilled
   10/s, Resource Graph 15 per 5 s per user) from the documented sizes, corrects its
   estimate from the ``x-ms-ratelimit-remaining-subscription-reads|writes`` (and
   ``-global-``, ``x-ms-user-quota-remaining``) headers of every answer, blocks every
   caller while a ``429``'s ``Retry-After`` runs, and backs its refill rate off on a 429
   and recovers it gradually (AIMD). Requests are spaced so the fleet's rate adapts to
   what ARM allows instead of bouncing off 429s. When a caller would have to wait longer
   than it should hold a worker, it raises :class:`~shared.services.ports.ThrottledError`
   so the queue message comes back later.

   **Sharing the bucket with other instances.** ARM's bucket belongs to the subscription
   and the principal, not to the process: every instance of the app (one managed
   identity) and every thread spends the same tokens. The remaining-quota header is that
   shared bucket's level, so the pacer learns from it what the others spend: over a
   window, ``remaining_then + refill - my answers - remaining_now`` is what other
   clients took. It spends only the refill the others leave (``rate - others``, never
   below 1/20 of it) and only its share of a surplus it sees, so N instances settle on
   about 1/N each without a storage request or any coordination, and recover the whole
   budget as soon as the others stop. (Learned, not configured: a count of instances
   would be wrong whenever the platform scales.)
3. **tenacity** (:func:`whole_operation`) retries *whole operations* for the failures the
   pipeline does not retry: "another operation is in progress" conflicts (409), dropped
   connections on a POST, and resuming a poll. Exponential backoff with jitter and a cap,
   or the server's ``Retry-After`` when it gave one. 429s and 5xx are not retried again
   here: the pipeline already did; they surface as transient errors and the queue
   brings the VM back later.

Permanent errors (400, 401, 403, 404, other 409s) are never retried: they are recorded
with their reason (:func:`classify`).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from shared.services.ports import (
    ArmError,
    ConnectionDroppedError,
    NotAssessableError,
    PermanentError,
    ThrottledError,
    TransientError,
)

if TYPE_CHECKING:
    from tenacity import Retrying

T = TypeVar("T")

#: ARM's documented buckets (capacity, refill per second); Resource Graph's per-user quota.
DOCUMENTED_LIMITS: dict[str, tuple[float, float]] = {
    "reads": (250.0, 25.0),
    "writes": (200.0, 10.0),
    "graph": (15.0, 3.0),
}
#: What ARM says is left, per bucket kind: the principal's own bucket first, then the
#: subscription's global bucket (15x the principal's, shared by all principals), when ARM
#: sends one. Names from "Understand how Azure Resource Manager throttles requests"
#: (learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling:
#: "Subscription limits apply per subscription, per service principal, and per operation
#: type. There are also global subscription limits that are equivalent to 15 times the
#: individual service principal limits"; limits are per region since the 2024 token-bucket
#: migration, and every instance of one app runs in one region) and answers captured from
#: ARM (``x-ms-ratelimit-remaining-subscription-writes: 199`` beside
#: ``x-ms-ratelimit-remaining-subscription-global-writes: 2999``; reads 249 / 3749).
#: Resource Graph's per-user quota: "Guidance for throttled requests" (Resource Graph docs).
REMAINING_HEADERS: dict[str, tuple[str, ...]] = {
    "reads": (
        "x-ms-ratelimit-remaining-subscription-reads",
        "x-ms-ratelimit-remaining-subscription-global-reads",
    ),
    "writes": (
        "x-ms-ratelimit-remaining-subscription-writes",
        "x-ms-ratelimit-remaining-subscription-global-writes",
    ),
    "graph": ("x-ms-user-quota-remaining",),
}
#: The global bucket is this many times the principal's (same source).
GLOBAL_FACTOR = 15.0
#: How long the pacer watches the shared bucket before it updates what the others spend,
#: and how much one window moves the estimate (an exponential average).
LEARN_WINDOW = 1.0
LEARN_GAIN = 0.3


def remaining_of(kind: str, headers: Mapping[str, str]) -> int | None:
    """The tokens left that bind this client: the principal's bucket, or the global one
    scaled to it when that is tighter (another principal is spending the subscription)."""
    names = REMAINING_HEADERS.get(kind, ())
    values = []
    for i, name in enumerate(names):
        text = headers.get(name)
        if text is not None and text.strip().isdigit():
            value = int(text.strip())
            values.append(int(value / GLOBAL_FACTOR) if i else value)
    return min(values) if values else None


_SUB = re.compile(r"/subscriptions/([^/?]+)", re.IGNORECASE)


def request_kind(method: str, url: str) -> tuple[str, str]:
    """(bucket kind, subscription) of an ARM request."""
    if "/providers/microsoft.resourcegraph/" in url.lower():
        return "graph", "tenant"
    m = _SUB.search(url)
    sub = m.group(1).lower() if m else "tenant"
    return ("reads" if method.upper() in ("GET", "HEAD") else "writes"), sub


@dataclass
class _Bucket:
    capacity: float
    rate: float
    prior_rate: float
    reserve: float
    level: float = 0.0
    updated: float | None = None  # None: not used yet (the bucket starts full)
    blocked_until: float = 0.0
    unsent: int = 0  # reserved by callers that are still waiting for their slot
    sent: int = 0  # requests sent so far
    in_flight: int = 0  # sent, not answered yet
    newest: int = 0  # the number of the newest request answered
    others: float = 0.0  # what other clients of the same ARM bucket spend, per second (learned)
    answered: int = 0  # own answers that spent a token (not 429s)
    anchor: tuple[float, int, int] | None = None  # (when, remaining, answered) at the window's start
    samples: int = 0  # windows measured
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def share(self) -> float:
        """The refill this client may spend: AIMD's rate, less what the others were seen to take."""
        return max(self.prior_rate / 20, min(self.rate, self.prior_rate - max(0.0, self.others)))

    def refill(self, now: float) -> None:
        if self.updated is None:
            self.level, self.updated = self.capacity, now
        self.level = min(self.capacity, self.level + (now - self.updated) * self.share)
        self.updated = now

    def learn(self, now: float, remaining: int) -> None:
        """What the others spent since the window began: the bucket's refill, less its fall,
        less this client's own answers. Only while the bucket cannot have been full (a full
        bucket drops its refill, and then nobody is short anyway: the estimate fades)."""
        if self.anchor is None:
            self.anchor = (now, remaining, self.answered)
            return
        then, remaining_then, answered_then = self.anchor
        elapsed = now - then
        if elapsed < LEARN_WINDOW:
            return
        refill = self.prior_rate * elapsed
        if remaining_then + refill < self.capacity - 1:
            taken = remaining_then + refill - (self.answered - answered_then) - remaining
            self.samples += 1  # a plain mean at first (nothing to keep yet), then the moving average
            gain = max(LEARN_GAIN, 1 / self.samples)
            # unclipped: ARM's whole-token figures make each sample +-1 token off, and a sample
            # clipped at 0 would bias a lone instance's estimate upwards (and slow it down)
            self.others += gain * (taken / elapsed - self.others)
        else:
            self.others *= 1 - LEARN_GAIN
        self.others = max(-self.prior_rate, min(self.others, self.prior_rate))
        self.anchor = (now, remaining, self.answered)


@dataclass(frozen=True)
class PacerStats:
    waits: int
    waited_seconds: float
    throttled: int
    deferred: int


class Pacer:
    """A client-side mirror of ARM's token buckets, shared by a process's clients and threads.

    ``acquire`` waits for a request's slot; ``observe`` feeds back what ARM said about it. Thread-safe. ``clock``/``sleep`` are injectable.
    """

    def __init__(
        self,
        limits: Mapping[str, tuple[float, float]] | None = None,
        *,
        reserve: float = 2.0,
        max_wait: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = dict(DOCUMENTED_LIMITS if limits is None else limits)
        self.reserve = reserve
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self._waits = 0
        self._waited = 0.0
        self._throttled = 0
        self._deferred = 0

    def _bucket(self, sub: str, kind: str) -> _Bucket:
        with self._lock:
            b = self._buckets.get((sub, kind))
            if b is None:
                cap, rate = self.limits.get(kind, DOCUMENTED_LIMITS["reads"])
                b = self._buckets[(sub, kind)] = _Bucket(cap, rate, rate, min(self.reserve, cap / 10))
            return b

    def acquire(self, sub: str, kind: str, max_wait: float | None = None) -> float:
        """Wait for this request's slot (returns the seconds waited); raise
        :class:`ThrottledError` rather than wait longer than ``max_wait``."""
        return self._acquire(sub, kind, max_wait)[0]

    def slot(self, sub: str, kind: str, max_wait: float | None = None) -> int:
        """:meth:`acquire`, returning the request's number (for :meth:`observe`'s ``seq``)."""
        return self._acquire(sub, kind, max_wait)[1]

    def _acquire(self, sub: str, kind: str, max_wait: float | None) -> tuple[float, int]:
        limit = self.max_wait if max_wait is None else max_wait
        b = self._bucket(sub, kind)
        with b.lock:
            now = self._clock()
            b.refill(now)
            need = b.reserve + 1 + b.unsent - b.level
            wait = max(need / b.rate if need > 0 else 0.0, b.blocked_until - now)
            if wait > limit:
                with self._lock:
                    self._deferred += 1
                raise ThrottledError(f"ARM {kind} budget for {sub} is spent; retry in {wait:.1f} s", retry_after=wait)
            b.unsent += 1
        if wait > 0:
            with self._lock:
                self._waits += 1
                self._waited += wait
            self._sleep(wait)
        with b.lock:
            b.refill(self._clock())
            b.unsent -= 1
            b.level -= 1
            b.sent += 1
            b.in_flight += 1
            return wait, b.sent

    def abandon(self, sub: str, kind: str) -> None:
        """A request that got no answer (a dropped connection): no longer in flight."""
        b = self._bucket(sub, kind)
        with b.lock:
            b.in_flight = max(0, b.in_flight - 1)

    def observe(
        self,
        sub: str,
        kind: str,
        *,
        remaining: int | None,
        status: int,
        retry_after: float | None = None,
        seq: int | None = None,
    ) -> None:
        """What ARM answered: the remaining quota, or a 429 and its Retry-After.

        The estimate is lowered to what ARM reports, and raised to it only from the answer
        to this client's newest request (``seq``, from :meth:`slot`) with nothing else in
        flight (answers arrive out of order under concurrency; a high figure from an older
        request is stale). What the others spend
        is learned from the same figures (:meth:`_Bucket.learn`), and of a surplus above
        the reserve this client counts only its share (the others see the same surplus).
        The refill rate backs off multiplicatively on a 429 and recovers additively
        towards the documented rate while ARM stops objecting (AIMD, as TCP does).
        """
        b = self._bucket(sub, kind)
        with b.lock:
            now = self._clock()
            b.refill(now)
            b.in_flight = max(0, b.in_flight - 1)
            newest = seq is not None and seq > b.newest
            if newest:
                b.newest = seq  # type: ignore[assignment]
            if status == 429:
                with self._lock:
                    self._throttled += 1
                b.blocked_until = max(b.blocked_until, now + (retry_after or 1.0))
                b.level = min(b.level, 0.0)
                b.rate = max(b.prior_rate / 20, b.rate * 0.7)
                b.anchor = None  # a 429 spent no token: start a new window
                return
            if b.rate < b.prior_rate:
                b.rate = min(b.prior_rate, b.rate + b.prior_rate * 0.01)
            b.answered += 1
            if remaining is None:
                return
            if remaining + 1 > b.capacity:  # a bigger bucket than documented
                b.capacity = float(remaining + 1)
            b.learn(now, remaining)
            # ARM reports whole tokens (what is left, rounded down): only a clear gap is news
            seen = remaining + 0.5
            if seen > b.reserve:
                seen = b.reserve + (seen - b.reserve) * b.share / b.prior_rate
            if b.level > seen + 1 or (newest and b.in_flight == 0 and seen > b.level + 1):
                b.level = seen

    def budget(self, sub: str, kind: str) -> tuple[float, float]:
        """(requests that may go now, refill per second): what callers can plan with."""
        b = self._bucket(sub, kind)
        with b.lock:
            b.refill(self._clock())
            free = b.level - b.reserve - b.unsent
            if self._clock() < b.blocked_until:
                free = 0.0
            return max(0.0, free), b.share

    def stats(self) -> PacerStats:
        with self._lock:
            return PacerStats(self._waits, self._waited, self._throttled, self._deferred)


@lru_cache(maxsize=1)
def default_pacer() -> Pacer:
    """The process's pacer: every client of every function in this process shares it."""
    return Pacer()


# -- the SDK pipeline's own retry policy ---------------------------------------------------


@dataclass(frozen=True)
class RetrySettings:
    """Knobs of every layer; tests shrink the delays, production keeps the defaults."""

    # azure-core RetryPolicy (per HTTP request)
    sdk_total: int = 3
    sdk_backoff_factor: float = 0.8
    sdk_backoff_max: float = 20.0
    connection_timeout: float = 10.0
    read_timeout: float = 60.0
    # the pacer: longest a worker waits for a slot or a 429's Retry-After before deferring
    max_block: float = 20.0
    # tenacity (whole operations)
    attempts: int = 4
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    jitter: float = 1.0
    budget_seconds: float = 90.0


def sdk_retry_options(s: RetrySettings) -> dict[str, Any]:
    """Keyword arguments for an azure-mgmt client: its pipeline's RetryPolicy and timeouts.

    Fewer, shorter retries than azure-core's default (10 tries, 120 s backoff cap): the
    pacer keeps 429s rare, and a worker should hand the VM back to the queue rather than
    sit in a long backoff.
    """
    return {
        "retry_total": s.sdk_total,
        "retry_connect": s.sdk_total,
        "retry_read": s.sdk_total,
        "retry_status": s.sdk_total,
        "retry_backoff_factor": s.sdk_backoff_factor,
        "retry_backoff_max": s.sdk_backoff_max,
        "connection_timeout": s.connection_timeout,
        "read_timeout": s.read_timeout,
    }


# -- classifying failures -------------------------------------------------------------------

_CONFLICT_CODES = {"anotheroperationinprogress", "conflict", "operationpreempted", "retryableerror"}
_NOT_ASSESSABLE = re.compile(r"\b(deallocated|deallocating|stopped|stopping)\b", re.IGNORECASE)


def _error_code_message(exc: Any) -> tuple[str, str]:
    err = getattr(exc, "error", None)
    code = str(getattr(err, "code", "") or "")
    message = str(getattr(err, "message", "") or "")
    if not code:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
        except Exception:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = str(body["error"].get("code") or "")
            message = str(body["error"].get("message") or "")
    return code, message or str(getattr(exc, "message", "") or exc)


def retry_after_of(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def classify(exc: BaseException) -> ArmError:
    """An SDK exception as one of the port's errors (the reason keeps code and message)."""
    if isinstance(exc, ArmError):
        return exc
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return ConnectionDroppedError(f"connection failed: {exc}")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        code, message = _error_code_message(exc)
        reason = f"HTTP {status} {code}: {message}".strip()
        retry_after = retry_after_of(exc)
        if status == 429:
            return ThrottledError(reason, status=status, retry_after=retry_after)
        if status == 409:
            if _NOT_ASSESSABLE.search(message) and code.lower() == "operationnotallowed":
                state = _NOT_ASSESSABLE.search(message).group(1).lower()  # type: ignore[union-attr]
                return NotAssessableError(state, reason)
            if code.lower() in _CONFLICT_CODES or "in progress" in message.lower():
                return TransientError(reason, status=status, retry_after=retry_after)
            return PermanentError(reason, status=status)
        if status in (408,) or status >= 500:
            return TransientError(reason, status=status, retry_after=retry_after)
        return PermanentError(reason, status=status)
    return TransientError(f"{type(exc).__name__}: {exc}")


def retryable_whole(exc: BaseException) -> bool:
    """What tenacity retries: conflicts and dropped connections (not what the pipeline retried)."""
    err = classify(exc)
    return isinstance(err, ConnectionDroppedError) or (isinstance(err, TransientError) and err.status == 409)


def whole_operation(settings: RetrySettings, *, sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """tenacity's ``Retrying`` for one whole ARM operation (call it with the operation)."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
    from tenacity.wait import wait_base, wait_exponential, wait_random

    backoff = wait_exponential(multiplier=settings.initial_backoff, max=settings.max_backoff) + wait_random(
        0, settings.jitter
    )

    class _RetryAfterOrBackoff(wait_base):
        """The server's Retry-After when it gave one (capped), else exponential backoff with jitter."""

        def __call__(self, retry_state: Any) -> float:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            hinted = getattr(exc, "retry_after", None) or (retry_after_of(exc) if exc is not None else None)
            if hinted:
                return float(min(settings.max_backoff, hinted + random.uniform(0, settings.jitter)))
            return float(backoff(retry_state))

    return Retrying(
        retry=retry_if_exception(retryable_whole),
        wait=_RetryAfterOrBackoff(),
        stop=stop_after_attempt(settings.attempts) | stop_after_delay(settings.budget_seconds),
        sleep=sleep,
        reraise=True,
    )
