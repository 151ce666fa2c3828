"""The report from stored summaries on Azurite: the same report as from the sources (the
bundled month with the demo's world and alerts), one partition read when they are fresh,
a refresh of one resource group that catches what changed there, and old cycles that
cost nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from bench.estate import RequestCounter, build_estate, table_port
from shared.adapters.alert_store import AlertStore
from shared.adapters.report_summaries import SummaryTable
from shared.adapters.storage import resolve_target
from shared.commands._alerting import EVENTS, seed_world
from shared.commands.replay import expand, replay_files
from shared.config import load_settings
from shared.domain.alerts import AlertKey, AlertKind, Verdict
from shared.domain.calendar import CalendarPolicy, YearMonth, cycle_for_month
from shared.domain.report import GroupKey
from shared.domain.report.summary import SUMMARY_VERSION, group_name, groups_of
from shared.runtime import report_sources
from shared.runtime.alerting import alert_policy, alerting_for_store
from shared.services.ingest import IngestPolicy, ingest_payload
from shared.services.report import compliance_report, refresh_summaries, summarised_report
from shared.services.watchdog import run_watchdog
from tests.support.events import SAMPLES, store_for
from tests.support.report_data import ALLOWED, NOW, vm_id

pytestmark = pytest.mark.azurite

OCTOBER = cycle_for_month(YearMonth(2026, 10), CalendarPolicy())
GRACE = timedelta(minutes=60)
CLOCK = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the wall clock: the summaries' age


def _demo_month(connection: str, prefix: str) -> None:
    """The bundled month, the demo's world and its events, and the watchdog's alerts."""
    cfg = load_settings({"ALLOWED_SUBSCRIPTION_IDS": ",".join(ALLOWED), "OUTCOMES_TABLE_PREFIX": prefix})
    store = store_for(connection, prefix)
    policy = IngestPolicy.from_settings(cfg)
    replay_files(expand([str(SAMPLES)]), store=store, policy=policy, now=NOW)
    seed_world(store)
    replay_files(expand([str(EVENTS)]), store=store, policy=policy, now=NOW)
    run_watchdog(alerting_for_store(cfg, store), alert_policy(cfg), now=NOW)


def test_the_demo_month_reports_the_same_from_its_summaries_and_reads_one_partition_when_fresh(
    storage_connection: str, unique_prefix: str
) -> None:
    _demo_month(storage_connection, unique_prefix)
    target = resolve_target(storage_connection)
    sources = report_sources(target, unique_prefix)
    table = SummaryTable(target, unique_prefix)
    expected = compliance_report(sources, OCTOBER, NOW, overrun_grace=GRACE).to_json()
    assert expected["summary"]["alerts_by_kind"], "the demo month has alerts"

    first = summarised_report(sources, table, OCTOBER, NOW, clock=CLOCK, overrun_grace=GRACE)
    counter = RequestCounter(port=table_port(target), keep_urls=True)
    with counter.installed():
        again = summarised_report(
            sources, table, OCTOBER, NOW, clock=CLOCK + timedelta(minutes=10), overrun_grace=GRACE
        )
    later = summarised_report(
        sources, table, OCTOBER, NOW + timedelta(days=3), clock=CLOCK + timedelta(minutes=20), overrun_grace=GRACE
    )

    assert first.to_json() == expected
    assert again.to_json() == expected
    assert counter.requests == 1 and counter.by_table == {f"{unique_prefix}summaries": 1}
    assert "PartitionKey eq '2026-10'" in unquote(counter.urls[0])
    # drawn at another instant from the same summaries: what the sources say at that instant
    assert (
        later.to_json() == compliance_report(sources, OCTOBER, NOW + timedelta(days=3), overrun_grace=GRACE).to_json()
    )


def test_a_refresh_of_the_groups_that_changed_catches_up_with_the_sources(
    storage_connection: str, unique_prefix: str
) -> None:
    _demo_month(storage_connection, unique_prefix)
    target = resolve_target(storage_connection)
    sources = report_sources(target, unique_prefix)
    table = SummaryTable(target, unique_prefix)
    summarised_report(sources, table, OCTOBER, NOW, clock=CLOCK, overrun_grace=GRACE)

    # What changes afterwards: web-02 goes down (a health event) and an alert opens on it.
    web02 = vm_id("rg-web-prod", "vm-web-02")
    body = (SAMPLES / "05-health-web-01-recovered.eventgrid.json").read_text()
    body = body.replace("ef516e54-b622-5ac0-9d33-035804267bff", "0d3c2a1e-5b6f-4e70-8a9b-1c2d3e4f5a6b")
    body = body.replace("vm-web-01", "vm-web-02").replace("2026-10-17T00:47:12", "2026-10-30T08:00:00")
    body = body.replace('"previousAvailabilityState": "Unavailable"', '"previousAvailabilityState": "Available"')
    body = body.replace('"availabilityState": "Available"', '"availabilityState": "Unavailable"')
    (result,) = ingest_payload(
        body, source="test", store=store_for(storage_connection, unique_prefix), policy=IngestPolicy(), now=NOW
    )
    assert result.outcome.value == "accepted", result.reason
    AlertStore(target, unique_prefix).apply(
        [Verdict(AlertKey(AlertKind.UNHEALTHY_AFTER_MAINTENANCE, web02, "2026-10"), True, "web-02 is down")],
        NOW - timedelta(hours=1),
    )
    expected = compliance_report(sources, OCTOBER, NOW, overrun_grace=GRACE).to_json()
    stale = summarised_report(sources, table, OCTOBER, NOW, clock=CLOCK + timedelta(minutes=5), overrun_grace=GRACE)
    assert stale.to_json() != expected  # the summaries do not know yet

    other = group_name(GroupKey.of(vm_id("rg-sqlvm-prod", "vm-sqlvm-01")))
    refresh_summaries(sources, table, OCTOBER, {other}, clock=CLOCK + timedelta(minutes=6))
    assert (
        summarised_report(
            sources, table, OCTOBER, NOW, clock=CLOCK + timedelta(minutes=7), overrun_grace=GRACE
        ).to_json()
        != expected
    )

    refresh_summaries(sources, table, OCTOBER, groups_of([web02]), clock=CLOCK + timedelta(minutes=8))
    fresh = summarised_report(sources, table, OCTOBER, NOW, clock=CLOCK + timedelta(minutes=9), overrun_grace=GRACE)
    assert fresh.to_json() == expected
    assert "vm-web-02" in fresh.summary.still_unhealthy


def test_old_cycles_cost_nothing_when_a_cycle_is_read(storage_connection: str, unique_prefix: str) -> None:
    target = resolve_target(storage_connection)
    estate = build_estate(target, vms=100, months=3, now=NOW, prefix=unique_prefix)
    assert estate.cycle_ids == ["2026-08", "2026-09", "2026-10"]
    sources = report_sources(target, unique_prefix)
    table = SummaryTable(target, unique_prefix)
    policy = CalendarPolicy()
    for cycle_id in estate.cycle_ids:
        cycle = cycle_for_month(YearMonth.parse(cycle_id), policy)
        expected = compliance_report(sources, cycle, NOW).to_json()
        counter = RequestCounter(port=table_port(target), keep_urls=True)
        with counter.installed():
            first = summarised_report(sources, table, cycle, NOW, clock=CLOCK)
        assert first.to_json() == expected
        assert first.summary.vms == 100 and first.runs
        # computing a cycle's summaries reads its own roster and summaries, never another cycle's
        # (month-keyed tables, runs and refusals, are read for the months the cycle spans)
        others = [c for c in estate.cycle_ids if c != cycle_id]
        for url in map(unquote, counter.urls):
            if "cyclevms" in url or "summaries" in url:
                assert not any(f"eq '{o}'" in url for o in others), url
        counter = RequestCounter(port=table_port(target), keep_urls=True)
        with counter.installed():
            again = summarised_report(sources, table, cycle, NOW, clock=CLOCK + timedelta(minutes=1))
        assert again.to_json() == expected
        assert counter.requests == 1 and f"PartitionKey eq '{cycle_id}'" in unquote(counter.urls[0])


def test_a_full_refresh_drops_the_summary_of_a_group_that_holds_nothing_any_more(
    storage_connection: str, unique_prefix: str
) -> None:
    _demo_month(storage_connection, unique_prefix)
    target = resolve_target(storage_connection)
    sources = report_sources(target, unique_prefix)
    table = SummaryTable(target, unique_prefix)
    expected = compliance_report(sources, OCTOBER, NOW, overrun_grace=GRACE).to_json()
    summarised_report(sources, table, OCTOBER, NOW, clock=CLOCK, overrun_grace=GRACE)
    gone = vm_id("rg-gone", "vm-gone-01")
    ghost = {"vms": [[gone, "failed", None, "HTTP 500", None, "", "", False]], "health": [], "alerts": [],
             "sql": [], "assigned": {}, "group": [GroupKey.of(gone).subscription_id, "rg-gone"]}  # fmt: skip
    table.write("2026-10", {"g|" + "|".join(ghost["group"]): ghost}, version=SUMMARY_VERSION, computed_at=CLOCK)
    haunted = summarised_report(sources, table, OCTOBER, NOW, clock=CLOCK + timedelta(minutes=1), overrun_grace=GRACE)
    assert haunted.summary.failed == expected["summary"]["failed"] + 1  # the stored summaries are what is drawn

    refresh_summaries(sources, table, OCTOBER, None, clock=CLOCK + timedelta(minutes=2))

    assert "g|" + "|".join(ghost["group"]) not in table.names("2026-10")
    fresh = summarised_report(sources, table, OCTOBER, NOW, clock=CLOCK + timedelta(minutes=3), overrun_grace=GRACE)
    assert fresh.to_json() == expected


def test_alerts_recorded_before_the_period_index_existed_are_indexed_by_the_first_report(
    storage_connection: str, unique_prefix: str
) -> None:
    _demo_month(storage_connection, unique_prefix)
    target = resolve_target(storage_connection)
    store = AlertStore(target, unique_prefix)
    store._index_table().delete_table()  # as a store written before the index was added
    sources = report_sources(target, unique_prefix)
    expected = compliance_report(sources, OCTOBER, NOW, overrun_grace=GRACE).to_json()
    assert expected["summary"]["alerts_by_kind"]

    report = summarised_report(
        sources, SummaryTable(target, unique_prefix), OCTOBER, NOW, clock=CLOCK, overrun_grace=GRACE
    )

    assert report.to_json() == expected
    assert store.cycle_alerts(["2026-10", "2026-11"])  # the index is there now


class _ReadOnly(SummaryTable):
    """The summaries table as a caller with a reader's role sees it: every write refused."""

    def write(self, *args: object, **kwargs: object) -> int:
        from azure.core.exceptions import HttpResponseError

        error = HttpResponseError(message="This request is not authorized to perform this operation.")
        error.status_code = 403
        raise error


