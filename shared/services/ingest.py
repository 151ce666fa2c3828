"""Use case: record the events Azure sends. decode -> validate -> normalise -> record
idempotently -> say what happened and what should follow.

The same code serves the Event Grid functions, the action-group webhook and the
``replay`` command. Outcomes per event:

- ``accepted``: recorded now (exactly one insert);
- ``duplicate``: recorded before (same event type and id); nothing changed;
- ``rejected``: malformed, unknown, foreign, beyond a limit (:mod:`shared.limits`), at
  the wrong door, or conflicting with a recorded event of the same type and id; the
  refusal is recorded with its reason, nothing else is written, and the delivery is
  acknowledged (never retried);
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
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.config import Settings
from shared.domain.events import (
    MAX_EVENT_BYTES,
    DecodeError,
    DomainEvent,
    Door,
    SubscriptionValidation,
    SyntheticSignalError,
    canonical_envelope,
    check_structure,
    compact_json,
    decode_event,
    door_for,
    parse_payload,
    storable_text,
)
from shared.domain.outcomes import FactConflictError, Rejection, StoreUnavailableError, follow_ups
from shared.services.ports.outcomes import EventStore

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
log = logging.getLogger("patchwatch.events")


@dataclass(frozen=True)
class IngestPolicy:
    allowed_subscriptions: frozenset[str] = frozenset()
    gate_runs: bool = False
    unhealthy_share: float = 0.5
    max_bytes: int = MAX_EVENT_BYTES
    door: Door | None = None
    """What the door takes (:class:`~shared.domain.events.Door`); None: each envelope is
    taken by the door it belongs to (``replay`` of saved files)."""
    max_events: int | None = None
    """Events in one body; above it the body is refused whole (the webhook: 413)."""
    record_unparsable: bool = True
    """Record a body that is not JSON as a refusal (the webhook does; an Event Grid body
    that is not JSON never reaches a function: the extension answers 500)."""

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
    too_large: bool = False
    """Refused for its size or its number of events (the webhook answers 413)."""

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


def _reject(
    store: EventStore,
    source: str,
    error: DecodeError | FactConflictError,
    *,
    text: str,
    size: int,
    now: datetime,
    too_large: bool = False,
) -> IngestResult:
    field, problem = (error.field, error.problem) if isinstance(error, DecodeError) else ("id", str(error))
    rejection = Rejection(
        source=source,
        field=field,
        problem=problem,
        received_at=now.astimezone(UTC),
        raw=storable_text(text[:REJECTED_RAW_KEEP]),
        raw_size=size,
        digest=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
    )
    store.record_rejection(rejection)
    return IngestResult(source, Outcome.REJECTED, reason=rejection.reason, too_large=too_large)


def ingest_event(element: Any, *, source: str, store: EventStore, policy: IngestPolicy, now: datetime) -> IngestResult:
    """Record one envelope (a parsed JSON object, as a trigger or a payload hands it over).

    The raw text kept (and the digest a refusal is keyed by) is the canonical envelope
    (:func:`~shared.domain.events.canonical_envelope`): the same whichever door and
    whichever host conversions the event went through."""
    try:
        check_structure(element)
    except DecodeError as error:
        text = compact_json(element)
        return _reject(store, source, error, text=text, size=len(text.encode("utf-8", "surrogatepass")), now=now)
    raw = compact_json(canonical_envelope(element), sort_keys=True)
    size = len(raw.encode("utf-8", "surrogatepass"))
    door = policy.door or door_for(element)
    try:
        decoded = decode_event(
            element,
            allowed_subscriptions=policy.allowed_subscriptions,
            size=size,
            max_bytes=policy.max_bytes,
            door=door,
        )
    except SyntheticSignalError as signal:
        _reject(store, source, signal, text=raw, size=size, now=now)
        return IngestResult(source, Outcome.SYNTHETIC, reason=f"{signal.field}: {signal.problem}")
    except DecodeError as error:
        return _reject(store, source, error, text=raw, size=size, now=now, too_large=size > policy.max_bytes)
    if isinstance(decoded, SubscriptionValidation):
        return IngestResult(source, Outcome.IGNORED, validation=decoded)
    try:
        new = store.record(decoded, raw, now)
    except FactConflictError as conflict:
        log.warning("%s %s %s: %s", source, decoded.event_type, decoded.event_id, conflict)
        return _reject(store, source, conflict, text=raw, size=size, now=now)
    actions = follow_ups(decoded, now=now, gate_runs=policy.gate_runs, unhealthy_share=policy.unhealthy_share)
    return IngestResult(source, Outcome.ACCEPTED if new else Outcome.DUPLICATE, event=decoded, actions=actions)


def ingest_payload(
    payload: bytes | str, *, source: str, store: EventStore, policy: IngestPolicy, now: datetime
) -> list[IngestResult]:
    """Record a body as posted (one event object or an array): one result per element,
    sources ``{source}#{index}``. A body that is not JSON at all is one rejection ``#0``."""
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    try:
        elements = parse_payload(payload, max_bytes=policy.max_bytes)
        if policy.max_events is not None and len(elements) > policy.max_events:
            raise DecodeError(
                "payload",
                f"{len(elements):,} events in one body is over the limit of {policy.max_events} events per body "
                "(an action group posts one alert per call)",
            )
    except DecodeError as error:
        text = data[: REJECTED_RAW_KEEP * 4].decode("utf-8", "replace")
        if len(data) > REJECTED_RAW_KEEP * 4:  # the digest must still tell different bodies apart
            text += f"\n[... {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}]"
        too_large = len(data) > policy.max_bytes or "events per body" in error.problem
        if not policy.record_unparsable and error.problem.startswith("not JSON"):
            return [IngestResult(f"{source}#0", Outcome.REJECTED, reason=f"{error} (not recorded: {UNPARSABLE_NOTE})")]
        return [_reject(store, f"{source}#0", error, text=text, size=len(data), now=now, too_large=too_large)]
    return [
        ingest_event(element, source=f"{source}#{i}", store=store, policy=policy, now=now)
        for i, element in enumerate(elements)
    ]


UNPARSABLE_NOTE = "an Event Grid delivery that is not JSON never reaches a function; the extension answers 500"


def webhook_answer(results: list[IngestResult]) -> tuple[int, dict[str, Any]]:
    """The HTTP answer to a posted body: 413 when the body is over a size or count limit,
    400 with the reasons when anything was refused (the rest is still recorded), 202 with
    the counts otherwise. (The webhook takes the common alert schema only, so an Event
    Grid handshake is refused like any other Event Grid event.)"""
    rejected = [r for r in results if r.outcome is Outcome.REJECTED]
    counts = {o.value: sum(r.outcome is o for r in results) for o in (Outcome.ACCEPTED, Outcome.DUPLICATE)}
    if synthetic := sum(r.outcome is Outcome.SYNTHETIC for r in results):
        counts[Outcome.SYNTHETIC.value] = synthetic  # test actions: acknowledged, never acted on
    if rejected:
        reasons = [{"source": r.source, "reason": r.reason} for r in rejected]
        status = 413 if any(r.too_large for r in rejected) else 400
        return status, {"error": rejected[0].reason, "rejected": reasons, **counts}
    return 202, counts
