"""Dynamic scopes: subscription- and resource-group-level configuration assignments with a
``filter``, read with the real azure-mgmt-maintenance client and resolved to machines through
Resource Graph (paged, the filter in the query), from the published example."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.report_sources import Placements
from shared.adapters.schedules import ScheduleCache, ScheduleReader
from shared.adapters.storage import StorageTarget
from shared.services.schedules import refresh_schedules
from tests.support.arm_server import SUB, ArmSimulator, SimVm
from tests.support.fixtures import published
from tests.support.loopback import StaticTokenCredential

pytestmark = pytest.mark.azurite

CFG = f"/subscriptions/{SUB}/resourcegroups/examplerg/providers/Microsoft.Maintenance/maintenanceConfigurations/configuration1"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LINUX = ("Canonical", "ubuntu-24_04-lts", "server", "latest")
#: The published example's filter: VMs and Arc servers in RG1/RG2, Japan East or UK South,
#: tag1 or tag2 (Any) with one of the listed values.
PUBLISHED_FILTER = published("arm/maintenance/ConfigurationAssignmentsForSubscriptions_CreateOrUpdate.json")[
    "responses"
]["200"]["body"]["properties"]["filter"]


def fleet() -> list[SimVm]:
    return [
        SimVm("in-vm", "RG1", location="japaneast", tags={"tag1": "tag1Value2"}),
        SimVm("in-arc", "rg2", location="uksouth", tags={"tag2": "tag2Value3"}, kind="arc"),
        SimVm("in-both", "RG2", location="japaneast", tags={"tag1": "tag1Value1", "tag2": "tag2Value1"}),
        SimVm("wrong-tag", "RG1", location="japaneast", tags={"tag1": "other"}),
        SimVm("wrong-place", "RG1", location="westeurope", tags={"tag1": "tag1Value1"}),
        SimVm("wrong-group", "rg3", location="uksouth", tags={"tag1": "tag1Value1"}),
        SimVm("a-scale-set", "RG1", location="uksouth", tags={"tag1": "tag1Value1"}, kind="vmss"),
    ]


@pytest.fixture
def sim() -> Iterator[ArmSimulator]:
    with ArmSimulator(fleet(), page_size=2) as sim:
        sim.schedules.add_configuration(
            CFG, recur="Week Saturday", start="2026-01-03 02:00", duration="03:55", time_zone="Tokyo Standard Time"
        )
        yield sim


def _refresh(sim: ArmSimulator, cache: ScheduleCache, now: datetime = NOW):  # type: ignore[no-untyped-def]
    reader = ScheduleReader(StaticTokenCredential(), sim.url)
    return refresh_schedules(reader, cache, watched=[CFG], subscriptions=[SUB], now=now)


def test_the_published_dynamic_scope_resolves_to_its_machines_and_their_window(
    sim: ArmSimulator, storage_connection: str, unique_prefix: str
) -> None:
    sim.schedules.assign_dynamic(SUB, "workervmConfiguration", CFG)  # the published filter, unchanged
    cache = ScheduleCache(StorageTarget(connection_string=storage_connection), unique_prefix)
    report = _refresh(sim, cache)
    assert report.errors == []
    assert (report.dynamic_scopes, report.scoped_machines) == (1, 3)
    ids = {v.name: v.id for v in sim.vms.values()}
    cached = cache.load([CFG])
    assert set(cached.vm_schedules) == {ids["in-vm"].lower(), ids["in-arc"].lower(), ids["in-both"].lower()}
    (schedule,) = cached.vm_schedules[ids["in-arc"].lower()]
    (window,) = schedule.windows_between(datetime(2026, 5, 15, tzinfo=UTC), datetime(2026, 5, 17, tzinfo=UTC))
    assert (window.start_utc.day, window.start_utc.hour) == (15, 17)  # Saturday 02:00 Tokyo = Friday 17:00 UTC
    # the report places them under their configuration; the subscription itself is not a machine
    placed = Placements(StorageTarget(connection_string=storage_connection), unique_prefix).assignments()
    assert sorted(placed[CFG.lower()]) == sorted([ids["in-vm"], ids["in-arc"], ids["in-both"]])
    # Resource Graph did the narrowing, page by page: the filter is in the query
    recorded = [json.loads(r.body) for r in sim.server.recorded("POST", "Microsoft.ResourceGraph")]
    queries = [q for q in recorded if "tags['tag1']" in q["query"]]
    assert len(queries) == 2  # three machines, pages of two
    # the rest of the refresh is one paged query each: assignments, configurations, SQL resources
    assert len(recorded) == 5
    assert not sim.server.recorded("GET", "configurationAssignments")
    query = queries[0]["query"]
    assert queries[0]["subscriptions"] == [SUB]
    assert "location in~ ('japaneast', 'uksouth')" in query
    assert "resourceGroup in~ ('RG1', 'RG2')" in query
    assert (
        "(tostring(tags['tag1']) in~ ('tag1Value1', 'tag1Value2', 'tag1Value3')) or (tostring(tags['tag2']) in~"
        in query
    )


def test_all_tags_os_types_and_a_resource_group_scope_and_members_that_leave(
    sim: ArmSimulator, storage_connection: str, unique_prefix: str
) -> None:
    narrowed = {
        "resourceTypes": ["Microsoft.Compute/virtualMachines"],
        "osTypes": ["Windows"],
        "tagSettings": {"tags": {"tag1": ["tag1Value1"], "tag2": ["tag2Value1"]}, "filterOperator": "All"},
    }
    assignment = sim.schedules.assign_dynamic(SUB, "rg2-all", CFG, narrowed, resource_group="RG2")
    sim.add(SimVm("in-both-linux", "RG2", location="japaneast", os_type="Linux", image=LINUX,
                  tags={"tag1": "tag1Value1", "tag2": "tag2Value1"}))  # fmt: skip
    cache = ScheduleCache(StorageTarget(connection_string=storage_connection), unique_prefix)
    report = _refresh(sim, cache)
    both = sim.vm("in-both")
    assert (report.errors, report.scoped_machines) == ([], 1)
    assert set(cache.load([CFG]).vm_schedules) == {both.id.lower()}
    assert cache.scope_assignments()[both.id.lower()] == [(CFG, assignment)]
    assert report.changed_resources == {both.id.lower()} and report.changed_configurations == {CFG.lower()}
    unchanged = _refresh(sim, cache, NOW + timedelta(hours=13))
    assert (unchanged.changed_resources, unchanged.changed_configurations) == (set(), set())
    assert not unchanged.placements_written
    both.tags = {"tag1": "tag1Value1"}  # no longer carries both tags: it leaves the scope
    report = _refresh(sim, cache, NOW + timedelta(hours=26))
    assert report.scoped_machines == 0
    assert report.changed_resources == {both.id.lower()} and report.changed_configurations == set()
    assert cache.load([CFG]).vm_schedules == {}
