"""Use case: record the events Azure sends. decode -> validate -> normalise -> record
idempotently -> say what happened and what should follow.

The same code serves the Event Grid functions, the action-group webhook and the
``replay`` command. Outcomes per event:

- ``accepted``: recorded now (exactly one insert);
- ``duplicate``: recorded before (same event type and id); nothing changed;
- ``rejected``: malformed, unknown or foreign; the refusal is recorded with its reason,
  nothing else is written, and the delivery is acknowledged (never retried);
- ``ignored``: an Event Grid subscription-validation event; acknowledged, not recorded.
- ``synthetic``: an action group's test action (``IsSynthetic``, a ``test-*AlertRule``):
  recorded as such beside the refusals (with why), acknowledged, never a fact: it
  neither alerts nor changes any resource's health.

A transient store fault raises :class:`StoreUnavailableError` with nothing half-written,
so the trigger fails and Event Grid (or the action group) delivers again.

``actions`` are follow-ups as plain data (see :func:`shared.domain.outcomes.follow_ups`);
they are listed for duplicates too, so that a delivery retried after a crash between
recording and acting still gets its follow-ups (executors de-duplicate by ``key``).
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.config import Settings
from shared.domain.events import (
    MAX_EVENT_BYTES,
    DecodeError,
    DomainEvent,
    SubscriptionValidation,
    SyntheticSignalError,
    decode_event,
    parse_payload,
)
from shared.domain.outcomes import Rejection, StoreUnavailableError, follow_ups

__all__ = [
    "EventStore",
    "IngestPolicy",
    "IngestResult",
    "Outcome",
    "StoreUnavailableError",
    "ingest_event",
    "ingest_payload",
]

REJECTED_RAW_KEEP = 16_000


class EventStore(Protocol):
    """The port this use case writes to (:class:`shared.adapters.outcome_store.TableOutcomeStore`)."""

    def record(self, event: DomainEvent, raw: str, received_at: datetime) -> bool: ...

    def record_rejection(self, rejection: Rejection) -> bool: ...


@dataclass(frozen=True)
class IngestPolicy:
    allowed_subscriptions: frozenset[str] = frozenset()
    gate_runs: bool = False
    unhealthy_share: float = 0.5
    max_bytes: int = MAX_EVENT_BYTES

    @classmethod
    def from_settings(cls, cfg: Settings) -> IngestPolicy:
        return cls(
            allowed_subscriptions=frozenset(cfg["ALLOWED_SUBSCRIPTION_IDS"]),
            gate_runs=bool(cfg["CANCEL_UNHEALTHY_RUNS"]),
            unhealthy_share=float(cfg["CANCEL_UNHEALTHY_SHARE"]),
        )


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    IGNORED = "ignored"
    SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class IngestResult:
    source: str
    outcome: Outcome
    event: DomainEvent | None = None
    reason: str | None = None
    actions: tuple[dict[str, Any], ...] = ()
    validation: SubscriptionValidation | None = None

    @property
    def recorded(self) -> bool:
        """The event is in the store (now or from an earlier delivery)."""
        return self.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "outcome": self.outcome.value}
        if self.event is not None:
            out["event_type"] = self.event.event_type
            out["event_id"] = self.event.event_id
        if self.reason:
            out["reason"] = self.reason
        if self.actions:
            out["actions"] = list(self.actions)
        return out


def _compact(element: Any) -> str:
    return json.dumps(element, separators=(",", ":"), ensure_ascii=False)


def _reject(store: EventStore, source: str, error: DecodeError, *, text: str, size: int, now: datetime) -> IngestResult:
    rejection = Rejection(
        source=source,
        field=error.field,
        problem=error.problem,
        received_at=now.astimezone(UTC),
        raw=text[:REJECTED_RAW_KEEP],
        raw_size=size,
        digest=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
    )
    store.record_rejection(rejection)
    return IngestResult(source, Outcome.REJECTED, reason=rejection.reason)


def ingest_event(element: Any, *, source: str, store: EventStore, policy: IngestPolicy, now: datetime) -> IngestResult:
    """Record one envelope (a parsed JSON object, as a trigger or a payload hands it over)."""
    raw = _compact(element)
    size = len(raw.encode("utf-8", "surrogatepass"))
    try:
        decoded = decode_event(
            element, allowed_subscriptions=policy.allowed_subscriptions, size=size, max_bytes=policy.max_bytes
        )
    except SyntheticSignalError as signal:
        _reject(store, source, signal, text=raw, size=size, now=now)
        return IngestResult(source, Outcome.SYNTHETIC, reason=f"{signal.field}: {signal.problem}")
    except DecodeError as error:
        return _reject(store, source, error, text=raw, size=size, now=now)
    if isinstance(decoded, SubscriptionValidation):
        return IngestResult(source, Outcome.IGNORED, validation=decoded)
    new = store.record(decoded, raw, now)
    actions = follow_ups(decoded, now=now, gate_runs=policy.gate_runs, unhealthy_share=policy.unhealthy_share)
    return IngestResult(source, Outcome.ACCEPTED if new else Outcome.DUPLICATE, event=decoded, actions=actions)


def ingest_payload(
    payload: bytes | str, *, source: str, store: EventStore, policy: IngestPolicy, now: datetime
) -> list[IngestResult]:
    """Record a body as posted (one event object or an array): one result per element,
    sources ``{source}#{index}``. A body that is not JSON at all is one rejection ``#0``."""
    try:
        elements = parse_payload(payload, max_bytes=policy.max_bytes)
    except DecodeError as error:
        data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        text = data[: REJECTED_RAW_KEEP * 4].decode("utf-8", "replace")
        if len(data) > REJECTED_RAW_KEEP * 4:  # the digest must still tell different bodies apart
            text += f"\n[... {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}]"
        return [_reject(store, f"{source}#0", error, text=text, size=len(data), now=now)]
    return [
        ingest_event(element, source=f"{source}#{i}", store=store, policy=policy, now=now)
        for i, element in enumerate(elements)
    ]


def webhook_answer(results: list[IngestResult]) -> tuple[int, dict[str, Any]]:
    """The HTTP answer to a posted body: 200 with the code for an Event Grid webhook
    handshake, 400 with the reasons when anything was refused (the rest is still
    recorded), 202 with the counts otherwise."""
    handshake = next((r.validation for r in results if r.validation), None)
    if handshake is not None:
        return 200, {"validationResponse": handshake.validation_code}
    rejected = [r for r in results if r.outcome is Outcome.REJECTED]
    counts = {o.value: sum(r.outcome is o for r in results) for o in (Outcome.ACCEPTED, Outcome.DUPLICATE)}
    if synthetic := sum(r.outcome is Outcome.SYNTHETIC for r in results):
        counts[Outcome.SYNTHETIC.value] = synthetic  # test actions: acknowledged, never acted on
    if rejected:
        reasons = [{"source": r.source, "reason": r.reason} for r in rejected]
        return 400, {"error": rejected[0].reason, "rejected": reasons, **counts}
    return 202, counts
