"""A machine's own latest assessment, read from Resource Graph records, gives the result an
assessPatches call gives (the published example, as Resource Graph holds it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from shared.domain.assessment import parse_assessment
from shared.domain.assessment_graph import assessments_from_rows, machine_of, path_of, periodic_assessment_on
from shared.domain.fleet import Vm
from tests.support.fixtures import published

ROWS = json.loads(
    (Path(__file__).parents[1] / "fixtures/resource_graph/patchassessmentresources_myVMName.json").read_text()
)
VM = "/subscriptions/{subscription-id}/resourceGroups/myResourceGroupName/providers/Microsoft.Compute/virtualMachines/myVMName"


def test_the_records_of_the_published_assessment_give_the_published_result() -> None:
    body = published("arm/compute/VirtualMachine_AssessPatches.json")["responses"]["200"]["body"]
    (found,) = assessments_from_rows(ROWS["summaries"], ROWS["softwarepatches"]).values()
    assert found.machine_id == VM
    assert found.result().summary() == parse_assessment(body).summary()
    assert found.result().patches == parse_assessment(body).patches
    assert found.result().reboot_pending  # the example's pending reboot


def test_fresh_only_when_finished_usable_and_made_after_the_release() -> None:
    (found,) = assessments_from_rows(ROWS["summaries"], ROWS["softwarepatches"]).values()
    assert found.fresh_for(datetime(2020, 4, 14, 17, tzinfo=UTC))  # April 2020's release
    assert not found.fresh_for(datetime(2020, 5, 12, 17, tzinfo=UTC))  # older than May's
    failed = {**ROWS["summaries"][0], "properties": {**ROWS["summaries"][0]["properties"], "status": "Failed"}}
    (stale,) = assessments_from_rows([failed], []).values()
    assert not stale.fresh_for(datetime(2020, 4, 14, 17, tzinfo=UTC))


def test_records_belong_to_their_machine_whatever_the_case() -> None:
    arc = "/subscriptions/s/resourceGroups/rg1/providers/Microsoft.HybridCompute/machines/SQL01"
    assert machine_of(arc + "/patchAssessmentResults/latest/softwarePatches/kb5031364") == arc
    assert machine_of(VM.lower() + "/patchassessmentresults/latest") == VM.lower()
    assert machine_of(VM) == ""
    orphan = [{"id": arc + "/patchAssessmentResults/latest/softwarePatches/x", "properties": {"patchName": "x"}}]
    assert assessments_from_rows([], orphan) == {}


def test_which_machines_assess_on_their_own() -> None:
    def vm(rid: str, mode: str) -> Vm:
        return Vm(rid, rid.rsplit("/", 1)[-1], "s", "rg", assessment_mode=mode)

    base = "/subscriptions/s/resourceGroups/rg/providers/"
    assert periodic_assessment_on(vm(base + "Microsoft.Compute/virtualMachines/a", "AutomaticByPlatform"))
    assert periodic_assessment_on(vm(base + "Microsoft.HybridCompute/machines/b", "AutomaticByPlatform"))
    assert not periodic_assessment_on(vm(base + "Microsoft.Compute/virtualMachines/c", "ImageDefault"))
    assert not periodic_assessment_on(vm(base + "Microsoft.Compute/virtualMachineScaleSets/d", "AutomaticByPlatform"))
    assert (path_of("succeeded", ""), path_of("not-assessable", ""), path_of("failed", "resource-graph")) == (
        "assessPatches",
        "",
        "resource-graph",
    )


def test_without_a_stated_status_the_error_details_decide() -> None:
    props = {k: v for k, v in ROWS["summaries"][0]["properties"].items() if k != "status"}
    (clean,) = assessments_from_rows([{**ROWS["summaries"][0], "properties": props}], []).values()
    errored = {**props, "errorDetails": {"code": "AssessmentFailed", "message": "Windows Update is unreachable"}}
    (failed,) = assessments_from_rows([{**ROWS["summaries"][0], "properties": errored}], []).values()
    assert (clean.status, failed.status) == ("Succeeded", "Failed")
    assert failed.result().error == "AssessmentFailed: Windows Update is unreachable"
    assert not failed.fresh_for(datetime(2020, 4, 14, 17, tzinfo=UTC))
