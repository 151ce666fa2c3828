"""A patch-cycle test bench: the loopback ARM, Azurite tables and queues, the registered functions.

``cycle_env`` points the settings at both, builds the real adapters with an explicit
``StaticTokenCredential`` and shortened delays (production defaults stay untouched),
installs them as the process's dependencies (so the registered functions use them) and
hands back a :class:`QueueHost` to drive the queue-triggered functions as the host would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from shared import runtime
from shared.adapters.arm import ArmAdapter
from shared.adapters.cycle_store import CycleStore
from shared.adapters.queues import StorageQueue
from shared.adapters.retry import Pacer, RetrySettings
from shared.adapters.storage import resolve_target
from shared.config import Settings, settings
from shared.services.assessment import QUEUE_NAME, CyclePolicy, Deps, QueuePolicy
from tests.support.app import handler
from tests.support.arm_server import SUB, ArmSimulator
from tests.support.loopback import StaticTokenCredential
from tests.support.queue_host import QueueHost

FAST_RETRY = RetrySettings(
    sdk_total=3,
    sdk_backoff_factor=0.01,
    sdk_backoff_max=0.05,
    max_block=5.0,
    attempts=4,
    initial_backoff=0.01,
    max_backoff=0.05,
    jitter=0.01,
    budget_seconds=5.0,
)
FAST_QUEUE = QueuePolicy(attempts=8, backoff=0.0, backoff_max=0.0)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclass
class CycleEnv:
    sim: ArmSimulator
    cfg: Settings
    deps: Deps
    host: QueueHost
    clock: Clock
    connection: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def store(self) -> CycleStore:
        assert isinstance(self.deps.store, CycleStore)
        return self.deps.store

    def tick(self, *, past_due: bool = False) -> None:
        """Fire the registered timer as the host does (the worker's ``TimerRequest``)."""
        handler("patch_cycle_timer")(TimerRequest(past_due=past_due))

    def drain(self, **kwargs: Any) -> int:
        return self.host.drain(**kwargs)

    def rows(self, scope: str) -> dict[str, Any]:
        return {r["Name"]: r for r in self.store.vm_rows(scope)}


@contextlib.contextmanager
def cycle_env(
    monkeypatch: pytest.MonkeyPatch,
    connection: str,
    prefix: str,
    sim: ArmSimulator,
    *,
    now: datetime,
    queue: QueuePolicy = FAST_QUEUE,
    retry: RetrySettings = FAST_RETRY,
    **env: str,
) -> Iterator[CycleEnv]:
    values = {
        "AzureWebJobsStorage": connection,
        "OUTCOMES_TABLE_PREFIX": prefix,
        "TARGET_SUBSCRIPTION_IDS": SUB,
        "ARM_ENDPOINT": sim.url,
        **env,
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    settings.cache_clear()
    cfg = settings()
    credential = StaticTokenCredential()
    monkeypatch.setattr("shared.adapters.identity.credential", lambda: credential)
    deps = Deps(
        store=CycleStore.from_settings(cfg),
        arm=ArmAdapter.from_settings(cfg, credential, retry=retry, pacer=Pacer(), poll_fallback_seconds=0),
        queue=StorageQueue(resolve_target(connection), QUEUE_NAME),
        policy=CyclePolicy.from_settings(cfg, queue=queue),
    )
    runtime.install(cfg, deps)
    clock = Clock(now.astimezone(UTC))
    monkeypatch.setattr(runtime, "utc_now", clock)
    host = QueueHost(connection, handler("assessment_worker"), poison_handler=handler("assessment_poison"))
    host.reset()
    try:
        yield CycleEnv(sim, cfg, deps, host, clock, connection)
    finally:
        settings.cache_clear()
