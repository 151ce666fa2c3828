"""The outcome store's ports: what ingestion writes (every accepted event, every refusal) and
what the maintenance follow-ups read back. Implemented by
:class:`shared.adapters.outcome_store.TableOutcomeStore`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from shared.domain.events import DomainEvent
from shared.domain.outcomes import Rejection


class EventStore(Protocol):
    """The port this use case writes to (:class:`shared.adapters.outcome_store.TableOutcomeStore`)."""

    def record(self, event: DomainEvent, raw: str, received_at: datetime) -> bool: ...

    def record_rejection(self, rejection: Rejection) -> bool: ...


class HealthReader(Protocol):
    """The outcome store's read side (:class:`shared.adapters.outcome_store.TableOutcomeStore`)."""

    def latest_health(self, resource_id: str) -> Any: ...
