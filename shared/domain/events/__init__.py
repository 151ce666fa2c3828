"""Decoding what Azure sends into typed domain events, strictly.

Three envelopes arrive, one JSON object each (or an array of them):

- the **Event Grid schema** (``eventType``, ``eventTime``, ``data``),
- the **CloudEvents 1.0 schema** (``specversion``, ``type``, ``time``, ``data``),
- the **Azure Monitor common alert schema** (``schemaId: azureMonitorCommonAlertSchema``,
  ``data.essentials``, ``data.alertContext``), as an action group posts it.

They carry four kinds of domain event: :class:`MaintenanceEvent` (Update Manager
pre/post maintenance), :class:`HealthEvent` (HealthResources availability change or
annotation), :class:`SqlMaintenanceNotice` (a Service Health planned-maintenance
notice: how Azure SQL advance notifications arrive) and :class:`ResourceHealthAlert`.

Keys are read case-insensitively (published samples differ in casing between
revisions); a key present twice in different casings is refused as ambiguous. Every
refusal is a :class:`DecodeError` naming the field (a dotted path) and the problem.

Pure: no I/O, no clock, no Azure SDK. The Maintenance event types are not in
azure-eventgrid's ``SystemEventNames``, so the constants are defined here.

The package, read top-down: :mod:`.base` (event types, errors, enums, strict values),
:mod:`.records` (the domain events and their stored records), :mod:`.payloads` (a body
before decoding), :mod:`.eventgrid` and :mod:`.common_alert` (one schema's ``data`` each)
and :mod:`.doors` (which door takes which schema, and :func:`decode_event`). Every public
name is importable from ``shared.domain.events``.
"""

from __future__ import annotations

from shared.domain.events.base import (
    AVAILABILITY_STATUS_CHANGED,
    COMMON_ALERT_SCHEMA_ID,
    EVENT_GRID_TYPES,
    KNOWN_EVENT_TYPES,
    MAINTENANCE_TOPIC_TYPE,
    MAX_EVENT_BYTES,
    POST_MAINTENANCE_EVENT,
    PRE_MAINTENANCE_EVENT,
    RESOURCE_ANNOTATED,
    RESOURCE_HEALTH_EVENT,
    RUN_RESULTS,
    SERVICE_HEALTH_MAINTENANCE,
    SUBSCRIPTION_VALIDATION,
    Availability,
    DecodeError,
    MaintenancePhase,
    MaintenanceResult,
    NoticeStage,
    Schema,
    SyntheticSignalError,
    format_instant,
    parse_instant,
    run_result,
    subscription_of,
)
from shared.domain.events.doors import (
    EVENT_GRID_DOOR,
    HEALTH_DOOR,
    MAINTENANCE_DOOR,
    WEBHOOK_DOOR,
    Door,
    decode_event,
    door_for,
)
from shared.domain.events.payloads import (
    canonical_envelope,
    check_record,
    check_structure,
    compact_json,
    encoded_size,
    parse_payload,
    storable_text,
)
from shared.domain.events.records import (
    RECORD_TYPES,
    Decoded,
    DomainEvent,
    HealthEvent,
    ImpactedService,
    MaintenanceEvent,
    MaintenanceRunIds,
    ResourceHealthAlert,
    ResourceIds,
    SqlMaintenanceNotice,
    SubscriptionValidation,
    as_utc,
    event_from_record,
    run_start_of,
)

__all__ = [
    "AVAILABILITY_STATUS_CHANGED",
    "COMMON_ALERT_SCHEMA_ID",
    "EVENT_GRID_DOOR",
    "EVENT_GRID_TYPES",
    "HEALTH_DOOR",
    "KNOWN_EVENT_TYPES",
    "MAINTENANCE_DOOR",
    "MAINTENANCE_TOPIC_TYPE",
    "MAX_EVENT_BYTES",
    "POST_MAINTENANCE_EVENT",
    "PRE_MAINTENANCE_EVENT",
    "RECORD_TYPES",
    "RESOURCE_ANNOTATED",
    "RESOURCE_HEALTH_EVENT",
    "RUN_RESULTS",
    "SERVICE_HEALTH_MAINTENANCE",
    "SUBSCRIPTION_VALIDATION",
    "WEBHOOK_DOOR",
    "Availability",
    "DecodeError",
    "Decoded",
    "DomainEvent",
    "Door",
    "HealthEvent",
    "ImpactedService",
    "MaintenanceEvent",
    "MaintenancePhase",
    "MaintenanceResult",
    "MaintenanceRunIds",
    "NoticeStage",
    "ResourceHealthAlert",
    "ResourceIds",
    "Schema",
    "SqlMaintenanceNotice",
    "SubscriptionValidation",
    "SyntheticSignalError",
    "as_utc",
    "canonical_envelope",
    "check_record",
    "check_structure",
    "compact_json",
    "decode_event",
    "door_for",
    "encoded_size",
    "event_from_record",
    "format_instant",
    "parse_instant",
    "parse_payload",
    "run_result",
    "run_start_of",
    "storable_text",
    "subscription_of",
]