def test_a_caller_that_may_not_write_gets_the_report_from_the_sources(
    storage_connection: str, unique_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    _demo_month(storage_connection, unique_prefix)
    target = resolve_target(storage_connection)
    sources = report_sources(target, unique_prefix)
    expected = compliance_report(sources, OCTOBER, NOW, overrun_grace=GRACE).to_json()

    later = datetime.now(UTC) + timedelta(hours=1)  # the summaries the watchdog's run stored are stale by then
    report = summarised_report(
        sources, _ReadOnly(target, unique_prefix), OCTOBER, NOW, clock=later, overrun_grace=GRACE
    )

    assert report.to_json() == expected
    assert "could not be stored" in caplog.text


def test_a_group_refreshed_alone_reads_the_same_as_in_a_full_pass(storage_connection: str, unique_prefix: str) -> None:
    target = resolve_target(storage_connection)
    estate = build_estate(target, vms=150, now=NOW, prefix=unique_prefix, alerts=True)
    assert estate.counts["alerts_opened"] and estate.counts["health_events"] and estate.counts["sql_resources"]
    sources = report_sources(target, unique_prefix)
    table = SummaryTable(target, unique_prefix)
    refresh_summaries(sources, table, OCTOBER, None, clock=CLOCK)
    full = {name: s.payload for name, s in table.read("2026-10").items()}
    assert len([n for n in full if n.startswith("g|")]) == 3  # 150 VMs, 50 a resource group

    for name in sorted(full):
        if not name.startswith("g|"):
            continue
        group = "/".join(full[name]["group"])
        table.write("2026-10", {name: None}, version=SUMMARY_VERSION, computed_at=CLOCK)  # gone, then refreshed alone
        refresh_summaries(sources, table, OCTOBER, {group}, clock=CLOCK)
        assert table.read("2026-10", only=name)[name].payload == full[name], group
    expected = compliance_report(sources, OCTOBER, NOW).to_json()
    assert summarised_report(sources, table, OCTOBER, NOW, clock=CLOCK).to_json() == expected


def test_the_watchdog_keeps_the_summaries_of_what_changed_fresh(storage_connection: str, unique_prefix: str) -> None:
    """No manual refresh: a health event, then the next (incremental) watchdog run, and the
    report drawn from the stored summaries is the report from the sources."""
    _demo_month(storage_connection, unique_prefix)  # its watchdog run built the base: the cycle computed whole
    target = resolve_target(storage_connection)
    sources = report_sources(target, unique_prefix)
    table = SummaryTable(target, unique_prefix)
    body = (SAMPLES / "05-health-web-01-recovered.eventgrid.json").read_text()
    body = body.replace("ef516e54-b622-5ac0-9d33-035804267bff", "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    body = body.replace("vm-web-01", "vm-web-02").replace("2026-10-17T00:47:12", "2026-10-30T08:00:00")
    body = body.replace('"previousAvailabilityState": "Unavailable"', '"previousAvailabilityState": "Available"')
    body = body.replace('"availabilityState": "Available"', '"availabilityState": "Unavailable"')
    store = store_for(storage_connection, unique_prefix)
    (result,) = ingest_payload(body, source="test", store=store, policy=IngestPolicy(), now=NOW)
    assert result.outcome.value == "accepted", result.reason
    expected = compliance_report(sources, OCTOBER, NOW, overrun_grace=GRACE).to_json()
    clock = datetime.now(UTC) + timedelta(minutes=1)  # the summaries' age is by the wall clock
    stale = summarised_report(sources, table, OCTOBER, NOW, clock=clock, overrun_grace=GRACE)
    assert stale.to_json() != expected  # written by the first run, before the event

    cfg = load_settings({"ALLOWED_SUBSCRIPTION_IDS": ",".join(ALLOWED), "OUTCOMES_TABLE_PREFIX": unique_prefix})
    report = run_watchdog(alerting_for_store(cfg, store), alert_policy(cfg), now=NOW + timedelta(minutes=15))
    assert report.facts is not None and report.facts.mode == "incremental" and not report.problems
    fresh = summarised_report(sources, table, OCTOBER, NOW, clock=clock, overrun_grace=GRACE)
    assert fresh.to_json() == expected
    assert "vm-web-02" in fresh.summary.still_unhealthy
