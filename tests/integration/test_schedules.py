"""Maintenance schedules read with the real azure-mgmt-resourcegraph and azure-mgmt-maintenance
clients from a loopback ARM (Resource Graph for assignments, configurations and SQL resources;
ARM for public configurations and regions), cached on Azurite, and expanded into windows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.schedules import ScheduleCache, ScheduleReader
from shared.adapters.storage import StorageTarget
from shared.services.schedules import refresh_schedules
from tests.support.arm_schedules import ScheduleArm
from tests.support.loopback import StaticTokenCredential

pytestmark = pytest.mark.azurite

SUB = "5b4b650e-28b9-4790-b3ab-ddbd88d727c4"
CFG = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/sat-0200"
OTHER = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/denied"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm1"
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def arm() -> Iterator[ScheduleArm]:
    with ScheduleArm() as server, server.trust():
        r = server.routes
        r.add_configuration(
            CFG, recur="Week Saturday", start="2026-01-03 02:00", duration="03:55", time_zone="W. Europe Standard Time"
        )
        r.assign(SUB, VM, CFG)
        r.assign(SUB, VM, OTHER)
        r.forbidden.add(
            f"/subscriptions/{SUB}/resourcegroups/rg-ops/providers/microsoft.maintenance/maintenanceconfigurations/denied"
        )
        r.add_public(
            "SQL_EastUS_DB_1",
            recur="Week Monday,Tuesday,Wednesday,Thursday",
            start="2020-01-01 22:00",
            duration="08:00",
            time_zone="Eastern Standard Time",
            location="eastus",
        )
        # the published database names SQL_SouthEastAsia_1, a name the built-in catalog does not know
        r.add_public(
            "SQL_SouthEastAsia_1",
            recur="Week Monday,Tuesday,Wednesday,Thursday",
            start="2020-01-01 22:00",
            duration="08:00",
            time_zone="Singapore Standard Time",
            location="southeastasia",
        )
        r.add_database(SUB, "rg-data", "sql-east", "orders", location="eastus", configuration="SQL_EastUS_DB_1")
        r.add_database(
            SUB, "rg-data", "sql-sea", "testdb", location="southeastasia", configuration="SQL_SouthEastAsia_1"
        )
        r.add_database(SUB, "rg-data", "sql-east", "scratch", location="eastus", configuration="SQL_Default")
        r.add_managed_instance(SUB, "rg-data", "mi-jp", location="japaneast", configuration="SQL_JapanEast_MI_2")
        yield server


def test_refresh_reads_arm_caches_and_expands_windows(
    arm: ScheduleArm, storage_connection: str, unique_prefix: str
) -> None:
    reader = ScheduleReader(StaticTokenCredential(), arm.url)
    cache = ScheduleCache(StorageTarget(connection_string=storage_connection), unique_prefix)
    report = refresh_schedules(reader, cache, watched=[CFG], subscriptions=[SUB], now=NOW)
    assert report.sql_resources == 4 and report.assignments == 2
    assert len(report.errors) == 2  # the denied configuration, and SQL_JapanEast_MI_2 not published here
    assert any("denied" in e and "AuthorizationFailed" in e for e in report.errors)

    cached = cache.load([CFG])
    (watched,) = cached.watched
    assert watched.watched_since == NOW
    saturday = watched.schedule.windows_between(datetime(2026, 4, 18, tzinfo=UTC), datetime(2026, 4, 19, tzinfo=UTC))
    assert [(w.start_utc.hour, w.end_utc.hour, w.end_utc.minute) for w in saturday] == [(0, 3, 55)]  # 02:00 CEST
    assert set(cached.vm_schedules) == {VM.lower()}

    windows = {rid.rsplit("/", 1)[-1]: rw for rid, rw in cached.sql_windows.items()}
    assert windows["orders"].configuration == "SQL_EastUS_DB_1"
    # what Azure said, durations written HH:MM:SS: 22:00-06:00 Singapore time = 14:00-22:00 UTC
    (sea,) = windows["testdb"].schedule.windows_between(
        datetime(2026, 4, 20, 12, tzinfo=UTC), datetime(2026, 4, 21, tzinfo=UTC)
    )
    assert (sea.start_utc.hour, sea.end_utc.hour) == (14, 22)
    # SQL_Default follows the database's region: 17:00-08:00 New York time
    (default,) = windows["scratch"].schedule.windows_between(
        datetime(2026, 4, 20, 12, tzinfo=UTC), datetime(2026, 4, 21, 12, tzinfo=UTC)
    )
    assert default.start_local.hour == 17 and default.time_zone == "America/New_York"
    # the published managed instance sits in an instance pool: it cannot choose a window, whatever
    # configuration it names, so it is judged against SQL_Default in Japan East's local time
    assert windows["mi-jp"].configuration == "SQL_Default"
    (mi,) = windows["mi-jp"].schedule.windows_between(
        datetime(2026, 4, 20, 12, tzinfo=UTC), datetime(2026, 4, 21, 12, tzinfo=UTC)
    )
    assert (mi.time_zone, mi.start_local.hour) == ("Asia/Tokyo", 17)


def test_a_later_refresh_keeps_when_watching_began_and_the_claim_is_taken_once(
    arm: ScheduleArm, storage_connection: str, unique_prefix: str
) -> None:
    reader = ScheduleReader(StaticTokenCredential(), arm.url)
    cache = ScheduleCache(StorageTarget(connection_string=storage_connection), unique_prefix)
    assert cache.claim_refresh(NOW)
    assert not cache.claim_refresh(NOW + timedelta(minutes=15))
    refresh_schedules(reader, cache, watched=[CFG], subscriptions=[SUB], now=NOW)
    later = NOW + timedelta(hours=13)
    assert cache.claim_refresh(later)
    assert not cache.claim_refresh(later)
    refresh_schedules(reader, cache, watched=[CFG], subscriptions=[SUB], now=later)
    (watched,) = cache.load([CFG]).watched
    assert watched.watched_since == NOW


def test_unwatched_configuration_is_known_but_not_watched(
    arm: ScheduleArm, storage_connection: str, unique_prefix: str
) -> None:
    reader = ScheduleReader(StaticTokenCredential(), arm.url)
    cache = ScheduleCache(StorageTarget(connection_string=storage_connection), unique_prefix)
    refresh_schedules(reader, cache, watched=[], subscriptions=[SUB], now=NOW)
    cached = cache.load([])
    assert cached.watched == [] and CFG.lower() in cached.configurations


def test_sql_default_is_judged_in_every_region_from_azures_region_metadata(
    arm: ScheduleArm, storage_connection: str, unique_prefix: str
) -> None:
    r = arm.routes
    r.add_region("italynorth", "Italy North", "45.46888", "9.18109")  # Milan: not in the 24-region catalog
    r.add_region("newzealandnorth", "New Zealand North", "-36.84853", "174.76349")  # Auckland
    italy = r.add_database(SUB, "rg-data", "sql-it", "ordini", location="italynorth", configuration="SQL_Default")
    nz = r.add_database(SUB, "rg-data", "sql-nz", "orders", location="newzealandnorth", configuration="SQL_Default")
    nowhere = r.add_database(SUB, "rg-data", "sql-x", "x", location="marsnorth", configuration="SQL_Default")
    reader = ScheduleReader(StaticTokenCredential(), arm.url)
    cache = ScheduleCache(StorageTarget(connection_string=storage_connection), unique_prefix)
    report = refresh_schedules(reader, cache, watched=[CFG], subscriptions=[SUB], now=NOW)
    assert report.regions == 4  # the published East US and East US 2, and the two added
    zones = cache.region_zones()
    assert (zones["eastus"], zones["eastus2"]) == ("America/New_York", "America/New_York")
    windows = cache.load([CFG]).sql_windows
    (it,) = windows[italy.lower()].schedule.windows_between(
        datetime(2026, 4, 20, 12, tzinfo=UTC), datetime(2026, 4, 21, 12, tzinfo=UTC)
    )
    assert (it.time_zone, it.start_local.hour, it.start_utc.hour, it.end_local.hour) == ("Europe/Rome", 17, 15, 8)
    (auck,) = windows[nz.lower()].schedule.windows_between(
        datetime(2026, 4, 20, 0, tzinfo=UTC), datetime(2026, 4, 21, 0, tzinfo=UTC)
    )
    assert (auck.time_zone, auck.start_utc.hour) == ("Pacific/Auckland", 5)  # 17:00 NZST = 05:00 UTC
    assert nowhere.lower() not in windows  # no such region: not judged against a guessed zone


def test_a_refresh_writes_only_what_changed_and_says_what(
    arm: ScheduleArm, storage_connection: str, unique_prefix: str
) -> None:
    writes: list[str] = []

    def hook(response: object) -> None:
        request = response.http_request  # type: ignore[attr-defined]
        if request.method != "GET":
            writes.append(f"{request.method} {request.url}")

    reader = ScheduleReader(StaticTokenCredential(), arm.url)
    target = StorageTarget(connection_string=storage_connection)
    cache = ScheduleCache(target, unique_prefix, {"raw_response_hook": hook})
    first = refresh_schedules(reader, cache, watched=[CFG], subscriptions=[SUB], now=NOW)
    assert first.placements_written and CFG.lower() in first.changed_configurations
    assert VM.lower() in first.changed_resources
    assert len(writes) <= 4  # the table, the configurations (one transaction), the snapshot (one transaction)

    writes.clear()
    again = refresh_schedules(reader, cache, watched=[CFG], subscriptions=[SUB], now=NOW + timedelta(hours=13))
    assert (again.changed_configurations, again.changed_resources, again.placements_written) == (set(), set(), False)
    assert writes == []  # nothing changed, nothing written

    # the configuration moves to Sunday: it, and the machine that follows it, changed
    arm.routes.update_manager[CFG.lower()]["properties"]["maintenanceWindow"]["recurEvery"] = "Week Sunday"
    moved = refresh_schedules(reader, cache, watched=[CFG], subscriptions=[SUB], now=NOW + timedelta(hours=26))
    assert moved.changed_configurations == {CFG.lower()}
    assert moved.changed_resources == {VM.lower()}
    (watched,) = cache.load([CFG]).watched
    assert watched.watched_since == NOW  # still watched since the first refresh
    assert watched.schedule.windows_between(datetime(2026, 4, 18, tzinfo=UTC), datetime(2026, 4, 19, tzinfo=UTC)) == []

    # a new database names a configuration: it is a changed resource; nothing else is
    db = arm.routes.add_database(
        SUB, "rg-data", "sql-east", "billing", location="eastus", configuration="SQL_EastUS_DB_1"
    )
    added = refresh_schedules(reader, cache, watched=[CFG], subscriptions=[SUB], now=NOW + timedelta(hours=39))
    assert (added.changed_resources, added.changed_configurations) == ({db.lower()}, set())


def test_a_snapshot_larger_than_one_transaction_is_stored_and_read_back_whole(
    storage_connection: str, unique_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    monkeypatch.setattr("shared.adapters.schedules.TRANSACTION_BYTES", 500_000)  # 4 MiB, scaled to the test

    from shared.adapters.schedules import PLACEMENTS, PlacementSnapshot
    from shared.services.ports.schedules import Assignment

    cache = ScheduleCache(StorageTarget(connection_string=storage_connection), unique_prefix)
    # random names: next to incompressible, so the snapshot spans several rows and transactions
    machines = [
        f"/subscriptions/{SUB}/resourceGroups/rg-{i % 50}/providers/Microsoft.Compute/virtualMachines/{secrets.token_hex(24)}"
        for i in range(40_000)
    ]
    big = PlacementSnapshot(
        assignments=[Assignment(m, CFG) for m in machines], region_zones={"eastus": "America/New_York"}
    )
    assert cache.put_placements(big, NOW)
    head = cache.table.get_entity(PLACEMENTS, "head")
    assert head["Chunks"] >= 2  # rows of ~880 KB on the wire: one transaction each
    assert cache.placements() == big or cache.placements().digest() == big.digest()  # type: ignore[union-attr]
    assert not cache.put_placements(big, NOW)  # unchanged: not written again
    small = PlacementSnapshot(assignments=[Assignment(VM, CFG)])
    assert cache.put_placements(small, NOW)
    assert cache.placements().digest() == small.digest()  # type: ignore[union-attr]
    rows = list(cache.table.query_entities("PartitionKey eq @pk", parameters={"pk": PLACEMENTS}))
    assert sorted(r["RowKey"] for r in rows) == ["chunk-0000", "head"]  # the longer snapshot's rows are gone
