"""Alerts from the patch cycle's records: per-VM assessment results and findings written as the
cycle's worker writes them (the cycle store, the cycle's own finding rules on the published
assessment example), a run's VMs from its verification, health events and heartbeats."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime

import pytest

from shared.adapters.cycle_store import CycleStore, run_scope
from shared.adapters.storage import resolve_target
from shared.domain.assessment import parse_assessment
from shared.domain.calendar import YearMonth, cycle_for_month
from shared.domain.fleet import Vm
from shared.domain.hotpatch import assessment_findings, not_assessable_finding, reconcile
from shared.services.assessment import row_key, utc_text
from tests.e2e.alerting_world import CFG, SUB, World, build_arm, t, trust_all
from tests.support.alert_events import availability, maintenance, resource_health_alert
from tests.support.arm_schedules import ScheduleArm
from tests.support.azurite import Azurite
from tests.support.eventgrid_topic import EventGridTopic
from tests.support.fixtures import published
from tests.support.logs_server import LogsWorkspace

pytestmark = pytest.mark.azurite

WORKSPACE = "7c0ffee0-1111-2222-3333-444444444444"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines"
HOTPATCH_SKU = "2022-datacenter-azure-edition-hotpatch"
# (the watched configuration's May windows are reported missed alongside: no run was recorded for them)
CYCLE_KINDS = {
    "patch-failed",
    "vm-not-assessable",
    "deadline-missed",
    "baseline-missed",
    "unplanned-baseline-suspected",
}


def vm(name: str, *, hotpatch: bool = True, power: str = "running") -> Vm:
    return Vm(
        id=f"{RG}/{name}",
        name=name,
        subscription_id=SUB,
        resource_group="rg-app",
        location="westeurope",
        os_type="Windows",
        power_state=power,
        patch_mode="AutomaticByPlatform",
        hotpatch_enabled=hotpatch,
        image_publisher="MicrosoftWindowsServer",
        image_offer="WindowsServer",
        image_sku=HOTPATCH_SKU if hotpatch else "2022-datacenter",
    )


def assessment(*, status: str = "Succeeded", critical: int = 0, reboot_kb_published: str | None = None) -> dict:
    """The published assessPatches result, varied."""
    body = copy.deepcopy(published("arm/compute/VirtualMachine_AssessPatches.json")["responses"]["200"]["body"])
    body["status"] = status
    body["criticalAndSecurityPatchCount"] = critical
    body["rebootPending"] = False
    patches = []
    if reboot_kb_published:
        patches.append(
            {
                "patchId": "kb-reboot",
                # the OS cumulative update, named as Windows Update names it: only it decides a baseline
                "name": f"{reboot_kb_published[:7]} Cumulative Update for Microsoft server operating system "
                "version 21H2 for x64-based Systems (KB5066835)",
                "kbId": "5066835",
                "classifications": ["Security"],
                "rebootBehavior": "CanRequestReboot",
                "publishedDate": reboot_kb_published,
                "assessmentState": "Available",
            }
        )
    body["availablePatches"] = patches
    if status == "Failed":
        body["error"] = {"code": "VMAgentStatusCommunicationError", "message": "the VM agent did not answer"}
    return body


class Cycle:
    """Writes what the cycle's worker records for a VM: the row, the result, the findings."""

    def __init__(self, store: CycleStore, cycle_id: str, policy) -> None:
        self.store, self.cycle = store, cycle_for_month(YearMonth.parse(cycle_id), policy)

    def _row(self, scope: str, v: Vm, state: str, at: datetime, **extra) -> None:
        self.store.batch_upsert(
            "cyclevms",
            [
                {
                    "PartitionKey": scope,
                    "RowKey": row_key(v.id),
                    "ResourceId": v.id,
                    "Name": v.name,
                    "Vm": json.dumps(v.to_json(), sort_keys=True),
                    "CycleId": self.cycle.id,
                    "State": state,
                    "FinishedUtc": utc_text(at),
                    **extra,
                }
            ],
        )

    def assessed(self, v: Vm, body: dict, at: str, scope: str | None = None) -> None:
        now = t(at)
        result = parse_assessment(body)
        self._row(
            scope or self.cycle.id, v, result.state.value, now, Reason=result.error, Result=json.dumps(result.summary())
        )
        current = assessment_findings(v, result, self.cycle, now)
        previous = [f for f in self.store.findings(self.cycle.id) if f.resource_id == v.id]
        self.store.put_findings(reconcile(previous, current, now))

    def not_assessable(self, v: Vm, at: str) -> None:
        now = t(at)
        self._row(self.cycle.id, v, "not-assessable", now, Reason=f"not assessable: {v.power_state}")
        self.store.put_findings([not_assessable_finding(v, v.power_state, self.cycle, now)])


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[EventGridTopic, LogsWorkspace, ScheduleArm, dict[str, str]]]:
    with EventGridTopic() as topic, LogsWorkspace(WORKSPACE) as logs, ScheduleArm() as arm:
        databases = build_arm(arm)
        for name in ("vm-a", "vm-f"):
            arm.routes.assign(SUB, f"{RG}/{name}", CFG)
        with trust_all(topic, logs, arm):
            yield topic, logs, arm, databases


