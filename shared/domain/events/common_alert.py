"""The Azure Monitor common alert schema as an action group posts it: Service Health
planned maintenance (:class:`SqlMaintenanceNotice`) and Resource Health alerts; test
actions are refused as synthetic."""

from __future__ import annotations

import json
import re

from shared.domain.events.base import (
    _RESOURCE_ID,
    _STAGE_ALIASES,
    COMMON_ALERT_SCHEMA_ID,
    RESOURCE_HEALTH_EVENT,
    SERVICE_HEALTH_MAINTENANCE,
    DecodeError,
    NoticeStage,
    Schema,
    SyntheticSignalError,
    _availability,
    _check_allowed,
    _kind,
    _Obj,
    _short,
    subscription_of,
)
from shared.domain.events.payloads import _no_constants
from shared.domain.events.records import DomainEvent, ImpactedService, ResourceHealthAlert, SqlMaintenanceNotice


def _decode_common_alert(env: _Obj, allowed: frozenset[str]) -> DomainEvent:
    schema_id = env.text("schemaId")
    if schema_id.lower() != COMMON_ALERT_SCHEMA_ID.lower():
        raise DecodeError(env.at("schemaId"), f"{_short(schema_id)} is not {COMMON_ALERT_SCHEMA_ID}")
    data = env.obj("data")
    essentials, context = data.obj("essentials"), data.obj("alertContext")
    _refuse_synthetic(essentials, context)
    service = essentials.text("monitoringService")
    kind = service.replace(" ", "").lower()
    if kind == "servicehealth":
        return _service_health(essentials, context, allowed)
    if kind == "resourcehealth":
        return _resource_health(essentials, context, allowed)
    raise DecodeError(
        essentials.at("monitoringService"),
        f"{_short(service)} alerts are not handled (only ServiceHealth planned maintenance and Resource Health)",
    )


# The action group's test action names its rule "test-<Kind>AlertRule" and Service Health's
# marks itself "IsSynthetic": "True" (the published test-action samples, credited in
# tests/fixtures/published/README.md: learn.microsoft.com/azure/azure-monitor/alerts/
# alerts-common-schema-test-action-definitions).
_TEST_RULE = re.compile(r"^test-\w*AlertRule$", re.I)


def _refuse_synthetic(essentials: _Obj, context: _Obj) -> None:
    props = context.value.get(next((k for k in context.value if str(k).lower() == "properties"), ""), None)
    places = [essentials, context]
    if isinstance(props, dict):
        places.append(_Obj(props, context.at("properties")))
    for obj in places:
        flag = obj.get("IsSynthetic")
        if flag is True or (isinstance(flag, str) and flag.strip().lower() == "true"):
            raise SyntheticSignalError(
                obj.at("IsSynthetic"), "a synthetic test alert (IsSynthetic): recorded, not acted on"
            )
    rule = essentials.get("alertRule")
    if isinstance(rule, str) and _TEST_RULE.match(rule.strip()):
        raise SyntheticSignalError(
            essentials.at("alertRule"), f"{_short(rule)} is an action group test action: recorded, not acted on"
        )


def _alert_subscriptions(essentials: _Obj) -> tuple[str, ...]:
    targets = essentials.texts("alertTargetIDs")
    subs = []
    for i, target in enumerate(targets):
        m = _RESOURCE_ID.match(target)
        if not m:
            raise DecodeError(f"{essentials.at('alertTargetIDs')}[{i}]", f"not an Azure resource id: {_short(target)}")
        subs.append(m.group(1).lower())
    return tuple(dict.fromkeys(subs))


