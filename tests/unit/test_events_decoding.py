"""Decoding what Azure sends: both envelope schemas, both key casings, the common alert
schema, and the published samples as they are."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.domain.events import (
    AVAILABILITY_STATUS_CHANGED,
    MAX_EVENT_BYTES,
    POST_MAINTENANCE_EVENT,
    PRE_MAINTENANCE_EVENT,
    SERVICE_HEALTH_MAINTENANCE,
    Availability,
    DecodeError,
    HealthEvent,
    MaintenanceEvent,
    MaintenancePhase,
    MaintenanceResult,
    NoticeStage,
    ResourceHealthAlert,
    Schema,
    SqlMaintenanceNotice,
    SubscriptionValidation,
    SyntheticSignalError,
    decode_event,
    event_from_record,
    parse_payload,
)
from tests.support.alert_events import real_alert
from tests.support.events import one, published, sample

PRE_EG = "events/maintenance-pre-event.eventgrid.json"
PRE_CE = "events/maintenance-pre-event.cloudevent.json"
POST_EG = "events/maintenance-post-event.eventgrid.json"


def _pascal(obj: dict) -> dict:
    return {k[0].upper() + k[1:]: v for k, v in obj.items()}


def _lower_all(value):
    if isinstance(value, dict):
        return {k.lower(): _lower_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_all(v) for v in value]
    return value


def _notice(**props) -> dict:
    """The published Service Health maintenance fragment, completed into a full alert."""
    fragment = published("events/azure-monitor-alert.servicehealth-maintenance.alertcontext-fragment.json")
    context = fragment["alertContext"]
    context["eventDataId"] = "5f1d6a0e-3c2b-4e8f-9a71-0b6c2d4e8f13"
    context["properties"]["trackingId"] = "R3KT-9W0"
    context["properties"].update(props)
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": "/subscriptions/d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52/providers/Microsoft.AlertsManagement/alerts/x",
                "monitorCondition": "Fired",
                "monitoringService": "ServiceHealth",
                "alertTargetIDs": ["/subscriptions/d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52"],
                "firedDateTime": "2019-06-24T11:31:32.000Z",
            },
            "alertContext": context,
        },
    }


def test_published_pre_event_decodes_from_both_schemas_to_the_same_run() -> None:
    eg = decode_event(one(published(PRE_EG)))
    ce = decode_event(one(published(PRE_CE)))
    assert isinstance(eg, MaintenanceEvent)
    assert isinstance(ce, MaintenanceEvent)
    assert (eg.schema, ce.schema) == (Schema.EVENT_GRID, Schema.CLOUD_EVENTS)
    assert eg.phase is MaintenancePhase.PRE
    assert eg.event_type == PRE_MAINTENANCE_EVENT
    assert eg.start == datetime(2023, 5, 9, 15, tzinfo=UTC)
    assert eg.end == datetime(2023, 5, 9, 18, 55, tzinfo=UTC)
    assert eg.cancellation_cutoff == datetime(2023, 5, 9, 14, 59, tzinfo=UTC)
    assert eg.event_time == datetime(2023, 5, 9, 14, 25, 0, 371747, tzinfo=UTC)  # seven digits, kept to six
    assert eg.run_start == datetime(2023, 5, 9, 15, tzinfo=UTC)
    assert eg.month == "2023-05"
    assert eg.configuration_name == "contosomaintenanceconfiguration"
    assert eg.subscriptions == ce.subscriptions == ("subscription guid 1", "subscription guid 2")
    # everything but the schema is the same fact
    assert eg.to_record() | {"Schema": ""} == ce.to_record() | {"Schema": ""}


def test_pre_and_post_share_the_run_id_and_post_carries_the_status() -> None:
    pre = decode_event(one(published(PRE_EG)))
    post = decode_event(one(published(POST_EG)))
    assert isinstance(pre, MaintenanceEvent)
    assert isinstance(post, MaintenanceEvent)
    assert pre.event_id == post.event_id == post.correlation_id
    assert post.event_type == POST_MAINTENANCE_EVENT
    assert (post.status, post.status_raw) == (MaintenanceResult.SUCCEEDED, "Succeeded")
    assert pre.status is None
    assert post.cancellation_cutoff is None


# Every value of the Maintenance UpdateStatus union (azure-rest-api-specs
# specification/maintenance/resource-manager/Microsoft.Maintenance/Maintenance/models.tsp), the
# post event docs' "Succeeded", other spellings of a cancellation, and values the issue names.
STATUS_MEANINGS = {
    "Succeeded": MaintenanceResult.SUCCEEDED,
    "Completed": MaintenanceResult.SUCCEEDED,
    "NoUpdatesPending": MaintenanceResult.SUCCEEDED,
    "Failed": MaintenanceResult.FAILED,
    "RetryFailed": MaintenanceResult.FAILED,
    "TimedOut": MaintenanceResult.FAILED,
    "Pending": MaintenanceResult.IN_PROGRESS,
    "InProgress": MaintenanceResult.IN_PROGRESS,
    "RetryNow": MaintenanceResult.IN_PROGRESS,
    "RetryLater": MaintenanceResult.IN_PROGRESS,
    "Cancel": MaintenanceResult.CANCELLED,
    "Cancelled": MaintenanceResult.CANCELLED,
    "Canceled": MaintenanceResult.CANCELLED,
    "CANCELED": MaintenanceResult.CANCELLED,
    "no-updates-pending": MaintenanceResult.SUCCEEDED,
    "succeeded ": MaintenanceResult.SUCCEEDED,
    "PartiallySucceeded": MaintenanceResult.UNKNOWN,
    "SomethingNew2027": MaintenanceResult.UNKNOWN,
}


@pytest.mark.parametrize(("raw", "meaning"), list(STATUS_MEANINGS.items()))
def test_every_post_status_has_a_meaning_and_the_raw_value_is_kept(raw: str, meaning: MaintenanceResult) -> None:
    body = one(published(POST_EG))
    body["data"]["status"] = raw
    event = decode_event(body)  # an unknown value is never refused
    assert isinstance(event, MaintenanceEvent)
    assert event.status is meaning
    assert event.status_raw == raw.strip()
    assert event_from_record(event.to_record()) == event


@pytest.mark.parametrize("path", [PRE_EG, POST_EG])
@pytest.mark.parametrize("value", [[], None, "absent"])
def test_an_empty_or_missing_subscription_list_is_valid(path: str, value: object) -> None:
    """A dynamic scope that matched no machine: Microsoft's webhook runbook checks for it
    (learn.microsoft.com/azure/update-manager/tutorial-webhooks-using-runbooks)."""
    body = one(published(path))
    if value == "absent":
        del body["data"]["resourceSubscriptionIds"]
    else:
        body["data"]["resourceSubscriptionIds"] = value
    event = decode_event(body, allowed_subscriptions=frozenset({"00000000-0000-0000-0000-000000000000"}))
    assert isinstance(event, MaintenanceEvent)
    assert event.subscriptions == ()
    assert event_from_record(event.to_record()) == event


@pytest.mark.parametrize("casing", ["pascal-data", "all-lower", "pascal-envelope-cloudevent"])
def test_keys_are_read_case_insensitively(casing: str) -> None:
    reference = decode_event(one(published(PRE_EG)))
    if casing == "pascal-data":
        body = one(published(PRE_EG))
        body["data"] = _pascal(body["data"])
    elif casing == "all-lower":
        body = _lower_all(one(published(PRE_EG)))
        body["eventtype"] = PRE_MAINTENANCE_EVENT.lower()  # the type's value too
    else:
        body = _pascal(one(published(PRE_CE)))
        body["Data"] = _pascal(body["Data"])
    event = decode_event(body)
    assert isinstance(event, MaintenanceEvent)
    assert event.event_type == PRE_MAINTENANCE_EVENT
    assert event.correlation_id == reference.correlation_id  # type: ignore[union-attr]
    assert (event.start, event.end, event.subscriptions) == (reference.start, reference.end, reference.subscriptions)  # type: ignore[union-attr]


def test_the_bundled_month_uses_pascal_case_for_its_older_revision() -> None:
    body = one(sample("01-hotpatch-pre.eventgrid.json"))
    assert "CorrelationId" in body["data"]
    event = decode_event(body)
    assert isinstance(event, MaintenanceEvent)
    assert event.configuration_name == "mc-weu-hotpatch-pt1"


def test_numbers_may_arrive_as_strings_or_numbers() -> None:
    body = one(published(PRE_EG))
    body["dataVersion"] = 1
    assert isinstance(decode_event(body), MaintenanceEvent)
    numeric = sample("16-sql-notice-R3KT-complete.alert.json")
    textual = sample("14-sql-notice-R3KT-planned.alert.json")
    assert isinstance(numeric["data"]["alertContext"]["level"], int)
    assert isinstance(textual["data"]["alertContext"]["level"], str)
    assert isinstance(decode_event(numeric), SqlMaintenanceNotice)
    assert isinstance(decode_event(textual), SqlMaintenanceNotice)


def test_published_health_sample_decodes() -> None:
    event = decode_event(one(published("events/health-availability-status-changed.eventgrid.json")))
    assert isinstance(event, HealthEvent)
    assert event.event_type == AVAILABILITY_STATUS_CHANGED
    assert (event.previous_availability, event.availability) == (Availability.UNAVAILABLE, Availability.AVAILABLE)
    assert event.resource_type == "Microsoft.Compute/virtualMachines"
    assert event.occurred == datetime(2023, 7, 24, 19, 20, 37, 924507, tzinfo=UTC)


def test_annotations_carry_why_not_a_state() -> None:
    body = sample("06-health-web-01-rebooted.eventgrid.json")[1]
    event = decode_event(body)
    assert isinstance(event, HealthEvent)
    assert event.availability is None
    assert event.annotation_name == "VirtualMachineRestarted"
    assert event.context == "Customer Initiated"


def test_health_events_arrive_as_cloudevents_too() -> None:
    event = decode_event(sample("10-health-sqlvm.cloudevent.json")[1])
    assert isinstance(event, HealthEvent)
    assert event.schema is Schema.CLOUD_EVENTS
    assert event.availability is Availability.DEGRADED


def test_published_resource_health_alert_decodes() -> None:
    event = decode_event(real_alert(published("events/azure-monitor-common-alert.resourcehealth.test-action.json")))
    assert isinstance(event, ResourceHealthAlert)
    assert event.event_id == "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
    assert event.availability is Availability.UNAVAILABLE
    assert event.previous_availability is Availability.AVAILABLE
    assert event.resource_id.endswith("/virtualmachines/test-VM")
    assert event.subscription == "11111111-1111-1111-1111-111111111111"
    assert (event.cause, event.monitor_condition) == ("UserInitiated", "Fired")


def test_service_health_maintenance_parses_the_json_inside_the_string() -> None:
    event = decode_event(_notice())
    assert isinstance(event, SqlMaintenanceNotice)
    assert event.event_type == SERVICE_HEALTH_MAINTENANCE
    assert event.stage is NoticeStage.PLANNED
    assert event.services == ("Azure Synapse Analytics",)
    assert event.regions == ("East US",)
    assert event.impact_start == datetime(2019, 6, 26, 4, tzinfo=UTC)
    assert event.impact_mitigation == datetime(2019, 6, 26, 12, tzinfo=UTC)
    assert event.subscriptions == ("d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52",)


def test_impacted_services_as_a_real_array_are_accepted_too() -> None:
    event = decode_event(
        _notice(
            impactedServices=[
                {
                    "ServiceName": "SQL Database",
                    "ImpactedRegions": [{"RegionName": "East US 2"}, {"RegionName": "Central US"}],
                }
            ]
        )
    )
    assert isinstance(event, SqlMaintenanceNotice)
    assert event.regions == ("Central US", "East US 2")


@pytest.mark.parametrize(
    ("raw", "stage"), [("Cancelled", NoticeStage.CANCELED), ("inprogress", NoticeStage.IN_PROGRESS)]
)
def test_stage_spellings_normalise_and_keep_the_raw_value(raw: str, stage: NoticeStage) -> None:
    event = decode_event(_notice(stage=raw))
    assert isinstance(event, SqlMaintenanceNotice)
    assert (event.stage, event.stage_raw) == (stage, raw)


def test_a_missing_mitigation_time_is_allowed() -> None:
    event = decode_event(_notice(impactMitigationTime=""))
    assert isinstance(event, SqlMaintenanceNotice)
    assert event.impact_mitigation is None


def test_subscription_validation_is_recognised_not_recorded() -> None:
    event = decode_event(one(published("events/subscription-validation-event.eventgrid.json")))
    assert isinstance(event, SubscriptionValidation)
    assert event.validation_code == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"


def test_allowed_subscriptions_refuse_foreign_events_and_admit_listed_ones() -> None:
    body = sample("19-sea-app-pre.cloudevent.json")[0]
    ops, prod, data = (
        "6f1c9e2a-8d4b-4a7e-b3f2-9c0d5e7a1b48",
        "b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03",
        "d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52",
    )
    assert isinstance(decode_event(body, allowed_subscriptions=frozenset({ops, prod, data})), MaintenanceEvent)
    with pytest.raises(DecodeError) as err:
        decode_event(body, allowed_subscriptions=frozenset({ops, prod}))
    assert err.value.field == "data.resourceSubscriptionIds"
    assert data in err.value.problem
    assert "foreign" in err.value.problem
    # the configuration's own subscription counts too
    with pytest.raises(DecodeError, match=ops):
        decode_event(body, allowed_subscriptions=frozenset({prod, data}))


def test_an_event_over_one_megabyte_is_refused() -> None:
    body = one(published("events/health-availability-status-changed.eventgrid.json"))
    body["data"]["padding"] = "x" * MAX_EVENT_BYTES
    with pytest.raises(DecodeError) as err:
        decode_event(body)
    assert err.value.field == "event"
    assert "over the 1,048,576-byte limit" in err.value.problem


def test_payloads_are_one_object_or_an_array() -> None:
    text = json.dumps(published(POST_EG))
    assert len(parse_payload(text)) == 1
    assert parse_payload(json.dumps(published(POST_EG)[0]))[0]["eventType"] == POST_MAINTENANCE_EVENT
    assert len(parse_payload(("\ufeff" + text).encode())) == 1  # a byte-order mark is tolerated


def test_a_decoded_event_survives_its_record_form() -> None:
    for body in (
        one(published(PRE_EG)),
        one(published(POST_EG)),
        sample("06-health-web-01-rebooted.eventgrid.json")[1],
        real_alert(published("events/azure-monitor-common-alert.resourcehealth.test-action.json")),
        sample("23-sql-notice-7LQ2-planned.alert.json"),
    ):
        event = decode_event(body)
        assert not isinstance(event, SubscriptionValidation)
        assert event_from_record(event.to_record()) == event


@pytest.mark.parametrize(
    "name",
    [
        "events/azure-monitor-common-alert.resourcehealth.test-action.json",
        "events/azure-monitor-common-alert.servicehealth-incident.test-action.json",
    ],
)
def test_the_published_test_actions_are_synthetic_signals(name: str) -> None:
    """An action group's test button sends these (published test-action samples): recorded as
    synthetic, never a fact that alerts or changes health."""
    with pytest.raises(SyntheticSignalError) as err:
        decode_event(published(name))
    assert "recorded, not acted on" in err.value.problem


@pytest.mark.parametrize("flag", ["True", "true", True])
def test_is_synthetic_on_a_maintenance_notice_makes_it_a_test(flag: object) -> None:
    body = _notice()
    body["data"]["alertContext"]["properties"]["IsSynthetic"] = flag
    with pytest.raises(SyntheticSignalError) as err:
        decode_event(body)
    assert err.value.field == "data.alertContext.properties.IsSynthetic"
    body["data"]["alertContext"]["properties"]["IsSynthetic"] = "False"
    assert isinstance(decode_event(body), SqlMaintenanceNotice)
