"""The event functions, invoked through the registered app with the azure-functions
library's own types (as the Python worker builds them), recording into Azurite."""

from __future__ import annotations

import json
from collections.abc import Iterator

import azure.functions as func
import pytest

from shared.adapters.outcome_store import TableOutcomeStore
from shared.domain.events import Availability
from shared.domain.outcomes import RunStatus, StoreUnavailableError
from tests.support import app as app_support
from tests.support.alert_events import real_alert
from tests.support.azurite import free_port
from tests.support.events import app_settings, one, post, published, sample, store_for, trigger_event

pytestmark = pytest.mark.azurite

SQLVM02 = "/subscriptions/b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03/resourceGroups/rg-sqlvm-prod/providers/Microsoft.Compute/virtualMachines/vm-sqlvm-02"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str) -> Iterator[TableOutcomeStore]:
    with app_settings(monkeypatch, storage_connection, unique_prefix):
        s = store_for(storage_connection, unique_prefix)
        yield s
        s.drop_tables()


def deliver(function_name: str, body: object) -> None:
    """Event Grid posts an array; the worker invokes the function once per element."""
    for element in body if isinstance(body, list) else [body]:
        app_support.handler(function_name)(trigger_event(element))


def test_the_functions_are_registered_with_their_triggers() -> None:
    for name in ("maintenance_events", "health_events"):
        (trigger,) = app_support.bindings(name)
        assert trigger["type"] == "eventGridTrigger"
        assert trigger["direction"] == "IN"
    http = {b["type"]: b for b in app_support.bindings("action_group_alerts")}
    assert http["httpTrigger"]["route"] == "alerts"
    assert http["httpTrigger"]["methods"] == ["POST"]
    assert http["httpTrigger"]["authLevel"].lower() == "function"


def test_the_worker_hands_cloudevents_over_as_cloudevents() -> None:
    assert isinstance(trigger_event(one(published("events/maintenance-pre-event.cloudevent.json"))), func.CloudEvent)
    assert isinstance(trigger_event(one(published("events/maintenance-pre-event.eventgrid.json"))), func.EventGridEvent)


def test_a_run_recorded_from_both_schemas_out_of_order_and_redelivered(store: TableOutcomeStore) -> None:
    deliver("maintenance_events", sample("12-sqlhosts-post-failed.cloudevent.json"))  # post first, CloudEvents
    deliver("maintenance_events", sample("09-sqlhosts-pre.cloudevent.json"))
    deliver("maintenance_events", sample("12-sqlhosts-post-failed.cloudevent.json"))  # redelivered
    before = store.snapshot()
    (run,) = store.list_runs("2026-10")
    assert run.status is RunStatus.FAILED
    assert (run.pre_seen, run.post_seen, run.status_raw) == (True, True, "Failed")
    assert len(before["runs"]) == 2
    deliver("maintenance_events", sample("09-sqlhosts-pre.cloudevent.json"))
    assert store.snapshot() == before


def test_the_published_maintenance_samples_are_recorded(store: TableOutcomeStore) -> None:
    deliver("maintenance_events", published("events/maintenance-pre-event.eventgrid.json"))
    deliver("maintenance_events", published("events/maintenance-post-event.eventgrid.json"))
    (run,) = store.list_runs("2023-05")
    assert run.status is RunStatus.SUCCEEDED
    assert run.configuration_name == "contosomaintenanceconfiguration"


def test_health_events_are_recorded_per_resource(store: TableOutcomeStore) -> None:
    deliver("health_events", sample("10-health-sqlvm.cloudevent.json"))
    deliver("health_events", published("events/health-availability-status-changed.eventgrid.json"))
    latest = store.latest_health(SQLVM02)
    assert latest is not None and latest.availability is Availability.UNAVAILABLE
    assert {h.resource_id.rsplit("/", 1)[-1] for h in store.list_resource_health()} == {
        "vm-sqlvm-01",
        "vm-sqlvm-02",
        "{vm-name}",
    }


def test_a_malformed_event_is_recorded_as_rejected_and_acknowledged(store: TableOutcomeStore) -> None:
    deliver("maintenance_events", sample("13-malformed-post-without-status.eventgrid.json"))  # returns: acknowledged
    snapshot = store.snapshot()
    assert snapshot["runs"] == []
    (rejection,) = store.list_rejections(snapshot["rejections"][0]["PartitionKey"])
    assert rejection.reason == "data.status: missing"
    assert rejection.source.startswith("maintenance_events:/subscriptions/6f1c9e2a")


def test_a_validation_event_that_reaches_the_function_is_acknowledged_not_recorded(store: TableOutcomeStore) -> None:
    deliver("health_events", sample("03-subscription-validation.eventgrid.json"))
    assert all(rows == [] for rows in store.snapshot().values())


