"""A corpus of malformed, unknown and foreign inputs, built from the published samples and
the bundled month: each is refused with a reason naming the field and the problem, the
refusal is recorded, and nothing else is written. On a real Azurite."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.outcome_store import TableOutcomeStore
from shared.domain.events import MAX_EVENT_BYTES, canonical_envelope
from shared.services.ingest import IngestPolicy, Outcome, ingest_payload
from tests.support.alert_events import real_alert
from tests.support.azurite import Azurite
from tests.support.events import one, published, sample, store_for

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)
FOREIGN_POLICY = IngestPolicy(
    allowed_subscriptions=frozenset({"6f1c9e2a-8d4b-4a7e-b3f2-9c0d5e7a1b48", "d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52"})
)
PROPS = "data.resourceInfo.properties"
ALERT_PROPS = "data.alertContext.properties"


def pre() -> dict[str, Any]:
    return one(sample("04-web-sat-pre.eventgrid.json"))


def post() -> dict[str, Any]:
    return one(sample("07-web-sat-post.eventgrid.json"))


def pre_ce() -> dict[str, Any]:
    return one(published("events/maintenance-pre-event.cloudevent.json"))


def health() -> dict[str, Any]:
    return one(sample("05-health-web-01-recovered.eventgrid.json"))


def annotation() -> dict[str, Any]:
    return sample("06-health-web-01-rebooted.eventgrid.json")[1]


def notice() -> dict[str, Any]:
    return sample("14-sql-notice-R3KT-planned.alert.json")


def rh_alert() -> dict[str, Any]:
    return real_alert(published("events/azure-monitor-common-alert.resourcehealth.test-action.json"))


def edit(base: Callable[[], dict[str, Any]], change: Callable[[dict[str, Any]], Any]) -> bytes:
    body = base()
    change(body)
    return json.dumps([body] if "eventType" in body or "specversion" in body else body).encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for p in parents:
            node = node[p]
        node[last] = value

    return change


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = body
        for p in parents:
            node = node[p]
        del node[last]

    return change


CASES: list[tuple[str, Callable[[], bytes], str, str]] = [
    # the body itself
    ("not-json", lambda: b'[{"id": "1", "eventType": ', "payload", "not JSON"),
    ("empty-body", lambda: b"  ", "payload", "empty body"),
    ("empty-array", lambda: b"[]", "payload", "an empty array holds no event"),
    ("scalar-body", lambda: b"42", "payload", "expected an event object or an array of events, got a number"),
    ("nan", lambda: b'[{"id": NaN}]', "payload", "NaN is not valid JSON"),
    ("not-utf8", lambda: b'[{"id": "\xff\xfe"}]', "payload", "not UTF-8"),
    ("over-1mb", lambda: b"[" + b" " * MAX_EVENT_BYTES + b"]", "payload", "is over the 1,048,576-byte limit"),
    (
        "element-not-object",
        lambda: b'["Microsoft.Maintenance.PreMaintenanceEvent"]',
        "event",
        "expected an event object",
    ),
    ("no-schema", lambda: json.dumps([{"id": "1", "data": {}}]).encode(), "event", "not an Event Grid event"),
    # Event Grid envelope
    (
        "unknown-type",
        lambda: edit(health, _set("eventType", "Microsoft.Storage.BlobCreated")),
        "eventType",
        "unknown event type",
    ),
    (
        "ambiguous-key",
        lambda: edit(pre, _set("EventType", "x")),
        "EventType",
        "ambiguous: both 'eventType' and 'EventType'",
    ),
    ("bad-event-time", lambda: edit(pre, _set("eventTime", "yesterday")), "eventTime", "not an ISO 8601 date and time"),
    (
        "impossible-event-time",
        lambda: edit(pre, _set("eventTime", "2026-02-30T10:00:00Z")),
        "eventTime",
        "not a valid date and time",
    ),
    ("no-event-time", lambda: edit(pre, _drop("eventTime")), "eventTime", "missing"),
    ("no-id", lambda: edit(health, _drop("id")), "id", "missing"),
    ("numeric-id", lambda: edit(health, _set("id", 7)), "id", "expected a string, got a number"),
    ("no-data", lambda: edit(health, _drop("data")), "data", "missing"),
    ("data-is-text", lambda: edit(health, _set("data", "{}")), "data", "expected an object, got a string"),
    # CloudEvents envelope
    ("ce-old-version", lambda: edit(pre_ce, _set("specversion", "0.3")), "specversion", "only 1.0"),
    ("ce-binary", lambda: edit(pre_ce, _set("data_base64", "e30=")), "data_base64", "binary event data"),
    ("ce-xml", lambda: edit(pre_ce, _set("datacontenttype", "application/xml")), "datacontenttype", "is not JSON"),
    ("ce-no-source", lambda: edit(pre_ce, _drop("source")), "source", "missing"),
    ("ce-no-time", lambda: edit(pre_ce, _drop("time")), "time", "missing"),
    (
        "ce-validation",
        lambda: edit(pre_ce, _set("type", "Microsoft.EventGrid.SubscriptionValidationEvent")),
        "type",
        "HTTP OPTIONS handshake",
    ),
    # maintenance data
    ("no-correlation-id", lambda: edit(pre, _drop("data.correlationId")), "data.correlationId", "missing"),
    (
        "correlation-id-not-a-run",
        lambda: edit(pre, _set("data.correlationId", "run-42")),
        "data.correlationId",
        "not a maintenance run id",
    ),
    (
        "correlation-id-bad-timestamp",
        lambda: edit(
            pre, lambda b: b.update(id=b["id"][:-14] + "20261399000000") or b["data"].update(correlationId=b["id"])
        ),
        "data.correlationId",
        "not a valid date and time",
    ),
    (
        "id-not-correlation-id",
        lambda: edit(pre, _set("id", "8b1f0c52-44e6-4c8f-a0f3-2d7e9b6a5c14")),
        "id",
        "must equal data.correlationId",
    ),
    (
        "configuration-not-resource-id",
        lambda: edit(pre, _set("data.maintenanceConfigurationId", "mc-weu-web-sat-0200")),
        "data.maintenanceConfigurationId",
        "not an Azure resource id",
    ),
    (
        "configuration-wrong-type",
        lambda: edit(
            pre,
            _set(
                "data.maintenanceConfigurationId",
                "/subscriptions/6f1c9e2a-8d4b-4a7e-b3f2-9c0d5e7a1b48/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
            ),
        ),
        "data.maintenanceConfigurationId",
        "not a Microsoft.Maintenance/maintenanceConfigurations id",
    ),
    (
        "end-before-start",
        lambda: edit(pre, _set("data.endDateTime", "2026-10-16T23:00:00Z")),
        "data.endDateTime",
        "is not after startDateTime",
    ),
    (
        "start-not-a-date",
        lambda: edit(post, _set("data.startDateTime", 1760659200)),
        "data.startDateTime",
        "expected a string, got a number",
    ),
    (
        "pre-without-cutoff",
        lambda: edit(pre, _drop("data.cancellationCutOffDateTime")),
        "data.cancellationCutOffDateTime",
        "missing",
    ),
    (
        "cutoff-after-start",
        lambda: edit(pre, _set("data.cancellationCutOffDateTime", "2026-10-17T00:30:00Z")),
        "data.cancellationCutOffDateTime",
        "is after startDateTime",
    ),
    (
        "subscriptions-not-a-list",
        lambda: edit(pre, _set("data.resourceSubscriptionIds", "b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03")),
        "data.resourceSubscriptionIds",
        "expected an array, got a string",
    ),
    (  # an empty list is valid (a dynamic scope that matched nothing); an empty id is not
        "subscription-empty-text",
        lambda: edit(pre, _set("data.resourceSubscriptionIds", [" "])),
        "data.resourceSubscriptionIds[0]",
        "expected a non-empty string, got a string",
    ),
    (
        "subscription-not-text",
        lambda: edit(pre, _set("data.resourceSubscriptionIds", [1])),
        "data.resourceSubscriptionIds[0]",
        "expected a non-empty string, got a number",
    ),
    ("post-without-status", lambda: edit(post, _drop("data.status")), "data.status", "missing"),
    ("post-empty-status", lambda: edit(post, _set("data.status", " ")), "data.status", "must not be empty"),
    # health data
    ("no-resource-info", lambda: edit(health, _drop("data.resourceInfo")), "data.resourceInfo", "missing"),
    (
        "unknown-availability",
        lambda: edit(health, _set(f"{PROPS}.availabilityState", "Sideways")),
        f"{PROPS}.availabilityState",
        "'Sideways' is not an availability state",
    ),
    (
        "target-not-resource-id",
        lambda: edit(health, _set(f"{PROPS}.targetResourceId", "vm-web-01")),
        f"{PROPS}.targetResourceId",
        "not an Azure resource id",
    ),
    ("no-occurred-time", lambda: edit(health, _drop(f"{PROPS}.occurredTime")), f"{PROPS}.occurredTime", "missing"),
    (
        "annotation-without-name",
        lambda: edit(annotation, _drop(f"{PROPS}.annotationName")),
        f"{PROPS}.annotationName",
        "missing",
    ),
    # common alert schema
    (
        "other-schema-id",
        lambda: edit(notice, _set("schemaId", "AzureMonitorMetricAlert")),
        "schemaId",
        "is not azureMonitorCommonAlertSchema",
    ),
    ("no-essentials", lambda: edit(notice, _drop("data.essentials")), "data.essentials", "missing"),
    (
        "metric-alert",
        lambda: edit(notice, _set("data.essentials.monitoringService", "Platform")),
        "data.essentials.monitoringService",
        "'Platform' alerts are not handled",
    ),
    (
        "service-health-incident",
        lambda: json.dumps(
            real_alert(published("events/azure-monitor-common-alert.servicehealth-incident.test-action.json"))
        ).encode(),
        "data.alertContext.operationName",
        "is not a planned-maintenance notice",
    ),
    (
        "impacted-services-broken-json",
        lambda: edit(notice, _set(f"{ALERT_PROPS}.impactedServices", '[{"ServiceName":"SQL Database"')),
        f"{ALERT_PROPS}.impactedServices",
        "not a JSON array inside the string",
    ),
    (
        "impacted-services-empty",
        lambda: edit(notice, _set(f"{ALERT_PROPS}.impactedServices", "[]")),
        f"{ALERT_PROPS}.impactedServices",
        "non-empty array",
    ),
    (
        "impacted-service-unnamed",
        lambda: edit(notice, _set(f"{ALERT_PROPS}.impactedServices", '[{"ImpactedRegions":[]}]')),
        f"{ALERT_PROPS}.impactedServices[0].ServiceName",
        "missing",
    ),
    (
        "unknown-stage",
        lambda: edit(notice, _set(f"{ALERT_PROPS}.stage", "Postponed")),
        f"{ALERT_PROPS}.stage",
        "'Postponed' is not a notice stage",
    ),
    (
        "mitigation-before-impact",
        lambda: edit(notice, _set(f"{ALERT_PROPS}.impactMitigationTime", "2026-10-20T19:00:00Z")),
        f"{ALERT_PROPS}.impactMitigationTime",
        "is before impactStartTime",
    ),
    (
        "no-tracking-id",
        lambda: edit(notice, _drop(f"{ALERT_PROPS}.trackingId")),
        f"{ALERT_PROPS}.trackingId",
        "missing",
    ),
    (
        "no-event-data-id",
        lambda: edit(notice, _drop("data.alertContext.eventDataId")),
        "data.alertContext.eventDataId",
        "missing",
    ),
    (
        "resource-health-two-targets",
        lambda: edit(
            rh_alert,
            lambda b: b["data"]["essentials"]["alertTargetIDs"].append(
                b["data"]["essentials"]["alertTargetIDs"][0] + "2"
            ),
        ),
        "data.essentials.alertTargetIDs",
        "expected exactly one resource, got 2",
    ),
    (
        "resource-health-unknown-state",
        lambda: edit(rh_alert, _set(f"{ALERT_PROPS}.currentHealthStatus", "Meh")),
        f"{ALERT_PROPS}.currentHealthStatus",
        "'Meh' is not an availability state",
    ),
    (
        "alert-target-not-resource-id",
        lambda: edit(rh_alert, _set("data.essentials.alertTargetIDs", ["test-VM"])),
        "data.essentials.alertTargetIDs[0]",
        "not an Azure resource id",
    ),
    (
        "resource-health-other-operation",
        lambda: edit(
            rh_alert, _set("data.alertContext.operationName", "Microsoft.Compute/virtualMachines/restart/action")
        ),
        "data.alertContext.operationName",
        "is not a Resource Health event",
    ),
]
FOREIGN_CASES: list[tuple[str, Callable[[], bytes], str, str]] = [
    (
        "foreign-run",
        lambda: edit(pre, lambda b: None),
        "data.resourceSubscriptionIds",
        "b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03 is not in ALLOWED_SUBSCRIPTION_IDS (foreign event)",
    ),
    ("foreign-health", lambda: edit(health, lambda b: None), f"{PROPS}.targetResourceId", "foreign event"),
    (
        "foreign-resource-health",
        lambda: edit(rh_alert, lambda b: None),
        "data.essentials.alertTargetIDs",
        "11111111-1111-1111-1111-111111111111 is not in",
    ),
]


def test_the_corpus_is_large_and_every_case_distinct() -> None:
    assert len(CASES) + len(FOREIGN_CASES) >= 40
    assert len({c[0] for c in CASES + FOREIGN_CASES}) == len(CASES) + len(FOREIGN_CASES)


@pytest.fixture(scope="module")
def store(azurite: Azurite) -> Iterator[TableOutcomeStore]:
    """One store for the whole corpus: each case checks what it added."""
    store = store_for(azurite.connection_string, "t" + uuid.uuid4().hex[:10])
    store.ensure_tables()
    yield store
    store.drop_tables()


@pytest.mark.parametrize(
    ("name", "build", "field", "problem"), CASES + FOREIGN_CASES, ids=[c[0] for c in CASES + FOREIGN_CASES]
)
def test_malformed_input_is_refused_with_its_reason_and_nothing_else_is_written(
    store: TableOutcomeStore, name: str, build: Callable[[], bytes], field: str, problem: str
) -> None:
    policy = FOREIGN_POLICY if name.startswith("foreign") else IngestPolicy()
    body = build()
    before = store.snapshot()["rejections"]
    (result,) = ingest_payload(body, source=f"corpus/{name}.json", store=store, policy=policy, now=NOW)
    assert result.outcome is Outcome.REJECTED
    assert result.reason is not None
    assert result.reason.startswith(f"{field}: ")
    assert problem in result.reason
    snapshot = store.snapshot()
    assert snapshot["runs"] == snapshot["health"] == snapshot["notices"] == []
    (row,) = [r for r in snapshot["rejections"] if r not in before]
    assert (row["Source"], row["Field"]) == (f"corpus/{name}.json#0", field)
    assert f"{row['Field']}: {row['Problem']}" == result.reason
    if field == "payload":  # the body as it came (cut short if huge)
        assert row["RawSize"] == len(body)
    else:  # the refused event itself, as every door sees it (canonical_envelope)
        parsed = json.loads(body)
        assert json.loads(row["Raw"]) == canonical_envelope(parsed[0] if isinstance(parsed, list) else parsed)
    # refused again: acknowledged again, recorded once
    (again,) = ingest_payload(body, source=f"corpus/{name}.json", store=store, policy=policy, now=NOW)
    assert (again.outcome, again.reason) == (Outcome.REJECTED, result.reason)
    assert len(store.snapshot()["rejections"]) == len(before) + 1


def test_a_bad_event_in_a_batch_does_not_stop_the_good_ones(storage_connection: str, unique_prefix: str) -> None:
    store = store_for(storage_connection, unique_prefix)
    batch = sample("06-health-web-01-rebooted.eventgrid.json")
    batch.insert(1, {"eventType": "Microsoft.Storage.BlobCreated", "id": "x"})
    try:
        results = ingest_payload(json.dumps(batch), source="batch.json", store=store, policy=IngestPolicy(), now=NOW)
        assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ACCEPTED]
        assert results[1].source == "batch.json#1"
        snapshot = store.snapshot()
        assert len(snapshot["health"]) == 2
        assert [r["Source"] for r in snapshot["rejections"]] == ["batch.json#1"]
    finally:
        store.drop_tables()
