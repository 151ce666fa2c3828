"""What the event functions share: the trigger's event turned back into the envelope
Azure sent, and the ingest use case wired to the configured store and settings."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

from shared.adapters.outcome_store import outcome_store
from shared.config import settings
from shared.services.ingest import IngestPolicy, IngestResult, Outcome, ingest_event, ingest_payload

log = logging.getLogger("patchwatch.events")


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
    if result.outcome is Outcome.REJECTED:
        log.warning("rejected %s: %s", result.source, result.reason)
    else:
        log.info("%s %s", result.outcome.value, result.source)
    for action in result.actions:
        log.info("follow-up %s", json.dumps(action))
    if result.recorded:  # duplicates too: a redelivery after a crash still alerts (issue 5)
        from shared.adapters.alerting import after_event

        after_event(result.event)
    return result


def record_event(event: func.EventGridEvent | func.CloudEvent, function_name: str) -> IngestResult:
    """Record one Event Grid delivery. Raises StoreUnavailableError on a transient fault."""
    cfg = settings()
    source = f"{function_name}:{event.id}"[:500]
    return _report(
        ingest_event(
            envelope(event),
            source=source,
            store=outcome_store(cfg),
            policy=IngestPolicy.from_settings(cfg),
            now=datetime.now(UTC),
        )
    )


def record_body(body: bytes, function_name: str) -> list[IngestResult]:
    """Record a posted body (one event or an array). Raises StoreUnavailableError on a transient fault."""
    cfg = settings()
    results = ingest_payload(
        body,
        source=function_name,
        store=outcome_store(cfg),
        policy=IngestPolicy.from_settings(cfg),
        now=datetime.now(UTC),
    )
    return [_report(r) for r in results]
