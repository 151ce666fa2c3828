"""The ARM adapter on the real SDK clients against the loopback ARM: discovery, LROs, cancel, endpoints."""

from __future__ import annotations

import time

import pytest

from shared.adapters.arm import ArmAdapter, vm_query
from shared.adapters.retry import Pacer
from shared.config import load_settings
from shared.domain.cycle_state import InstallPlan
from shared.services.ports import FleetScope, NotAssessableError, PermanentError
from tests.support.arm_server import SUB, ArmSimulator, SimPatch, SimVm, make_fleet
from tests.support.cycle_env import FAST_RETRY
from tests.support.loopback import StaticTokenCredential

OTHER_SUB = "99999999-8888-7777-6666-555555555555"
RUN = (
    f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/"
    "patch-tuesday/providers/microsoft.maintenance/applyupdates/20260418020000"
)


def adapter(sim: ArmSimulator, **kwargs: object) -> ArmAdapter:
    return ArmAdapter(
        StaticTokenCredential(),
        arm_endpoint=sim.url,
        retry=FAST_RETRY,
        pacer=Pacer(),
        poll_fallback_seconds=0,
        **kwargs,  # type: ignore[arg-type]
    )


def test_discovery_pages_past_a_thousand_rows_across_subscriptions() -> None:
    fleet = make_fleet(2300) + make_fleet(40, subscription_id=OTHER_SUB, prefix="other")
    fleet[7].power_state = "deallocated"
    with ArmSimulator(fleet) as sim:
        vms = adapter(sim).discover(FleetScope((SUB, OTHER_SUB)))
        pages = sim.server.recorded("POST", "/providers/Microsoft.ResourceGraph/resources")
    assert len(vms) == 2340
    assert len({v.id.lower() for v in vms}) == 2340
    assert len(pages) == 3  # 1000 + 1000 + 340, each continuing with the previous $skipToken
    assert pages[1].json()["options"]["$skipToken"]
    assert pages[0].json()["options"]["$top"] == 1000
    by_name = {v.name: v for v in vms}
    assert by_name["vm00007"].power_state == "deallocated"
    assert not by_name["vm00007"].assessable
    first = by_name["vm00000"]
    assert first.power_state == "running"
    assert first.os_type == "Windows"
    assert first.patch_mode == "AutomaticByPlatform"
    assert first.hotpatch
    assert first.image_sku == "2022-datacenter-azure-edition-hotpatch"
    assert by_name["other00001"].subscription_id == OTHER_SUB


def test_discovery_is_narrowed_by_resource_group_and_tag() -> None:
    fleet = make_fleet(30)  # rg-0/1/2 round robin; tag patchwatch=yes on even VMs
    fleet.append(SimVm("no-hotpatch", "rg-1", hotpatch=False, tags={"patchwatch": "yes"}))
    fleet.append(
        SimVm("classic", "rg-1", image=("MicrosoftWindowsServer", "WindowsServer", "2019-Datacenter", "latest"),
              tags={"patchwatch": "no"})
    )  # fmt: skip
    with ArmSimulator(fleet) as sim:
        arm = adapter(sim)
        by_group = arm.discover(FleetScope((SUB,), resource_groups=("RG-1",)))
        tagged = arm.discover(FleetScope((SUB,), resource_groups=("rg-1",), tag="patchwatch=yes"))
        any_tag = arm.discover(FleetScope((SUB,), resource_groups=("rg-1",), tag="patchwatch"))
    assert {v.resource_group.lower() for v in by_group} == {"rg-1"}
    assert len(by_group) == 12
    assert {v.name for v in tagged} == {f"vm{i:05d}" for i in range(30) if i % 3 == 1 and i % 2 == 0} | {"no-hotpatch"}
    assert "classic" in {v.name for v in any_tag}
    flags = {v.name: v.hotpatch for v in any_tag}
    assert flags["no-hotpatch"] is False
    assert flags["classic"] is False


def test_the_query_quotes_what_operators_typed() -> None:
    query = vm_query(FleetScope((SUB,), resource_groups=("rg'x",), tag="owner=o'brien"))
    assert "'rg\\'x'" in query
    assert "tags['owner'] =~ 'o\\'brien'" in query


