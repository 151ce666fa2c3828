"""Hostile and oversized input (issue 10), each reproduction as it was seen, on a real
Azurite: every event is recorded or refused with a reason, nothing poisons the store,
nothing stops the watchdog."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest

from shared.adapters.alert_store import AlertStore
from shared.adapters.outcome_store import TableOutcomeStore, escape_key
from shared.domain.alerts import AlertKey, AlertKind, Verdict
from shared.domain.outcomes import RunStatus
from shared.limits import MAX_DEPTH, MAX_EVENTS_PER_BODY, MAX_TEXT_UTF16, TABLE_KEY_BYTES
from shared.services.ingest import IngestPolicy, Outcome, ingest_event, ingest_payload
from tests.support import app as app_support
from tests.support.events import app_settings, one, post, sample, store_for, trigger_event

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)
SUB = "b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-web-prod/providers/Microsoft.Compute/virtualMachines/vm-web-01"


@pytest.fixture
def store(storage_connection: str, unique_prefix: str) -> Iterator[TableOutcomeStore]:
    s = store_for(storage_connection, unique_prefix)
    yield s
    s.drop_tables()


@pytest.fixture
def app_store(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> Iterator[TableOutcomeStore]:
    with app_settings(monkeypatch, storage_connection, unique_prefix):
        s = store_for(storage_connection, unique_prefix)
        yield s
        s.drop_tables()


def ingest(store: TableOutcomeStore, element: Any, source: str = "test") -> Any:
    return ingest_event(element, source=source, store=store, policy=IngestPolicy(), now=NOW)


def health() -> dict[str, Any]:
    return one(sample("05-health-web-01-recovered.eventgrid.json"))


def post_event() -> dict[str, Any]:
    return one(sample("07-web-sat-post.eventgrid.json"))


def notice() -> dict[str, Any]:
    return sample("14-sql-notice-R3KT-planned.alert.json")


def only_rejection(store: TableOutcomeStore) -> Any:
    """The one refusal, received at NOW (ingest here) or now (through the functions)."""
    (rejection,) = store.list_rejections(NOW.strftime("%Y-%m")) + store.list_rejections(
        datetime.now(UTC).strftime("%Y-%m")
    )
    return rejection


# -- one long alert stops the watchdog and the report ------------------------------------------


def test_an_alert_listing_hundreds_of_vms_reads_back_with_counts(storage_connection: str, unique_prefix: str) -> None:
    from shared.adapters.storage import StorageTarget

    alerts = AlertStore(StorageTarget(connection_string=storage_connection), unique_prefix)
    vms = [f"{VM[:-2]}{i:03d}-with-a-long-name-to-fill-the-row" for i in range(400)]
    key = AlertKey(AlertKind.UNPLANNED_BASELINE_SUSPECTED, f"/subscriptions/{SUB}", "2026-11")
    verdict = Verdict(key, True, "reboot-requiring security patches " * 400, NOW, {"vms": vms, "status": "x" * 31_000})
    assert len(alerts.apply([verdict], NOW)) == 1
    (stored,) = alerts.all()  # every later read (watchdog, report) used to fail with a JSON error
    details = stored.alert.details
    assert details["vms"][:3] == vms[:3]
    assert details["vms_total"] == 400 and len(details["vms"]) < 400
    assert len(json.dumps(details)) < 32_000
    # idempotent: the same verdict again changes nothing (compared in its stored form)
    assert alerts.apply([verdict], NOW + timedelta(minutes=15)) == []
    assert list(alerts.open_alerts()) == [key] and [s.alert.key for s in alerts.pending()] == [key]


def test_a_row_that_does_not_decode_is_quarantined_and_the_rest_goes_on(
    storage_connection: str, unique_prefix: str, store: TableOutcomeStore, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.adapters.storage import StorageTarget

    quarantined: list[tuple[str, str, str]] = []
    alerts = AlertStore(
        StorageTarget(connection_string=storage_connection),
        unique_prefix,
        quarantine=lambda table, row, problem: quarantined.append((table, row, problem)),
    )
    good = AlertKey(AlertKind.UNHEALTHY_AFTER_MAINTENANCE, VM, "run-1")
    alerts.apply([Verdict(good, True, "down", NOW, {"state": "Unavailable"})], NOW)
    alerts.table.create_entity(
        {"PartitionKey": "x", "RowKey": "broken", "Kind": "unhealthy-after-maintenance", "State": "open",
         "Details": '{"vms": ["cut', "Pending": True}
    )  # fmt: skip
    with caplog.at_level(logging.ERROR):
        assert [s.alert.key for s in alerts.all()] == [good]
        assert list(alerts.open_alerts()) == [good]
        assert [s.alert.key for s in alerts.pending()] == [good]
    assert quarantined and quarantined[0][:2] == (f"{unique_prefix}alerts", "x/broken")
    assert "quarantined" in caplog.text and "x/broken" in caplog.text


def test_an_outcome_row_that_does_not_decode_is_quarantined_and_shown_with_the_rejections(
    store: TableOutcomeStore, caplog: pytest.LogCaptureFixture
) -> None:
    assert ingest(store, notice()).outcome is Outcome.ACCEPTED
    store.ensure_tables()
    store._table("notices").create_entity(
        {"PartitionKey": "R3KT-9W0", "RowKey": "0|bad", "EventType": "Microsoft.ServiceHealth/maintenance/action",
         "EventTime": "0999-01-01T00:00:00Z"}
    )  # fmt: skip
    with caplog.at_level(logging.ERROR):
        (outcome,) = store.list_notices()
    assert outcome.tracking_id == "R3KT-9W0"
    (rejection,) = store.list_rejections(datetime.now(UTC).strftime("%Y-%m"))  # received: now
    assert rejection.source == f"store:{store.table_name('notices')}" and "R3KT-9W0/0|bad" in rejection.field
    assert "quarantined" in caplog.text


# -- instants the store cannot hold ----------------------------------------------------------


@pytest.mark.parametrize(
    ("event_time", "problem"),
    [
        ("0999-01-01T00:00:00Z", "before 1601-01-01"),
        ("1600-12-31T23:59:59Z", "before 1601-01-01"),
        ("9999-12-31T23:00:00-05:00", "outside 1601-01-01T00:00:00Z to 9999-12-31"),  # used to raise OverflowError
        ("0001-01-01T00:30:00+01:00", "outside 1601-01-01T00:00:00Z to 9999-12-31"),
    ],
)
def test_instants_outside_what_the_store_holds_are_refused(
    store: TableOutcomeStore, event_time: str, problem: str
) -> None:
    event = health()
    event["eventTime"] = event_time
    result = ingest(store, event)
    assert result.outcome is Outcome.REJECTED
    assert result.reason.startswith("eventTime:") and problem in result.reason
    assert store.list_resource_health() == []


# -- malformed events that raised -------------------------------------------------------------


def test_a_text_field_over_the_limit_is_refused(store: TableOutcomeStore) -> None:
    event = post_event()
    event["data"]["status"] = "F" * (MAX_TEXT_UTF16 + 1)
    result = ingest(store, event)
    assert result.outcome is Outcome.REJECTED
    assert result.reason.startswith("data.status:") and f"{MAX_TEXT_UTF16:,}" in result.reason


def test_a_status_of_30000_characters_is_kept_and_reads_back(store: TableOutcomeStore) -> None:
    event = post_event()
    event["data"]["status"] = "F" * 30_000
    assert ingest(store, event).outcome is Outcome.ACCEPTED
    (run,) = store.list_runs("2026-10")
    # an UpdateStatus nobody documented: kept verbatim, an unknown outcome (issue 9), never a failure
    assert run.status is RunStatus.UNKNOWN and run.status_raw == "F" * 30_000


def test_an_id_over_1_kib_of_utf16_is_recorded_under_a_bounded_key(store: TableOutcomeStore) -> None:
    event = health()
    event["id"] = "\U0001f600" * 600  # 1,200 UTF-16 units, 2,400 bytes
    assert ingest(store, event).outcome is Outcome.ACCEPTED
    assert ingest(store, event).outcome is Outcome.DUPLICATE
    (row,) = store.snapshot()["health"]
    assert len(row["RowKey"].encode("utf-16-le")) <= TABLE_KEY_BYTES
    assert row["EventId"] == event["id"]


def test_a_lone_surrogate_in_a_large_event_is_refused(store: TableOutcomeStore) -> None:
    body = json.dumps([dict(health(), subject="x" * 40_000 + "\ud800")]).encode()
    (result,) = ingest_payload(body, source="test", store=store, policy=IngestPolicy(), now=NOW)
    assert result.outcome is Outcome.REJECTED and "lone surrogate" in result.reason
    assert only_rejection(store).raw_size > 40_000


def deep(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"n": value}
    return value


def test_json_nested_990_deep_is_refused_not_raised(store: TableOutcomeStore) -> None:
    body = "[" + json.dumps(dict(health(), data={"x": 1})).replace('"x": 1', '"x": ' + "[" * 990 + "]" * 990) + "]"
    (result,) = ingest_payload(body, source="test", store=store, policy=IngestPolicy(), now=NOW)
    assert result.outcome is Outcome.REJECTED and f"{MAX_DEPTH}" in result.reason
    event = dict(health(), data=deep(985))
    result = ingest(store, event)  # as a trigger hands it over: already parsed
    assert result.outcome is Outcome.REJECTED and "nested" in result.reason


def test_the_event_function_refuses_a_deeply_nested_event(app_store: TableOutcomeStore) -> None:
    event = dict(health(), data=deep(985))
    app_support.handler("health_events")(trigger_event_unchecked(event))
    assert "nested" in only_rejection(app_store).reason


def trigger_event_unchecked(envelope: dict[str, Any]) -> Any:
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(5000)  # the worker's own json.loads of the host's payload succeeds at this depth
    try:
        return trigger_event(envelope)
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize(
    "function_name", ["follow_up_worker", "follow_up_poison", "assessment_worker", "assessment_poison"]
)
def test_queue_functions_refuse_a_deeply_nested_message(
    app_store: TableOutcomeStore, function_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    import azure.functions as func

    body = ("[" * 990 + "]" * 990).encode()
    msg = func.QueueMessage(id="m1", body=body)
    with caplog.at_level(logging.INFO):
        app_support.handler(function_name)(msg)  # used to raise RecursionError (retried, then poisoned)
    assert "nested" in caplog.text or "not JSON" in caplog.text


# -- one small body, thousands of writes --------------------------------------------------------


def test_the_webhook_refuses_more_events_than_its_limit(app_store: TableOutcomeStore) -> None:
    body = [notice() for _ in range(MAX_EVENTS_PER_BODY + 1)]
    resp = app_support.handler("action_group_alerts")(post(body))
    assert resp.status_code == 413
    answer = json.loads(resp.get_body())
    assert f"{MAX_EVENTS_PER_BODY}" in answer["error"] and "events" in answer["error"]
    assert app_store.list_notices() == []
    assert "events" in only_rejection(app_store).reason


# -- each door its own schema; same id, other content ------------------------------------------


def test_the_webhook_takes_only_the_common_alert_schema(app_store: TableOutcomeStore) -> None:
    forged = post_event()
    forged["data"]["status"] = "Succeeded"
    resp = app_support.handler("action_group_alerts")(post([forged]))
    assert resp.status_code == 400
    assert "common alert schema" in json.loads(resp.get_body())["error"]
    assert app_store.list_runs("2026-10") == []


def test_an_event_grid_function_takes_only_its_own_event_types(app_store: TableOutcomeStore) -> None:
    app_support.handler("maintenance_events")(trigger_event(health()))
    assert app_store.list_resource_health() == []
    assert (
        "health_events" in only_rejection(app_store).reason or "not a maintenance" in only_rejection(app_store).reason
    )


def test_same_id_other_content_is_a_recorded_conflict(
    store: TableOutcomeStore, caplog: pytest.LogCaptureFixture
) -> None:
    real = post_event()
    forged = post_event()
    forged["data"]["status"] = "Succeeded" if real["data"]["status"] != "Succeeded" else "Failed"
    assert ingest(store, forged).outcome is Outcome.ACCEPTED
    with caplog.at_level(logging.WARNING):
        result = ingest(store, real)
    assert result.outcome is Outcome.REJECTED and "conflict" in result.reason and "Status" in result.reason
    assert "conflict" in caplog.text
    assert "conflict" in only_rejection(store).reason
    assert ingest(store, forged).outcome is Outcome.DUPLICATE


@pytest.mark.parametrize("kind", ["health", "notice"])
def test_health_events_and_notices_dedupe_by_type_and_id(store: TableOutcomeStore, kind: str) -> None:
    first = health() if kind == "health" else notice()
    second = health() if kind == "health" else notice()
    if kind == "health":
        second["data"]["resourceInfo"]["properties"]["occurredTime"] = "2026-10-17T01:00:00Z"
    else:
        second["data"]["alertContext"]["eventTimestamp"] = "2026-10-19T10:00:00Z"
    assert ingest(store, first).outcome is Outcome.ACCEPTED
    result = ingest(store, second)
    assert result.outcome is Outcome.REJECTED and "conflict" in result.reason
    table = "health" if kind == "health" else "notices"
    assert len(store.snapshot()[table]) == 1


# -- injective keys -------------------------------------------------------------------------------


def test_long_keys_are_injective() -> None:
    long = VM.lower() + "/" + "a" * 600
    crafted = escape_key(long)
    assert escape_key(unquote(crafted)) != crafted  # the digest form never equals the escape of another value
    assert escape_key(long + "b") != crafted


def test_a_crafted_id_cannot_land_in_another_resources_partition(store: TableOutcomeStore) -> None:
    victim = health()
    victim_id = VM + "/" + "a" * 600
    victim["data"]["resourceInfo"]["properties"]["targetResourceId"] = victim_id
    assert ingest(store, victim).outcome is Outcome.ACCEPTED
    attacker = health()
    attacker["id"] = "other"
    # the old scheme cut the escaped id and appended a hash: that text, unescaped, was a valid id
    attacker["data"]["resourceInfo"]["properties"]["targetResourceId"] = unquote(escape_key(victim_id.lower()))
    attacker["data"]["resourceInfo"]["properties"]["availabilityState"] = "Unavailable"
    attacker["data"]["resourceInfo"]["properties"]["occurredTime"] = "2026-10-18T00:00:00Z"
    ingest(store, attacker)
    latest = store.latest_health(victim_id)
    assert latest is not None and latest.availability.value == "Available"


def test_a_conflict_shows_in_the_reports_refused_list(store: TableOutcomeStore) -> None:
    from shared.commands.report import build
    from shared.domain.calendar import CalendarPolicy, YearMonth
    from shared.presentation.report_html import render_html

    forged = post_event()
    forged["data"]["status"] = "Succeeded" if forged["data"]["status"] != "Succeeded" else "Failed"
    ingest(store, forged)
    ingest(store, post_event())
    report = build(store.target, store.prefix, CalendarPolicy(), YearMonth(2026, 10), NOW)
    (refused,) = report.rejected
    assert "conflict" in refused.reason and "Status" in refused.reason
    assert report.to_json()["rejected"][0]["reason"] == refused.reason
    assert "Refused (1)" in render_html(report) and "conflict" in render_html(report)


def test_a_cycle_row_that_does_not_decode_does_not_stop_the_report(
    store: TableOutcomeStore, caplog: pytest.LogCaptureFixture
) -> None:
    from shared.adapters.storage import table_service
    from shared.commands.report import build
    from shared.domain.calendar import CalendarPolicy, YearMonth

    service = table_service(store.target)
    service.create_table_if_not_exists(f"{store.prefix}cycles").create_entity(
        {"PartitionKey": "cycle", "RowKey": "2026-10", "Round": 0}
    )
    service.create_table_if_not_exists(f"{store.prefix}cyclevms").create_entity(
        {"PartitionKey": "2026-10", "RowKey": "vm1", "ResourceId": VM, "Round": "not a number"}
    )
    with caplog.at_level(logging.ERROR):
        report = build(store.target, store.prefix, CalendarPolicy(), YearMonth(2026, 10), NOW)
    assert report.cycle.id == "2026-10"
    assert "quarantined" in caplog.text and "2026-10/vm1" in caplog.text
    for name in ("cycles", "cyclevms"):
        service.delete_table(f"{store.prefix}{name}")
