"""``plan --fleet``: the roster a cycle would assess and what it expects, read-only, from the real client."""

from __future__ import annotations

import json

import pytest

from shared.cli import main as cli
from shared.config import settings
from tests.support.arm_server import SUB, ArmSimulator, SimVm, make_fleet
from tests.support.loopback import StaticTokenCredential


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    fleet = make_fleet(6)
    fleet[4].power_state = "deallocated"
    fleet.append(SimVm("classic", "rg-1", hotpatch=False, tags={"patchwatch": "yes"},
                       image=("MicrosoftWindowsServer", "WindowsServer", "2019-Datacenter", "latest")))  # fmt: skip
    with ArmSimulator(fleet) as sim:
        monkeypatch.setenv("ARM_ENDPOINT", sim.url)
        monkeypatch.setenv("TARGET_SUBSCRIPTION_IDS", SUB)
        monkeypatch.setenv("TARGET_TAG", "patchwatch=yes")
        credential = StaticTokenCredential()
        monkeypatch.setattr("shared.adapters.identity.credential", lambda: credential)
        settings.cache_clear()
        yield sim
    settings.cache_clear()


def test_plan_fleet_lists_the_roster_and_expectations_without_writing(
    arm: ArmSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["plan", "--month", "2026-05", "--fleet", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["month"] == "2026-05" and data["cycle_kind"] == "hotpatch"
    assert data["scope"] == {"subscriptions": [SUB], "resource_groups": [], "tag": "patchwatch=yes"}
    names = {v["name"]: v for v in data["fleet"]}
    assert set(names) == {"vm00000", "vm00002", "vm00004", "classic"}  # the tag narrowed it
    assert data["counts"] == {
        "vms": 4,
        "assess": 3,
        "not_assessable": 1,
        "hotpatch": 3,
        "reboot_expected": 1,
        "arc": 0,
        "dynamically_scoped": 0,
        "configuration_findings": 0,
        "resource_graph_when_fresh": 3,  # periodic assessment on: read from Resource Graph when fresh
    }
    assert (names["vm00000"]["assessment_path"], names["vm00004"]["assessment_path"]) == ("resource-graph", "")
    assert names["vm00004"]["expectation"].startswith("not assessable: deallocated")
    assert names["vm00000"]["reboot_expected"] is False and names["vm00000"]["hotpatch"] is True
    assert names["classic"]["reboot_expected"] is True
    assert {(r.method, r.path) for r in arm.server.requests} == {  # read-only: a query and a listing
        ("POST", "/providers/Microsoft.ResourceGraph/resources"),
        ("GET", f"/subscriptions/{SUB}/providers/Microsoft.Maintenance/configurationAssignments"),
    }


def test_plan_fleet_prints_a_table(arm: ArmSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["plan", "--month", "2026-04", "--fleet"]) == 0
    out = capsys.readouterr().out
    assert "Cycle 2026-04 (planned-baseline): 4 VMs in scope, 3 to assess, 1 not assessable" in out
    assert "takes the baseline, reboot expected" in out


def test_plan_fleet_without_subscriptions_says_what_to_set(
    arm: ArmSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TARGET_SUBSCRIPTION_IDS", "")
    assert cli(["plan", "--month", "2026-05", "--fleet"]) == 2
    assert "TARGET_SUBSCRIPTION_IDS" in capsys.readouterr().err
    assert arm.server.requests == []


CFG = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/sat"


def test_plan_fleet_shows_arc_machines_dynamic_scopes_and_configuration_findings(
    arm: ArmSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TARGET_TAG", "")
    arc = arm.add(SimVm("edge-01", "rg-edge", kind="arc", hotpatch=False, tags={"patch": "sat"},
                        image=("", "", "", "")))  # fmt: skip
    arm.add(SimVm("scale-01", "rg-edge", kind="vmss"))  # not a machine discovery lists
    scope = arm.schedules.assign_dynamic(
        SUB, "sat-edge", CFG, {"resourceTypes": ["Microsoft.HybridCompute/machines"], "resourceGroups": ["rg-edge"]}
    )
    arm.schedules.assign(SUB, arm.vm("classic").id, CFG)  # a direct assignment; classic has no bypass flag
    assert cli(["plan", "--month", "2026-05", "--fleet", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by = {m["name"]: m for m in data["fleet"]}
    assert by["edge-01"]["kind"] == "arc-server" and by["edge-01"]["type"] == "microsoft.hybridcompute/machines"
    assert by["edge-01"]["id"] == arc.id and by["edge-01"]["power_state"] == "connected"
    assert (by["edge-01"]["assignments"], by["edge-01"]["dynamic_scopes"]) == ([CFG], [scope])
    assert by["vm00000"]["kind"] == "azure-vm" and by["vm00000"]["assignments"] == []
    assert "scale-01" not in by
    (finding,) = by["classic"]["configuration_findings"]
    assert finding["code"] == "schedule-bypass-off"
    assert finding["property"] == (
        "properties.osProfile.windowsConfiguration.patchSettings.automaticByPlatformSettings"
        ".bypassPlatformSafetyChecksOnUserSchedule"
    )
    assert (data["counts"]["arc"], data["counts"]["dynamically_scoped"], data["counts"]["configuration_findings"]) == (
        1, 1, 1,
    )  # fmt: skip
    assert data["notes"] == []
    assert {r.method for r in arm.server.requests} == {"GET", "POST"}
    assert all(r.method == "GET" or "ResourceGraph" in r.path for r in arm.server.requests)  # nothing written
    assert arm.violations == []


def test_plan_fleet_says_once_that_azure_government_has_no_hotpatch(
    arm: ArmSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AZURE_CLOUD", "AzureUSGovernment")
    assert cli(["plan", "--month", "2026-05", "--fleet", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["notes"] == ["hotpatch is not offered in AzureUSGovernment: no machine is treated as hotpatch-enrolled"]
    assert data["counts"]["hotpatch"] == 0
