"""The outcome store on a real Azurite: what is recorded is read back per run, per month,
per resource and per notice; duplicates change nothing; one request per event; keys
survive awkward ids; concurrent writers of one event record it once; faults raise."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.outcome_store import (
    FUNCTION_CLIENT_OPTIONS,
    TableOutcomeStore,
    escape_key,
    fact_keys,
)
from shared.adapters.storage import resolve_target
from shared.domain.events import Availability, DomainEvent, NoticeStage, decode_event
from shared.domain.outcomes import HealthSource, RunStatus, StoreUnavailableError
from shared.limits import TABLE_KEY_BYTES
from shared.services.ingest import IngestPolicy, Outcome, ingest_payload
from tests.support.alert_events import real_alert
from tests.support.azurite import free_port
from tests.support.events import one, published, sample, store_for

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)
WEB01 = "/subscriptions/b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03/resourceGroups/rg-web-prod/providers/Microsoft.Compute/virtualMachines/vm-web-01"


@pytest.fixture
def store(storage_connection: str, unique_prefix: str) -> Iterator[TableOutcomeStore]:
    s = store_for(storage_connection, unique_prefix)
    yield s
    s.drop_tables()


def record(store: TableOutcomeStore, *names: str) -> list[Any]:
    results = []
    for name in names:
        results += ingest_payload(json.dumps(sample(name)), source=name, store=store, policy=IngestPolicy(), now=NOW)
    return results


def decoded(body: Any) -> DomainEvent:
    event = decode_event(body)
    assert not hasattr(event, "validation_code")
    return event  # type: ignore[return-value]


def test_a_run_is_read_back_by_correlation_id_in_any_casing(store: TableOutcomeStore) -> None:
    record(store, "24-web-sat-post-oct24.eventgrid.json", "25-web-sat-pre-oct24.eventgrid.json")
    cid = one(sample("25-web-sat-pre-oct24.eventgrid.json"))["id"]
    run = store.get_run(cid.upper().replace("APPLYUPDATES/", "applyupdates/"))
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert (run.pre_seen, run.post_seen) == (True, True)
    assert run.correlation_id == cid
    assert run.window_start == datetime(2026, 10, 24, tzinfo=UTC)
    assert run.cancellation_cutoff == datetime(2026, 10, 23, 23, 50, tzinfo=UTC)
    assert store.get_run(cid.replace("20261024000000", "20261024010000")) is None
    assert store.get_run("not a run id") is None


def test_a_months_runs_and_a_cycles_runs(store: TableOutcomeStore) -> None:
    record(
        store,
        "01-hotpatch-pre.eventgrid.json",
        "02-hotpatch-post.eventgrid.json",
        "09-sqlhosts-pre.cloudevent.json",
        "12-sqlhosts-post-failed.cloudevent.json",
        "31-web-sat-pre-oct31.eventgrid.json",
    )
    runs = store.list_runs("2026-10")
    assert [(r.configuration_name, r.status) for r in runs] == [
        ("mc-weu-hotpatch-pt1", RunStatus.SUCCEEDED),
        ("mc-eus-sqlhosts-pt4", RunStatus.FAILED),
        ("mc-weu-web-sat-0200", RunStatus.SCHEDULED),
    ]
    assert store.list_runs("2026-09") == []
    # October's patch cycle: from its release (Oct 13, 17:00Z) to November's (Nov 10, 18:00Z)
    cycle = store.runs_between(datetime(2026, 10, 13, 17, tzinfo=UTC), datetime(2026, 11, 10, 18, tzinfo=UTC))
    assert [r.run_start.day for r in cycle] == [14, 18, 31]
    assert [r.run_start.day for r in store.runs_between(datetime(2026, 10, 15, tzinfo=UTC), NOW)] == [18, 31]


def test_health_history_is_newest_first_and_latest_skips_annotations(store: TableOutcomeStore) -> None:
    record(store, "05-health-web-01-recovered.eventgrid.json", "06-health-web-01-rebooted.eventgrid.json")
    history = store.health_history(WEB01.lower())
    assert [(c.source, c.availability) for c in history] == [
        (HealthSource.AVAILABILITY, Availability.AVAILABLE),
        (HealthSource.AVAILABILITY, Availability.UNAVAILABLE),
        (HealthSource.ANNOTATION, None),
    ]
    latest = store.latest_health(WEB01)
    assert latest is not None
    assert latest.availability is Availability.AVAILABLE
    assert latest.occurred == datetime(2026, 10, 17, 0, 47, 12, 403115, tzinfo=UTC)
    # a window of time: only what occurred in [since, until)
    window = store.health_history(
        WEB01,
        since=datetime(2026, 10, 17, 0, 41, 3, tzinfo=UTC),
        until=datetime(2026, 10, 17, 0, 47, 12, 403115, tzinfo=UTC),
    )
    assert [c.availability for c in window] == [Availability.UNAVAILABLE]
    health = store.resource_health(WEB01)
    assert health is not None
    assert health.availability is Availability.AVAILABLE
    assert store.latest_health(WEB01 + "x") is None
    assert store.resource_health(WEB01 + "x") is None


def test_an_annotation_newer_than_the_last_change_does_not_hide_the_state(store: TableOutcomeStore) -> None:
    down = sample("06-health-web-01-rebooted.eventgrid.json")[0]
    note = sample("21-health-web-02-host-repair.eventgrid.json")[0]
    note["data"]["resourceInfo"]["properties"]["targetResourceId"] = WEB01
    ingest_payload(json.dumps([down, note]), source="x", store=store, policy=IngestPolicy(), now=NOW)
    latest = store.latest_health(WEB01)
    assert latest is not None and latest.availability is Availability.UNAVAILABLE
    assert store.health_history(WEB01)[0].source is HealthSource.ANNOTATION


def test_every_resource_with_health_is_listed(store: TableOutcomeStore) -> None:
    record(store, "10-health-sqlvm.cloudevent.json", "11-resourcehealth-sqlvm-02.alert.json")
    listed = {h.resource_id.rsplit("/", 1)[-1].lower(): h.availability for h in store.list_resource_health()}
    assert listed == {"vm-sqlvm-01": Availability.AVAILABLE, "vm-sqlvm-02": Availability.UNAVAILABLE}
    later = store.list_resource_health(since=datetime(2026, 10, 18, 3, tzinfo=UTC))
    assert [h.resource_id.rsplit("/", 1)[-1] for h in later] == ["vm-sqlvm-01"]


def test_notices_by_tracking_id_and_by_window_service_region_subscription(store: TableOutcomeStore) -> None:
    record(
        store,
        "16-sql-notice-R3KT-complete.alert.json",
        "14-sql-notice-R3KT-planned.alert.json",
        "23-sql-notice-7LQ2-planned.alert.json",
        "26-sql-notice-7LQ2-rescheduled.alert.json",
        "30-sql-notice-K9PX-planned.alert.json",
    )
    notice = store.get_notice("r3kt-9w0")
    assert notice is not None
    assert notice.status is NoticeStage.COMPLETE
    assert [s for s, _ in notice.stages] == [NoticeStage.PLANNED, NoticeStage.COMPLETE]
    assert store.get_notice("NOPE-000") is None
    october = store.list_notices(since=datetime(2026, 10, 1, tzinfo=UTC), until=datetime(2026, 11, 1, tzinfo=UTC))
    assert [n.tracking_id for n in october] == ["R3KT-9W0", "7LQ2-TX8"]
    assert october[1].impact_start == datetime(2026, 10, 28, 2, tzinfo=UTC)  # rescheduled
    assert [n.tracking_id for n in store.list_notices(service="sql managed instance")] == ["7LQ2-TX8"]
    assert [n.tracking_id for n in store.list_notices(region="eastus2")] == ["K9PX-3Z8"]
    assert len(store.list_notices(subscription="D9A2F460-5B7E-4C13-A8F9-1E3B6D0C7A52")) == 3
    assert store.list_notices(subscription="b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03") == []
    database = "/subscriptions/d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-weu-01/databases/orders"
    assert [
        n.tracking_id for n in store.notices_for_resource(database, region="westeurope", service="SQL Database")
    ] == ["R3KT-9W0"]
    assert store.notices_for_resource(database, region="westeurope", service="SQL Managed Instance") == []
    assert store.notices_for_resource(database.replace("d9a2f460", "00000000"), region="West Europe") == []


def test_a_duplicate_changes_nothing_and_is_reported(store: TableOutcomeStore) -> None:
    first = record(store, "07-web-sat-post.eventgrid.json")
    before = store.snapshot()
    later = ingest_payload(
        json.dumps(sample("08-web-sat-post.redelivered.eventgrid.json")),
        source="again",
        store=store,
        policy=IngestPolicy(),
        now=NOW + timedelta(hours=5),
    )
    assert [r.outcome for r in first + later] == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert later[0].actions == first[0].actions  # listed again: a crash after recording loses no follow-up
    assert store.snapshot() == before  # not even the receipt time moved


def test_pre_and_post_share_an_id_but_not_a_key(store: TableOutcomeStore) -> None:
    results = record(store, "04-web-sat-pre.eventgrid.json", "07-web-sat-post.eventgrid.json")
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert results[0].event.event_id == results[1].event.event_id
    assert len(store.snapshot()["runs"]) == 2


def test_the_raw_event_is_kept_as_it_arrived(store: TableOutcomeStore) -> None:
    body = real_alert(published("events/azure-monitor-common-alert.resourcehealth.test-action.json"))
    ingest_payload(json.dumps(body), source="rh", store=store, policy=IngestPolicy(), now=NOW)
    raw = store.raw_event(decoded(body))
    assert raw is not None
    assert json.loads(raw) == body


def test_a_large_event_is_kept_whole(store: TableOutcomeStore) -> None:
    body = sample("14-sql-notice-R3KT-planned.alert.json")
    long_text = (
        "<p>" + " ".join(f"Step {i}: the service restarts in its maintenance window." for i in range(2500)) + "</p>"
    )
    body["data"]["alertContext"]["properties"]["communication"] = long_text
    body["data"]["alertContext"]["properties"]["defaultLanguageContent"] = long_text
    assert len(json.dumps(body)) > 200_000
    (result,) = ingest_payload(json.dumps(body), source="big", store=store, policy=IngestPolicy(), now=NOW)
    assert result.outcome is Outcome.ACCEPTED
    raw = store.raw_event(decoded(body))
    assert raw is not None and json.loads(raw) == body
    assert store.get_notice("R3KT-9W0") is not None


def test_awkward_and_long_resource_ids_make_valid_distinct_keys(store: TableOutcomeStore) -> None:
    base = one(sample("05-health-web-01-recovered.eventgrid.json"))
    ids = [
        WEB01.replace("vm-web-01", "vm#1?a=b%20c\\d"),
        WEB01.replace("vm-web-01", "v" * 600 + "1"),
        WEB01.replace("vm-web-01", "v" * 600 + "2"),
    ]
    for n, rid in enumerate(ids):
        body = json.loads(json.dumps(base))
        body["id"] = f"c0a8e2f4-1b3d-4e5f-8a9b-0c1d2e3f4a5{n}"
        body["data"]["resourceInfo"]["properties"]["targetResourceId"] = rid
        (result,) = ingest_payload(json.dumps([body]), source="k", store=store, policy=IngestPolicy(), now=NOW)
        assert result.outcome is Outcome.ACCEPTED
    for rid in ids:
        history = store.health_history(rid)
        assert [c.resource_id for c in history] == [rid]
    keys = {escape_key(rid.lower()) for rid in ids}
    assert len(keys) == 3
    assert all(len(k.encode("utf-16-le")) <= TABLE_KEY_BYTES and not set(k) & set("/\\#?") for k in keys)


def test_storage_requests_per_event_new_or_duplicate(storage_connection: str, unique_prefix: str) -> None:
    """A run's event: one insert (its keys are its type and id). A health event or a notice:
    the (type, id) row, then the fact. A duplicate adds one read (is it the same content?)
    and, for health and notices, the fact's insert again (completing a crashed delivery).
    New or duplicate, one upsert (PUT) marks the scope in the change feed the watchdog reads."""
    requests: list[str] = []
    store = TableOutcomeStore(
        resolve_target(storage_connection),
        unique_prefix,
        {**FUNCTION_CLIENT_OPTIONS, "raw_request_hook": lambda r: requests.append(r.http_request.method)},
    )
    store.ensure_tables()
    try:
        names = [
            "04-web-sat-pre.eventgrid.json",
            "10-health-sqlvm.cloudevent.json",
            "14-sql-notice-R3KT-planned.alert.json",
        ]
        requests.clear()
        results = record(store, *names)
        assert len(results) == 5
        assert requests == ["POST", "PUT"] + ["POST", "POST", "PUT"] * 4
        requests.clear()
        results = record(store, *names)  # all duplicates now
        assert {r.outcome for r in results} == {Outcome.DUPLICATE}
        assert requests == ["POST", "GET", "PUT"] + ["POST", "GET", "POST", "PUT"] * 4
        requests.clear()
        record(store, "13-malformed-post-without-status.eventgrid.json")
        assert requests == ["POST"]
    finally:
        store.drop_tables()


def test_concurrent_writers_of_one_event_record_it_once(storage_connection: str, unique_prefix: str) -> None:
    body = json.dumps(sample("12-sqlhosts-post-failed.cloudevent.json"))
    outcomes: list[Outcome] = []
    start = threading.Barrier(8)

    def deliver() -> None:
        writer = store_for(storage_connection, unique_prefix)  # each worker its own client
        writer.ensure_tables()
        start.wait()
        (result,) = ingest_payload(body, source="race", store=writer, policy=IngestPolicy(), now=NOW)
        outcomes.append(result.outcome)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = store_for(storage_connection, unique_prefix)
    try:
        assert sorted(outcomes) == [Outcome.ACCEPTED] + [Outcome.DUPLICATE] * 7
        assert len(store.snapshot()["runs"]) == 1
    finally:
        store.drop_tables()


def test_an_unreachable_store_raises_and_records_nothing_anywhere() -> None:
    closed = free_port()
    target = resolve_target(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        f"TableEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;"
    )
    store = TableOutcomeStore(target, "pw")
    for name in ("04-web-sat-pre.eventgrid.json", "13-malformed-post-without-status.eventgrid.json"):
        with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{closed}"):
            record(store, name)
    with pytest.raises(StoreUnavailableError):
        store.list_runs("2026-10")


def test_reads_of_a_store_that_was_never_written_are_empty(store: TableOutcomeStore) -> None:
    assert store.list_runs("2026-10") == []
    assert store.health_history(WEB01) == ()
    assert store.list_notices() == []
    assert store.list_rejections("2026-10") == []
    assert store.raw_event(decoded(one(sample("04-web-sat-pre.eventgrid.json")))) is None


def test_rejections_are_listed_per_month_newest_first(store: TableOutcomeStore) -> None:
    for hours, name in enumerate(
        ["13-malformed-post-without-status.eventgrid.json", "22-malformed-unknown-event-type.eventgrid.json"]
    ):
        ingest_payload(
            json.dumps(sample(name)), source=name, store=store, policy=IngestPolicy(), now=NOW + timedelta(hours=hours)
        )
    rejections = store.list_rejections("2026-10")
    assert [r.source for r in rejections] == [
        "22-malformed-unknown-event-type.eventgrid.json#0",
        "13-malformed-post-without-status.eventgrid.json#0",
    ]
    assert rejections[1].reason == "data.status: missing"
    assert store.list_rejections("2026-11") == []


def test_fact_keys_follow_the_access_paths() -> None:
    pre = decoded(one(sample("04-web-sat-pre.eventgrid.json")))
    keys = fact_keys(pre)
    assert (keys.table, keys.partition_key) == ("runs", "2026-10")
    assert keys.row_key.endswith("%2Fapplyupdates%2F20261017000000|pre")
    older, newer = (decoded(sample("10-health-sqlvm.cloudevent.json")[i]) for i in (1, 2))
    assert fact_keys(older).partition_key == fact_keys(newer).partition_key
    assert fact_keys(newer).row_key < fact_keys(older).row_key  # newest first