@pytest.fixture
def world(servers, azurite: Azurite, unique_prefix: str) -> World:
    topic, logs, arm, databases = servers
    topic.heal()
    topic.delivered.clear()
    logs.heartbeats.clear()
    logs.partial = False
    w = World.create(azurite.connection_string, unique_prefix, topic, logs, arm, databases)
    w.watchdog("2026-05-01T00:00:00Z")
    return w


def cycle_store(world: World) -> CycleStore:
    return CycleStore(resolve_target(world.cfg["AzureWebJobsStorage"]), world.cfg["OUTCOMES_TABLE_PREFIX"])


def test_vm_findings_of_a_hotpatch_month_become_alerts_once(world: World) -> None:
    store = cycle_store(world)
    may = Cycle(store, "2026-05", world.cfg.calendar)
    # May 2026 is a hotpatch month (release 12 May 17:00 UTC; deadline 11 June 17:00; ends 9 June 17:00).
    a, b, c, d, e = vm("vm-a"), vm("vm-b", power="deallocated"), vm("vm-c"), vm("vm-d", hotpatch=False), vm("vm-e")
    may.assessed(a, assessment(critical=1, reboot_kb_published="2026-05-12T00:00:00Z"), "2026-05-13T08:00:00Z")
    may.not_assessable(b, "2026-05-13T08:00:00Z")
    may.assessed(c, assessment(status="Failed"), "2026-05-13T08:05:00Z")
    may.assessed(d, assessment(critical=3), "2026-06-11T18:00:00Z")  # the deadline round
    may.assessed(e, assessment(critical=1, reboot_kb_published="2026-04-14T00:00:00Z"), "2026-05-13T08:10:00Z")

    world.concurrent_watchdogs("2026-05-13T09:00:00Z")
    kinds = {
        (a.key.kind.value, a.key.resource_id.rsplit("/", 1)[-1])
        for a in world.alerts()
        if a.key.kind.value in CYCLE_KINDS
    }
    assert kinds == {
        ("unplanned-baseline-suspected", SUB),
        ("patch-failed", "vm-c"),
        ("baseline-missed", "vm-e"),
    }
    (suspected,) = world.open("unplanned-baseline-suspected")
    assert suspected.key.cycle_or_run == "2026-05" and "vm-a" in suspected.message and "vm-e" not in suspected.message

    may.assessed(c, assessment(), "2026-05-16T08:00:00Z")  # the failed VM is assessed fine on the next round
    world.concurrent_watchdogs("2026-05-16T09:00:00Z")
    assert world.open("patch-failed") == []

    world.concurrent_watchdogs("2026-06-11T18:30:00Z")  # after the deadline (and May's cycle end)
    assert [a.key.resource_id for a in world.open("deadline-missed")] == [d.id]
    assert [a.key.resource_id for a in world.open("vm-not-assessable")] == [b.id]
    assert sorted(x for x in world.delivered() if "Window" not in x) == sorted(
        [
            "PatchWatch.Alert.UnplannedBaselineSuspected.Opened",
            "PatchWatch.Alert.PatchFailed.Opened",
            "PatchWatch.Alert.PatchFailed.Resolved",
            "PatchWatch.Alert.BaselineMissed.Opened",
            "PatchWatch.Alert.DeadlineMissed.Opened",
            "PatchWatch.Alert.VmNotAssessable.Opened",
        ]
    )
    data = next(e["data"] for e in world.topic.delivered if e["type"].endswith("DeadlineMissed.Opened"))
    assert data["resourceName"] == "vm-d" and data["cycleOrRun"] == "2026-05" and data["severity"] == "critical"


