"""Which door takes which schema (:class:`Door`), and :func:`decode_event`: one envelope
(Event Grid, CloudEvents 1.0 or the common alert schema) to one domain event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.domain.events.base import (
    AVAILABILITY_STATUS_CHANGED,
    COMMON_ALERT_SCHEMA_ID,
    EVENT_GRID_TYPES,
    MAX_EVENT_BYTES,
    POST_MAINTENANCE_EVENT,
    PRE_MAINTENANCE_EVENT,
    RESOURCE_ANNOTATED,
    RESOURCE_HEALTH_EVENT,
    SERVICE_HEALTH_MAINTENANCE,
    SUBSCRIPTION_VALIDATION,
    DecodeError,
    Schema,
    _kind,
    _Obj,
    _short,
)
from shared.domain.events.common_alert import _decode_common_alert
from shared.domain.events.eventgrid import _decode_data, _Head
from shared.domain.events.payloads import check_record, check_structure, encoded_size
from shared.domain.events.records import Decoded, SubscriptionValidation


@dataclass(frozen=True)
class Door:
    """Where events come in, and what each door takes: the action-group webhook takes
    only the common alert schema; each Event Grid function only its own event types, in
    the Event Grid or CloudEvents schema (the subscription handshake included)."""

    name: str
    schemas: frozenset[Schema]
    event_types: frozenset[str]


WEBHOOK_DOOR = Door(
    "POST /api/alerts", frozenset({Schema.COMMON_ALERT}), frozenset({SERVICE_HEALTH_MAINTENANCE, RESOURCE_HEALTH_EVENT})
)
MAINTENANCE_DOOR = Door(
    "maintenance_events",
    frozenset({Schema.EVENT_GRID, Schema.CLOUD_EVENTS}),
    frozenset({PRE_MAINTENANCE_EVENT, POST_MAINTENANCE_EVENT}),
)
HEALTH_DOOR = Door(
    "health_events",
    frozenset({Schema.EVENT_GRID, Schema.CLOUD_EVENTS}),
    frozenset({AVAILABILITY_STATUS_CHANGED, RESOURCE_ANNOTATED}),
)
EVENT_GRID_DOOR = Door(
    "the Event Grid functions", frozenset({Schema.EVENT_GRID, Schema.CLOUD_EVENTS}), frozenset(EVENT_GRID_TYPES)
)


def door_for(element: Any) -> Door:
    """The door an envelope belongs to (``replay`` of saved files): an alert's or Event Grid's."""
    if isinstance(element, dict) and any(str(k).lower() == "schemaid" for k in element):
        return WEBHOOK_DOOR
    return EVENT_GRID_DOOR


def _check_door(door: Door | None, schema: Schema) -> None:
    if door is None or schema in door.schemas:
        return
    if schema is Schema.COMMON_ALERT:
        raise DecodeError(
            "schemaId",
            f"{door.name} takes Event Grid and CloudEvents events only; "
            "an action group's common alert schema alert goes to POST /api/alerts",
        )
    raise DecodeError(
        "event",
        f"{door.name} takes only the Azure Monitor common alert schema ({COMMON_ALERT_SCHEMA_ID}); "
        "Event Grid events come in through the Event Grid functions",
    )


def _check_type(door: Door | None, event_type: str, field: str) -> None:
    if door is None or event_type == SUBSCRIPTION_VALIDATION or event_type in door.event_types:
        return
    right = next((d.name for d in (MAINTENANCE_DOOR, HEALTH_DOOR) if event_type in d.event_types), "another door")
    raise DecodeError(field, f"{event_type} is not delivered to {door.name} (its subscription targets {right})")


def decode_event(
    element: Any,
    *,
    allowed_subscriptions: frozenset[str] = frozenset(),
    size: int | None = None,
    max_bytes: int = MAX_EVENT_BYTES,
    door: Door | None = None,
) -> Decoded:
    """One envelope (any of the three schemas) as a domain event, or a :class:`DecodeError`.

    ``size`` is the element's encoded size if the caller already knows it.
    ``allowed_subscriptions`` (lower-case ids), when not empty, refuses foreign events.
    ``door``, when given, refuses what does not come in there (see :class:`Door`).
    """
    check_structure(element)
    if size is None:
        size = encoded_size(element)
    if size > max_bytes:
        raise DecodeError("event", f"{size:,} bytes is over the {max_bytes:,}-byte limit")
    if not isinstance(element, dict):
        raise DecodeError("event", f"expected an event object, got {_kind(element)}")
    decoded = _decode_envelope(_Obj(element, ""), allowed_subscriptions, door)
    if not isinstance(decoded, SubscriptionValidation):
        check_record(decoded)
    return decoded


def _decode_envelope(env: _Obj, allowed_subscriptions: frozenset[str], door: Door | None) -> Decoded:
    if env.get("schemaId") is not None:
        _check_door(door, Schema.COMMON_ALERT)
        return _decode_common_alert(env, allowed_subscriptions)
    if env.get("specversion") is not None:
        _check_door(door, Schema.CLOUD_EVENTS)
        return _decode_cloud_event(env, allowed_subscriptions, door)
    if env.get("eventType") is not None:
        _check_door(door, Schema.EVENT_GRID)
        return _decode_event_grid(env, allowed_subscriptions, door)
    raise DecodeError(
        "event",
        "not an Event Grid event (eventType), a CloudEvent 1.0 (specversion) "
        f"nor a common alert schema alert (schemaId); keys: {sorted(env.value)[:8]}",
    )


def _known_type(env: _Obj, key: str) -> str:
    text = env.text(key)
    for known in (*EVENT_GRID_TYPES, SUBSCRIPTION_VALIDATION):
        if text.lower() == known.lower():
            return known
    raise DecodeError(env.at(key), f"unknown event type {_short(text, 120)}")


def _decode_event_grid(env: _Obj, allowed: frozenset[str], door: Door | None = None) -> Decoded:
    event_type = _known_type(env, "eventType")
    _check_type(door, event_type, env.at("eventType"))
    event_id = env.text("id")
    if event_type == SUBSCRIPTION_VALIDATION:
        data = env.obj("data")
        return SubscriptionValidation(event_id, data.text("validationCode"), data.optional_text("validationUrl"))
    env.optional_text("dataVersion", numbers=True)
    head = _Head(event_type, event_id, env.instant("eventTime"), Schema.EVENT_GRID)
    return _decode_data(head, env.obj("data"), allowed)


def _decode_cloud_event(env: _Obj, allowed: frozenset[str], door: Door | None = None) -> Decoded:
    version = env.text("specversion", numbers=True)
    if version not in ("1.0", "1"):
        raise DecodeError(env.at("specversion"), f"CloudEvents {_short(version)} is not supported (only 1.0)")
    if env.get("data_base64") is not None:
        raise DecodeError(env.at("data_base64"), "binary event data is not accepted: expected JSON data")
    content_type = env.optional_text("datacontenttype")
    if content_type and "json" not in content_type.lower():
        raise DecodeError(env.at("datacontenttype"), f"{_short(content_type)} is not JSON")
    env.text("source")
    event_type = _known_type(env, "type")
    _check_type(door, event_type, env.at("type"))
    if event_type == SUBSCRIPTION_VALIDATION:
        raise DecodeError(env.at("type"), "CloudEvents subscriptions validate with an HTTP OPTIONS handshake")
    head = _Head(event_type, env.text("id"), env.instant("time"), Schema.CLOUD_EVENTS)
    return _decode_data(head, env.obj("data"), allowed)