def test_alerts_answer_202_and_a_redelivery_is_a_duplicate(store: TableOutcomeStore) -> None:
    handler = app_support.handler("action_group_alerts")
    first = handler(post(sample("14-sql-notice-R3KT-planned.alert.json")))
    assert first.status_code == 202
    assert json.loads(first.get_body()) == {"accepted": 1, "duplicate": 0}
    again = handler(post(sample("15-sql-notice-R3KT-planned.redelivered.alert.json")))
    assert again.status_code == 202
    assert json.loads(again.get_body()) == {"accepted": 0, "duplicate": 1}
    rh = handler(post(real_alert(published("events/azure-monitor-common-alert.resourcehealth.test-action.json"))))
    assert rh.status_code == 202
    notice = store.get_notice("R3KT-9W0")
    assert notice is not None and [s.value for s, _ in notice.stages] == ["Planned"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>not json</html>", "payload: not JSON"),
        (b"", "payload: empty body"),
        (
            json.dumps(
                real_alert(published("events/azure-monitor-common-alert.servicehealth-incident.test-action.json"))
            ).encode(),
            "not a planned-maintenance notice",
        ),
        (
            json.dumps(sample("18-malformed-impacted-services.alert.json")).encode(),
            "impactedServices: not a JSON array",
        ),
    ],
    ids=["html", "empty", "incident", "impacted-services"],
)
def test_alerts_answer_400_with_the_reason_and_record_it(store: TableOutcomeStore, body: bytes, reason: str) -> None:
    response = app_support.handler("action_group_alerts")(post(body))
    assert response.status_code == 400
    answer = json.loads(response.get_body())
    assert reason in answer["error"]
    assert answer["rejected"][0]["source"] == "action_group_alerts#0"
    rows = store.snapshot()
    assert rows["notices"] == rows["health"] == []
    assert [r["Source"] for r in rows["rejections"]] == ["action_group_alerts#0"]


def test_a_mixed_body_records_the_good_events_and_names_the_bad_one(store: TableOutcomeStore) -> None:
    batch = [sample("23-sql-notice-7LQ2-planned.alert.json"), {"schemaId": "azureMonitorCommonAlertSchema"}]
    response = app_support.handler("action_group_alerts")(post(batch))
    assert response.status_code == 400
    answer = json.loads(response.get_body())
    assert answer["accepted"] == 1
    assert answer["rejected"] == [{"source": "action_group_alerts#1", "reason": "data: missing"}]
    assert store.get_notice("7LQ2-TX8") is not None


def test_the_webhook_refuses_an_event_grid_handshake_and_records_a_junk_event_beside_it(
    store: TableOutcomeStore,
) -> None:
    """/api/alerts takes the common alert schema only (Event Grid subscriptions target the
    Event Grid functions, whose handshake the host answers). A handshake posted there with
    a junk event is refused whole, and the junk event's refusal is recorded, not hidden."""
    body = [*sample("03-subscription-validation.eventgrid.json"), {"junk": True}]
    response = app_support.handler("action_group_alerts")(post(body))
    assert response.status_code == 400
    answer = json.loads(response.get_body())
    assert [r["source"] for r in answer["rejected"]] == ["action_group_alerts#0", "action_group_alerts#1"]
    assert "common alert schema" in answer["rejected"][0]["reason"]
    assert len(store.snapshot()["rejections"]) == 2


def test_a_store_fault_is_a_500_for_alerts_and_raises_for_event_grid(
    monkeypatch: pytest.MonkeyPatch, unique_prefix: str
) -> None:
    closed = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    )
    with app_settings(monkeypatch, closed, unique_prefix):
        response = app_support.handler("action_group_alerts")(post(sample("14-sql-notice-R3KT-planned.alert.json")))
        assert response.status_code == 500
        assert "deliver again" in json.loads(response.get_body())["error"]
        with pytest.raises(StoreUnavailableError):
            deliver("maintenance_events", sample("04-web-sat-pre.eventgrid.json"))
        with pytest.raises(StoreUnavailableError):  # a malformed event is not acknowledged unrecorded either
            deliver("maintenance_events", sample("13-malformed-post-without-status.eventgrid.json"))


@pytest.mark.parametrize(
    "name",
    [
        "events/azure-monitor-common-alert.resourcehealth.test-action.json",
        "events/azure-monitor-common-alert.servicehealth-incident.test-action.json",
    ],
)
def test_an_action_group_test_action_is_recorded_as_synthetic_and_changes_nothing(
    store: TableOutcomeStore, name: str
) -> None:
    """The action group's test button (published test-action samples): acknowledged, recorded
    as synthetic with why, never a health signal, a notice or an alert."""
    response = app_support.handler("action_group_alerts")(post(published(name)))
    assert response.status_code == 202
    assert json.loads(response.get_body()) == {"accepted": 0, "duplicate": 0, "synthetic": 1}
    rows = store.snapshot()
    assert [k for k, v in rows.items() if v and k != "rejections"] == []  # no fact of any kind
    (recorded,) = rows["rejections"]
    assert "recorded, not acted on" in recorded["Problem"]
    assert (
        store.resource_health(
            "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/test-RG/providers/microsoft.compute/virtualmachines/test-VM"
        )
        is None
    )