def test_unexpected_reboot_of_a_hotpatch_vm_and_silence_inside_its_window(world: World) -> None:
    store = cycle_store(world)
    may = Cycle(store, "2026-05", world.cfg.calendar)
    a, f = vm("vm-a"), vm("vm-f")
    may.assessed(a, assessment(), "2026-05-13T08:00:00Z")
    may.assessed(f, assessment(), "2026-05-13T08:00:00Z")
    # vm-a: Wednesday 20 May 14:00 UTC, no window; vm-f: Saturday 23 May 02:30 CEST, in its window.
    out = resource_health_alert(a.id, t("2026-05-20T14:00:00Z"), title="Rebooted by user")
    inside = resource_health_alert(f.id, t("2026-05-23T00:30:00Z"), title="Rebooted by user")
    world.deliver(out, inside, out, at="2026-05-23T00:31:00Z")
    world.concurrent_watchdogs("2026-05-23T01:00:00Z")
    (reboot,) = world.open("unexpected-reboot")
    assert reboot.key.resource_id == a.id and "2026-05-20T14:00:00Z" in reboot.message
    assert world.delivered("UnexpectedReboot") == ["PatchWatch.Alert.UnexpectedReboot.Opened"]


def test_vm_without_heartbeat_after_its_run_and_a_partial_answer_that_proves_nothing(world: World) -> None:
    store = cycle_store(world)
    a, f = vm("vm-a"), vm("vm-f")
    start, end = t("2026-05-23T00:00:00Z"), t("2026-05-23T03:55:00Z")
    pre = maintenance("pre", CFG, start, end, t("2026-05-22T23:25:00Z"), subscription=SUB)
    post = maintenance("post", CFG, start, end, t("2026-05-23T01:20:00Z"), subscription=SUB)
    may = Cycle(store, "2026-05", world.cfg.calendar)
    scope = run_scope(pre["id"])
    may.assessed(a, assessment(), "2026-05-23T01:40:00Z", scope=scope)  # the run's verification
    may.assessed(f, assessment(), "2026-05-23T01:40:00Z", scope=scope)
    world.deliver(post, pre, at="2026-05-23T01:21:00Z")
    world.logs.beat(a.id, t("2026-05-22T20:00:00Z"), t("2026-05-23T01:45:00Z"))  # back after the run
    world.logs.beat(f.id, t("2026-05-22T20:00:00Z"), t("2026-05-22T23:59:00Z"))  # silent since
    world.logs.partial, world.logs.partial_missing = True, {f.id}
    world.concurrent_watchdogs("2026-05-23T02:00:00Z")  # post 01:20 + 30 min grace
    assert world.open("unhealthy-after-maintenance") == []  # a partial answer is no evidence of absence
    world.logs.partial = False
    world.concurrent_watchdogs("2026-05-23T02:15:00Z")
    (silent,) = world.open("unhealthy-after-maintenance")
    assert silent.key.resource_id == f.id and "no heartbeat" in silent.message
    world.logs.beat(f.id, t("2026-05-23T02:20:00Z"))
    world.deliver(availability(f.id, t("2026-05-23T02:21:00Z"), "Unavailable", "Available"), at="2026-05-23T02:22:00Z")
    world.concurrent_watchdogs("2026-05-23T02:30:00Z")
    assert world.open("unhealthy-after-maintenance") == []
    assert world.delivered("Unhealthy") == [
        "PatchWatch.Alert.UnhealthyAfterMaintenance.Opened",
        "PatchWatch.Alert.UnhealthyAfterMaintenance.Resolved",
    ]
