"""What the event functions share: the trigger's event turned back into the envelope
Azure sent, and the ingest use case wired to the configured store and settings."""

from __future__ import annotations

import dataclasses
from typing import Any

import azure.functions as func

from shared import runtime
from shared.adapters.outcome_store import outcome_store
from shared.config import settings
from shared.domain.events import WEBHOOK_DOOR, Door
from shared.limits import MAX_EVENTS_PER_BODY
from shared.services.follow_ups import settle
from shared.services.ingest import IngestPolicy, IngestResult, ingest_event, ingest_payload


def envelope(event: func.EventGridEvent | func.CloudEvent) -> dict[str, Any]:
    """The event as it was posted (the worker has already split the batch and parsed it)."""
    if isinstance(event, func.CloudEvent):
        out: dict[str, Any] = {
            "specversion": event.specversion,
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": event.time.isoformat() if event.time else None,
            "datacontenttype": event.datacontenttype,
            "data": event.get_json(),
            **event.extension_attrs,
        }
    else:
        out = {
            "id": event.id,
            "topic": event.topic,
            "subject": event.subject,
            "eventType": event.event_type,
            "eventTime": event.event_time.isoformat() if event.event_time else None,
            "dataVersion": event.data_version,
            "data": event.get_json(),
        }
    return {k: v for k, v in out.items() if v is not None}


def _report(result: IngestResult) -> IngestResult:
    from shared.runtime import hand_over
    from shared.runtime.alerting import after_event

    return settle(result, hand_over=hand_over, alert=after_event)


def record_event(event: func.EventGridEvent | func.CloudEvent, function_name: str, door: Door) -> IngestResult:
    """Record one Event Grid delivery at ``door``. Raises StoreUnavailableError on a transient fault."""
    cfg = settings()
    source = f"{function_name}:{event.id}"[:500]
    return _report(
        ingest_event(
            envelope(event),
            source=source,
            store=outcome_store(cfg),
            policy=dataclasses.replace(IngestPolicy.from_settings(cfg), door=door),
            now=runtime.utc_now(),
        )
    )


def record_body(body: bytes, function_name: str) -> list[IngestResult]:
    """Record a body posted to the action-group webhook (common alert schema only, at most
    ``MAX_EVENTS_PER_BODY`` alerts). Raises StoreUnavailableError on a transient fault."""
    cfg = settings()
    policy = dataclasses.replace(IngestPolicy.from_settings(cfg), door=WEBHOOK_DOOR, max_events=MAX_EVENTS_PER_BODY)
    results = ingest_payload(body, source=function_name, store=outcome_store(cfg), policy=policy, now=runtime.utc_now())
    return [_report(r) for r in results]
