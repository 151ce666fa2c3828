"""Azure VMs and Arc-enabled servers each through their own patch operations; anything else
in a run (a scale set) is listed as not handled, never sent to another type's API.

The loopback ARM fails a test whose requests reach ``Microsoft.Compute/virtualMachines/<name>``
for a machine that is not an Azure VM (see ``ArmSimulator.violations``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.domain.cycle_state import InstallPlan
from shared.services.cycle import summary
from shared.services.maintenance import execute_actions, verification
from tests.support.arm_server import ArmSimulator, SimPatch, SimVm
from tests.support.cycle_env import cycle_env

pytestmark = pytest.mark.azurite

MAY_2026 = datetime(2026, 5, 12, 18, 30, tzinfo=UTC)
CYCLE = "2026-05"
LINUX = ("Canonical", "ubuntu-24_04-lts", "server", "latest")


def same_named_fleet() -> list[SimVm]:
    """One name, three machine types in one resource group, and a disconnected Arc server."""
    security = [SimPatch("5058411", "Security", "NeverReboots", "2026-05-12T00:00:00Z")]
    return [
        SimVm("web-01", patches=list(security)),
        SimVm("web-01", kind="arc", hotpatch=False, patches=[*security, SimPatch("1", "Update Rollups")]),
        SimVm("web-01", kind="vmss"),
        SimVm("arc-off", kind="arc", power_state="disconnected", os_type="Linux", image=LINUX, hotpatch=False),
    ]


def test_a_cycle_assesses_each_machine_through_its_own_api_and_lists_the_rest(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = same_named_fleet()
    vm, arc, _, arc_off = fleet
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env,
    ):
        env.tick()
        env.drain()
        rows = {r["ResourceId"]: r for r in env.store.vm_rows(CYCLE)}
        state = summary(env.deps, CYCLE)
    # Discovery lists Azure VMs and Arc servers (Resource Graph: both types), keyed by full id
    assert set(rows) == {vm.id, arc.id, arc_off.id}
    assert sim.accepted_for(vm) == 1 and sim.accepted_for(arc) == 1 and sim.accepted_for(arc_off) == 0
    assert len(sim.server.recorded("POST", "Microsoft.HybridCompute/machines/web-01/assessPatches")) == 1
    assert len(sim.server.recorded("POST", "Microsoft.Compute/virtualMachines/web-01/assessPatches")) == 1
    assert sim.violations == []
    arc_result = json.loads(rows[arc.id]["Result"])  # the Arc answer: counts by classification
    assert (arc_result["critical_and_security"], arc_result["other"]) == (1, 1)
    assert json.loads(rows[arc.id]["Vm"])["power_state"] == "connected"
    assert rows[arc_off.id]["State"] == "not-assessable"
    assert rows[arc_off.id]["Reason"] == "not assessable: disconnected"
    assert state["states"] == {"not-assessable": 1, "succeeded": 2}


def test_a_run_with_a_scale_set_verifies_vm_and_arc_and_lists_the_scale_set_as_not_handled(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = same_named_fleet()
    vm, arc, vmss, _ = fleet
    run = (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/rg-app/providers/"
        "microsoft.maintenance/maintenanceconfigurations/mc-web/providers/microsoft.maintenance/applyupdates/"
        "20260516020000"
    )
    with ArmSimulator(fleet) as sim:
        sim.add_run(run, [vm.id, arc.id, vmss.id])
        with cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env:
            (result,) = execute_actions(
                env.deps, [{"action": "verify-run", "key": "verify-run|k1", "correlation_id": run}], now=MAY_2026
            )
            env.drain()
            verified = verification(env.deps, run)
    assert result["machines"] == 3 and result["queued"] == 2
    states = {m["id"]: (m["state"], m["reason"]) for m in verified["machines"]}
    assert states == {
        vm.id: ("succeeded", ""),
        arc.id: ("succeeded", ""),
        vmss.id: ("not-handled", "not handled: microsoft.compute/virtualmachinescalesets"),
    }
    assert not [r for r in sim.server.requests if "virtualMachineScaleSets" in r.path]
    assert sim.violations == []


def test_an_arc_installation_goes_to_hybrid_compute_with_the_plan(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = same_named_fleet()
    arc = fleet[1]
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env,
    ):
        plan = InstallPlan(("Critical", "Security"), "IfRequired", False, "PT2H")
        step = env.deps.arm.start_install(arc.id, plan, "Windows")
        while not step.done:
            step = env.deps.arm.resume_install(arc.id, step.token)
    assert step.body["installedPatchCount"] == 1 and step.body["status"] == "Succeeded"
    (request,) = sim.install_requests
    assert request["vm"] == arc.id
    assert request["windowsParameters"]["classificationsToInclude"] == ["Critical", "Security"]
    assert [p.kb for p in arc.patches] == ["1"]  # the Security patch was installed on the Arc server
    assert sim.accepted_for(fleet[0], "install") == 0


def test_the_loopback_arm_fails_a_test_that_sends_an_arc_server_to_the_vm_api(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    arc = SimVm("only-arc", kind="arc")
    violation = r"not Azure VMs: POST .*virtualMachines/only-arc/assessPatches"
    with (
        pytest.raises(AssertionError, match=violation),
        ArmSimulator([arc]) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=MAY_2026) as env,
    ):
        vms = env.deps.arm.compute(arc.subscription_id).virtual_machines  # what the old code did
        with pytest.raises(ResourceNotFoundError):
            vms.begin_assess_patches(arc.resource_group, arc.name).result()


def test_remediation_installs_on_an_arc_server_and_an_azure_vm_of_the_same_name_each_through_its_own_api(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    from datetime import timedelta

    from shared.domain.calendar import CalendarPolicy, YearMonth, cycle_for_month

    deadline = cycle_for_month(YearMonth(2026, 5), CalendarPolicy(deadline_days=10)).install_deadline_utc
    late = [SimPatch("5058801", "Security", "NeverReboots", "2026-05-12T00:00:00Z")]
    fleet = [SimVm("late-01", patches=list(late)), SimVm("late-01", kind="arc", hotpatch=False, patches=list(late))]
    vm, arc = fleet
    with ArmSimulator(fleet, install_seconds=0.05) as sim, cycle_env(
        monkeypatch, storage_connection, unique_prefix, sim, now=deadline + timedelta(minutes=5),
        INSTALL_DEADLINE_DAYS="10", REMEDIATE_AFTER_DEADLINE="true",
    ) as env:  # fmt: skip
        env.tick()
        env.drain()
        rows = {r["ResourceId"]: r for r in env.store.vm_rows("2026-05")}
    assert sorted(r["vm"] for r in sim.install_requests) == sorted([vm.id, arc.id])
    assert len(sim.server.recorded("POST", "Microsoft.HybridCompute/machines/late-01/installPatches")) == 1
    assert len(sim.server.recorded("POST", "Microsoft.Compute/virtualMachines/late-01/installPatches")) == 1
    assert {rows[vm.id]["IState"], rows[arc.id]["IState"]} == {"succeeded"}
    assert arc.patches == [] and vm.patches == []
    assert sim.violations == []