def _service_health(essentials: _Obj, context: _Obj, allowed: frozenset[str]) -> SqlMaintenanceNotice:
    operation = context.text("operationName")
    props = context.obj("properties")
    incident_type = props.text("incidentType")
    if operation.lower() != SERVICE_HEALTH_MAINTENANCE.lower() or incident_type.lower() != "maintenance":
        raise DecodeError(
            context.at("operationName"),
            f"{_short(operation)} (incidentType {_short(incident_type)}) is not a planned-maintenance notice",
        )
    subscriptions = _alert_subscriptions(essentials)
    _check_allowed(subscriptions, allowed, essentials.at("alertTargetIDs"))
    stage_raw = props.text("stage")
    stage = _STAGE_ALIASES.get(stage_raw.lower()) or next(
        (s for s in NoticeStage if s.value.lower() == stage_raw.lower()), None
    )
    if stage is None:
        allowed_stages = ", ".join(s.value for s in NoticeStage)
        raise DecodeError(props.at("stage"), f"{_short(stage_raw)} is not a notice stage ({allowed_stages})")
    impact_start = props.instant("impactStartTime")
    mitigation = props.optional_instant("impactMitigationTime")
    if mitigation is not None and mitigation < impact_start:
        raise DecodeError(props.at("impactMitigationTime"), "is before impactStartTime")
    return SqlMaintenanceNotice(
        event_type=SERVICE_HEALTH_MAINTENANCE,
        event_id=context.text("eventDataId"),
        event_time=context.instant("eventTimestamp"),
        schema=Schema.COMMON_ALERT,
        tracking_id=props.text("trackingId"),
        stage=stage,
        stage_raw=stage_raw,
        impact_start=impact_start,
        impact_mitigation=mitigation,
        impacted_services=_impacted_services(props),
        subscriptions=subscriptions,
        title=props.optional_text("title"),
        service=props.optional_text("service"),
        region=props.optional_text("region"),
        alert_id=essentials.optional_text("alertId"),
        communication_id=props.optional_text("communicationId", numbers=True),
        maintenance_id=props.optional_text("maintenanceId"),
    )


def _impacted_services(props: _Obj) -> tuple[ImpactedService, ...]:
    field = props.at("impactedServices")
    value = props.get("impactedServices")
    if value is None:
        raise DecodeError(field, "missing")
    if isinstance(value, str):  # JSON inside the JSON, as Service Health sends it
        try:
            value = json.loads(value, parse_constant=_no_constants)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(field, f"not a JSON array inside the string: {exc}") from None
    if not isinstance(value, list) or not value:
        raise DecodeError(field, f"expected a non-empty array of impacted services, got {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        svc = _Obj(item, f"{field}[{i}]")
        regions = []
        for j, region in enumerate(svc.array("ImpactedRegions")):
            regions.append(_Obj(region, f"{svc.at('ImpactedRegions')}[{j}]").text("RegionName"))
        out.append(ImpactedService(svc.text("ServiceName"), tuple(regions)))
    return tuple(out)


def _resource_health(essentials: _Obj, context: _Obj, allowed: frozenset[str]) -> ResourceHealthAlert:
    operation = context.text("operationName")
    if not operation.lower().startswith("microsoft.resourcehealth/healthevent/"):
        raise DecodeError(context.at("operationName"), f"{_short(operation)} is not a Resource Health event")
    targets = essentials.texts("alertTargetIDs")
    if len(targets) != 1:
        raise DecodeError(essentials.at("alertTargetIDs"), f"expected exactly one resource, got {len(targets)}")
    resource_id = targets[0].rstrip("/")
    if not _RESOURCE_ID.match(resource_id) or "/providers/" not in resource_id.lower():
        raise DecodeError(f"{essentials.at('alertTargetIDs')}[0]", f"not an Azure resource id: {_short(resource_id)}")
    _check_allowed((subscription_of(resource_id),), allowed, essentials.at("alertTargetIDs"))
    props = context.obj("properties")
    return ResourceHealthAlert(
        event_type=RESOURCE_HEALTH_EVENT,
        event_id=context.text("eventDataId"),
        event_time=essentials.instant("firedDateTime"),
        schema=Schema.COMMON_ALERT,
        resource_id=resource_id,
        occurred=context.instant("eventTimestamp"),
        availability=_availability(props, "currentHealthStatus"),
        previous_availability=_availability(props, "previousHealthStatus")
        if props.has("previousHealthStatus")
        else None,
        alert_id=essentials.text("alertId"),
        alert_rule=essentials.optional_text("alertRule"),
        monitor_condition=essentials.text("monitorCondition"),
        title=props.optional_text("title"),
        cause=props.optional_text("cause"),
        health_event_type=props.optional_text("type"),
    )
