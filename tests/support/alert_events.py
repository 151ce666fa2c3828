"""Events for alerting scenarios: the published samples (``tests/fixtures/published/events``)
with our own values, as Event Grid or an action group would post them."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.support.fixtures import published


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def run_id(configuration_id: str, start: datetime) -> str:
    return f"{configuration_id}/providers/microsoft.maintenance/applyupdates/{start.astimezone(UTC):%Y%m%d%H%M%S}"


def maintenance(
    phase: str,
    configuration_id: str,
    start: datetime,
    end: datetime,
    sent: datetime,
    *,
    subscription: str,
    status: str = "Succeeded",
) -> dict[str, Any]:
    """A Pre- or PostMaintenanceEvent (Event Grid schema) of the run starting at ``start``."""
    sample = "maintenance-pre-event.eventgrid.json" if phase == "pre" else "maintenance-post-event.eventgrid.json"
    event = copy.deepcopy(published(f"events/{sample}")[0])
    rid = run_id(configuration_id, start)
    event.update(id=rid, topic=configuration_id, subject=configuration_id.rsplit("/", 1)[-1], eventTime=iso(sent))
    data = event["data"]
    data.update(
        correlationId=rid,
        maintenanceConfigurationId=configuration_id,
        startDateTime=iso(start),
        endDateTime=iso(end),
        resourceSubscriptionIds=[subscription],
    )
    if phase == "pre":
        data["cancellationCutOffDateTime"] = iso(start)
    else:
        data["status"] = status
    return event


def availability(resource_id: str, occurred: datetime, previous: str, state: str) -> dict[str, Any]:
    """A HealthResources AvailabilityStatusChanged event."""
    event = copy.deepcopy(published("events/health-availability-status-changed.eventgrid.json"))
    sub = resource_id.split("/")[2]
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id}|{occurred.isoformat()}|{state}"))
    event.update(id=event_id, topic=f"/subscriptions/{sub}", subject=resource_id, eventTime=iso(occurred))
    info = event["data"]["resourceInfo"]
    info.update(id=f"{resource_id}/providers/Microsoft.ResourceHealth/availabilityStatuses/{event_id}", name=event_id)
    info["properties"].update(
        targetResourceId=resource_id,
        targetResourceType="/".join(resource_id.split("/")[6:8]),
        occurredTime=iso(occurred),
        previousAvailabilityState=previous,
        availabilityState=state,
    )
    event["data"]["operationalInfo"]["resourceEventTime"] = iso(occurred)
    return event


def real_alert(body: dict[str, Any]) -> dict[str, Any]:
    """A published test-action sample as a real alert rule would post it: the test action's
    marks (its ``test-*AlertRule`` rule name, ``IsSynthetic``) replaced."""
    body = copy.deepcopy(body)
    body["data"]["essentials"]["alertRule"] = "rh-vms-health"
    body["data"]["alertContext"].get("properties", {}).pop("IsSynthetic", None)
    return body


def resource_health_alert(
    resource_id: str, occurred: datetime, *, title: str, current: str = "Unavailable", previous: str = "Available"
) -> dict[str, Any]:
    """An action group's Resource Health alert (common alert schema), e.g. "Rebooted by user"."""
    body = copy.deepcopy(published("events/azure-monitor-common-alert.resourcehealth.test-action.json"))
    sub = resource_id.split("/")[2]
    data_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id}|{occurred.isoformat()}|{title}"))
    ess = body["data"]["essentials"]
    ess.update(
        alertId=f"/subscriptions/{sub}/providers/Microsoft.AlertsManagement/alerts/{data_id}",
        alertRule="rh-vms-health",  # a real rule: the published test action's "test-..." name is synthetic
        alertTargetIDs=[resource_id],
        configurationItems=[resource_id.rsplit("/", 1)[-1]],
        firedDateTime=iso(occurred),
    )
    ctx = body["data"]["alertContext"]
    ctx.update(
        eventTimestamp=iso(occurred), eventDataId=data_id, operationId=data_id, submissionTimestamp=iso(occurred)
    )
    ctx["properties"].update(title=title, currentHealthStatus=current, previousHealthStatus=previous)
    return body


def sql_notice(
    tracking_id: str,
    stage: str,
    sent: datetime,
    impact_start: datetime,
    impact_end: datetime,
    *,
    subscription: str,
    region: str,
    service: str = "SQL Database",
) -> dict[str, Any]:
    """A Service Health planned-maintenance notice for Azure SQL, through an action group: the
    published incident test action with the published maintenance alertContext properties."""
    body = copy.deepcopy(published("events/azure-monitor-common-alert.servicehealth-incident.test-action.json"))
    fragment = copy.deepcopy(
        published("events/azure-monitor-alert.servicehealth-maintenance.alertcontext-fragment.json")
    )
    data_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tracking_id}|{stage}"))
    ess = body["data"]["essentials"]
    ess.update(
        alertRule="sh-sql-planned-maintenance",  # a real rule: the test action's "test-..." name is synthetic
        alertTargetIDs=[f"/subscriptions/{subscription}"],
        firedDateTime=iso(sent),
        monitorCondition="Fired",
    )
    ctx = fragment["alertContext"]
    ctx.update(eventTimestamp=iso(sent), eventDataId=data_id, operationId=data_id, submissionTimestamp=iso(sent))
    ctx["properties"].update(
        title=f"{service} Scheduled Maintenance",
        service=service,
        region=region,
        trackingId=tracking_id,
        stage=stage,
        impactStartTime=iso(impact_start),
        impactMitigationTime=iso(impact_end),
        impactedServices=json.dumps([{"ImpactedRegions": [{"RegionName": region}], "ServiceName": service}]),
        communicationId=data_id,
        maintenanceId=tracking_id,
    )
    body["data"]["alertContext"] = ctx
    return body
