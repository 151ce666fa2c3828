"""The alerting ports: what the watchdog and the event handlers' alerting read and write,
with the value types both sides speak.

Implemented by :class:`shared.adapters.outcome_store.TableOutcomeStore` (:class:`OutcomeReader`),
:class:`shared.adapters.alert_store.AlertStore` (:class:`AlertStorePort`),
:class:`shared.adapters.publisher.EventGridAlertPublisher` (:class:`AlertPublisher`),
:class:`shared.adapters.cycle_facts.CycleFacts` (:class:`CycleReader`) and
:class:`shared.adapters.health.HeartbeatSource` (:class:`HeartbeatReader`); wired in
:mod:`shared.runtime.alerting`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.domain.alerts import Alert, AlertKey, AlertKind, Heartbeats, Verdict, VmCycleFacts


@dataclass(frozen=True)
class StoredAlert:
    """An alert as read, with the ETag to guard the next write and the current claim."""

    alert: Alert
    etag: str
    claimed_by: str = ""
    claimed_until: datetime | None = None

    def claimed(self, now: datetime) -> bool:
        return bool(self.claimed_by) and self.claimed_until is not None and self.claimed_until > now


@dataclass(frozen=True)
class Change:
    """A transition or refresh written by :meth:`AlertStorePort.apply`."""

    before: Alert | None
    after: Alert

    @property
    def transitioned(self) -> bool:
        return self.before is None or self.before.sequence != self.after.sequence


class AlertStorePort(Protocol):
    """The alerts: created by conditional inserts, changed under ETags, published under claims."""

    def get(self, key: AlertKey) -> StoredAlert | None: ...

    def all(self) -> list[StoredAlert]: ...

    def open_alerts(self, kinds: Iterable[AlertKind] | None = None) -> dict[AlertKey, StoredAlert]: ...

    def pending(self) -> list[StoredAlert]: ...

    def apply(
        self, verdicts: Iterable[Verdict], now: datetime, known_open: dict[AlertKey, StoredAlert] | None = None
    ) -> list[Change]: ...

    def claim(self, stored: StoredAlert, owner: str, now: datetime) -> StoredAlert | None: ...

    def release(self, claimed: StoredAlert) -> None: ...

    def mark_published(self, claimed: StoredAlert, sequence: int) -> Alert: ...


class AlertPublisher(Protocol):
    def publish(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Deliver CloudEvents (as built by :func:`shared.domain.alerts.alert_event`) or raise."""


class OutcomeReader(Protocol):
    """What the watchdog reads from the outcome store (``TableOutcomeStore``)."""

    def runs_between(self, start: datetime, end: datetime) -> list[Any]: ...

    def list_runs(self, month: Any) -> list[Any]: ...

    def get_run(self, correlation_id: str) -> Any | None: ...

    def list_resource_health(self, *, since: datetime | None = None) -> list[Any]: ...

    def health_history(
        self, resource_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[Any, ...]: ...

    def list_notices(self, *, since: datetime | None = None, until: datetime | None = None) -> list[Any]: ...

    def get_notice(self, tracking_id: str) -> Any | None: ...


class CycleReader(Protocol):
    """What the watchdog reads from the patch cycle's store."""

    def vm_facts(self, cycle_ids: Sequence[str]) -> list[VmCycleFacts]: ...

    def run_vms(self, correlation_id: str) -> list[str]: ...

    def vm_fact(self, cycle_id: str, resource_id: str) -> VmCycleFacts | None: ...

    def gate_cancelled(self, correlation_id: str) -> bool: ...


class HeartbeatReader(Protocol):
    def heartbeats(self, resource_ids: Iterable[str], start: datetime, end: datetime) -> Heartbeats: ...


class ChangeFeedPort(Protocol):
    """What changed since the watchdog last looked (:class:`shared.adapters.change_feed.ChangeFeed`)."""

    def pending(self) -> list[Any]: ...

    def consume(self, marks: Iterable[Any]) -> int: ...


class FactBasePort(Protocol):
    """Where the watchdog keeps its fact base (:class:`shared.adapters.factbase_store.FactBaseStore`)."""

    def load(self) -> tuple[Any | None, str]: ...

    def save(self, base: Any, loaded: Any | None, *, full: bool = False) -> bool: ...