def test_an_assessment_is_started_and_resumed_from_its_token_without_waiting() -> None:
    vm = SimVm("vm1", patches=[SimPatch("5001", "Security"), SimPatch("5002", "Critical"), SimPatch("1", "Updates")])
    with ArmSimulator([vm], assess_seconds=0.3, retry_after=7) as sim:
        arm = adapter(sim)
        t0 = time.monotonic()
        started = arm.start_assessment(vm.id)
        took = time.monotonic() - t0
        assert not started.done
        assert started.token
        assert started.retry_after == 7  # the operation's Retry-After: the next look is a queue delay
        assert took < 2.0
        again = adapter(sim).resume_assessment(vm.id, started.token)  # another process, from the token alone
        assert not again.done
        time.sleep(0.35)
        done = adapter(sim).resume_assessment(vm.id, started.token)
    assert done.done
    assert done.body["status"] == "Succeeded"
    assert done.body["criticalAndSecurityPatchCount"] == 2
    assert done.body["otherPatchCount"] == 1
    assert sim.accepted_for(vm) == 1
    assert len(sim.server.recorded("GET", "/operations/")) == 2  # one look per resume, never a loop


def test_a_deallocated_vm_is_reported_not_assessable() -> None:
    vm = SimVm("sleepy", power_state="deallocated")
    with ArmSimulator([vm]) as sim:
        arm = adapter(sim)
        with pytest.raises(NotAssessableError) as err:
            arm.start_assessment(vm.id)
        assert arm.power_state(vm.id) == "deallocated"
    assert err.value.power_state == "deallocated"


def test_installation_parameters_follow_the_plan() -> None:
    vm = SimVm(
        "vm1", patches=[SimPatch("1", "Security", "NeverReboots"), SimPatch("2", "Security", "AlwaysRequiresReboot")]
    )
    plan = InstallPlan(("Critical", "Security"), "Never", True, "PT2H")
    with ArmSimulator([vm], install_seconds=0.0) as sim:
        arm = adapter(sim)
        started = arm.start_install(vm.id, plan, "Windows")
        done = arm.resume_install(vm.id, started.token) if not started.done else started
    (request,) = sim.install_requests
    assert request["maximumDuration"] == "PT2H"
    assert request["rebootSetting"] == "Never"
    assert request["windowsParameters"]["classificationsToInclude"] == ["Critical", "Security"]
    assert request["windowsParameters"]["excludeKbsRequiringReboot"] is True
    assert done.body["installedPatchCount"] == 1
    assert done.body["excludedPatchCount"] == 1


def test_a_run_lists_its_machines_and_is_cancelled_with_the_documented_call() -> None:
    fleet = make_fleet(5)
    with ArmSimulator(fleet) as sim:
        sim.add_run(RUN, [v.id for v in fleet[:3]], cutoff_in=600)
        arm = adapter(sim)
        assert arm.run_vms(RUN, (SUB,)) == sorted((v.id for v in fleet[:3]), key=str.lower)
        arm.cancel_run(RUN)
        (put,) = sim.server.recorded("PUT")
    assert put.path == RUN
    assert put.query["api-version"] == "2023-09-01-preview"
    assert put.json() == {"properties": {"status": "Cancel"}}
    assert sim.cancel_requests == [RUN]


def test_cancelling_after_the_cut_off_is_a_permanent_error_with_the_reason() -> None:
    with ArmSimulator(make_fleet(1)) as sim:
        sim.add_run(RUN, [], cutoff_in=-1)
        with pytest.raises(PermanentError) as err:
            adapter(sim).cancel_run(RUN)
        assert len(sim.server.recorded("PUT")) == 1
    assert "cut-off" in err.value.reason


def test_endpoints_come_from_settings() -> None:
    gov = ArmAdapter.from_settings(load_settings({"AZURE_CLOUD": "AzureUSGovernment"}), StaticTokenCredential())
    assert gov.arm_endpoint == "https://management.usgovcloudapi.net"
    assert gov.scope == "https://management.usgovcloudapi.net/.default"
    china = ArmAdapter.from_settings(load_settings({"AZURE_CLOUD": "AzureChinaCloud"}), StaticTokenCredential())
    assert china.arm_endpoint == "https://management.chinacloudapi.cn"
    with ArmSimulator(make_fleet(3)) as sim:
        cfg = load_settings({"ARM_ENDPOINT": sim.url + "/"})
        arm = ArmAdapter.from_settings(cfg, StaticTokenCredential(), retry=FAST_RETRY, pacer=Pacer())
        assert len(arm.discover(FleetScope((SUB,)))) == 3
        (req,) = sim.server.recorded("POST")
    assert req.headers["Authorization"] == "Bearer loopback-token"
