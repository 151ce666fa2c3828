"""The ``data`` of the Event Grid and CloudEvents deliveries: Update Manager's pre/post
maintenance events and the HealthResources availability and annotation events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.events.base import (
    _APPLY_UPDATES,
    _CONFIGURATION,
    _RANGE,
    AVAILABILITY_STATUS_CHANGED,
    POST_MAINTENANCE_EVENT,
    PRE_MAINTENANCE_EVENT,
    DecodeError,
    MaintenancePhase,
    Schema,
    _availability,
    _check_allowed,
    _Obj,
    _resource_id,
    _short,
    run_result,
    subscription_of,
)
from shared.domain.events.records import DomainEvent, HealthEvent, MaintenanceEvent, run_start_of
from shared.limits import INSTANT_MAX, INSTANT_MIN


@dataclass(frozen=True)
class _Head:
    """What the envelope says of an event, whatever its schema."""

    event_type: str
    event_id: str
    event_time: datetime
    schema: Schema


def _decode_data(head: _Head, data: _Obj, allowed: frozenset[str]) -> DomainEvent:
    if head.event_type in (PRE_MAINTENANCE_EVENT, POST_MAINTENANCE_EVENT):
        return _maintenance(head, data, allowed)
    return _health(head, data, allowed)


def _maintenance(head: _Head, data: _Obj, allowed: frozenset[str]) -> MaintenanceEvent:
    pre = head.event_type == PRE_MAINTENANCE_EVENT
    correlation_id = data.text("correlationId")
    if not _APPLY_UPDATES.search(correlation_id):
        raise DecodeError(
            data.at("correlationId"),
            f"not a maintenance run id ending /providers/Microsoft.Maintenance/applyUpdates/yyyyMMddHHmmss: "
            f"{_short(correlation_id, 120)}",
        )
    try:
        run_start = run_start_of(correlation_id)
    except ValueError:
        raise DecodeError(data.at("correlationId"), "the run's yyyyMMddHHmmss is not a valid date and time") from None
    if not INSTANT_MIN <= run_start <= INSTANT_MAX:
        raise DecodeError(data.at("correlationId"), f"the run's yyyyMMddHHmmss is outside {_RANGE}")
    if head.event_id.lower() != correlation_id.lower():
        raise DecodeError("id", "a maintenance event's id must equal data.correlationId")
    configuration_id = _resource_id(data, "maintenanceConfigurationId")
    if not _CONFIGURATION.search(configuration_id):
        raise DecodeError(
            data.at("maintenanceConfigurationId"),
            f"not a Microsoft.Maintenance/maintenanceConfigurations id: {_short(configuration_id, 120)}",
        )
    start, end = data.instant("startDateTime"), data.instant("endDateTime")
    if end <= start:
        raise DecodeError(data.at("endDateTime"), "is not after startDateTime")
    cutoff = None
    if pre:
        cutoff = data.instant("cancellationCutOffDateTime")
        if cutoff > start:
            raise DecodeError(data.at("cancellationCutOffDateTime"), "is after startDateTime")
    # Empty or missing is valid: a dynamic scope that matched no machine (Microsoft's webhook
    # runbook checks for exactly this: learn.microsoft.com/azure/update-manager/tutorial-webhooks-using-runbooks).
    subscriptions = tuple(s.lower() for s in data.texts("resourceSubscriptionIds", may_be_empty=True))
    _check_allowed((subscription_of(configuration_id), *subscriptions), allowed, data.at("resourceSubscriptionIds"))
    status_raw = status = None
    if not pre:
        status_raw = data.text("status")
        status = run_result(status_raw)
    return MaintenanceEvent(
        event_type=head.event_type,
        event_id=head.event_id,
        event_time=head.event_time,
        schema=head.schema,
        phase=MaintenancePhase.PRE if pre else MaintenancePhase.POST,
        correlation_id=correlation_id,
        configuration_id=configuration_id,
        start=start,
        end=end,
        cancellation_cutoff=cutoff,
        subscriptions=subscriptions,
        status_raw=status_raw,
        status=status,
    )


def _health(head: _Head, data: _Obj, allowed: frozenset[str]) -> HealthEvent:
    props = data.obj("resourceInfo").obj("properties")
    resource_id = _resource_id(props, "targetResourceId")
    _check_allowed((subscription_of(resource_id),), allowed, props.at("targetResourceId"))
    common: dict[str, Any] = {
        "event_type": head.event_type,
        "event_id": head.event_id,
        "event_time": head.event_time,
        "schema": head.schema,
        "resource_id": resource_id,
        "resource_type": props.text("targetResourceType"),
        "occurred": props.instant("occurredTime"),
    }
    if head.event_type == AVAILABILITY_STATUS_CHANGED:
        return HealthEvent(
            **common,
            availability=_availability(props, "availabilityState"),
            previous_availability=_availability(props, "previousAvailabilityState")
            if props.has("previousAvailabilityState")
            else None,
        )
    return HealthEvent(
        **common,
        annotation_name=props.text("annotationName"),
        reason=props.optional_text("reason"),
        summary=props.optional_text("summary"),
        context=props.optional_text("context"),
        category=props.optional_text("category"),
    )
