"""Dynamic scopes from the published subscription-level assignment: what the filter selects,
and the Resource Graph query it becomes."""

from __future__ import annotations

import pytest

from shared.adapters.arm import dynamic_scope_query
from shared.domain.fleet import MachineKind, machine_kind, resource_type_of
from shared.domain.scope import DynamicScope, ScopeError, is_scope_assignment
from tests.support.fixtures import published

EXAMPLE = published("arm/maintenance/ConfigurationAssignmentsForSubscriptions_CreateOrUpdate.json")["responses"]["200"][
    "body"
]


def test_the_published_filter_becomes_a_scope() -> None:
    props = EXAMPLE["properties"]
    scope = DynamicScope.from_assignment(
        EXAMPLE["id"], props["maintenanceConfigurationId"], props["resourceId"], props["filter"]
    )
    assert scope.subscription_id == "5b4b650e-28b9-4790-b3ab-ddbd88d727c4" and scope.resource_group == ""
    assert scope.resource_types == ("microsoft.hybridcompute/machines", "microsoft.compute/virtualmachines")
    assert scope.locations == ("japaneast", "uksouth")  # "Japan East" as resources carry it
    assert scope.tag_operator == "Any" and dict(scope.tags)["tag1"] == ("tag1Value1", "tag1Value2", "tag1Value3")
    query = dynamic_scope_query(scope)
    assert "| where subscriptionId =~ '5b4b650e-28b9-4790-b3ab-ddbd88d727c4'" in query
    assert (
        "| where (tostring(tags['tag1']) in~ ('tag1Value1', 'tag1Value2', 'tag1Value3')) or (tostring(tags['tag2']) in~"
        in query
    )


def test_all_tags_resource_groups_and_what_is_refused() -> None:
    scope = DynamicScope.from_assignment(
        "a", "c", "/subscriptions/s/resourceGroups/rg1",
        {"resourceTypes": ["Microsoft.Compute/virtualMachineScaleSets"], "osTypes": ["Linux"],
         "tagSettings": {"tags": {"a": ["1"], "b": []}, "filterOperator": "All"}},
    )  # fmt: skip
    assert scope.resource_group == "rg1"
    assert scope.resource_types == ()  # a scale set is not a machine type the scope can bring in here
    assert scope.notes == (
        "resource type microsoft.compute/virtualmachinescalesets is not a machine type Patch Watch handles",
    )
    query = dynamic_scope_query(scope)
    assert "| where tostring(tags['a']) in~ ('1')\n| where isnotempty(tags['b'])" in query
    assert "in~ ('Linux')" in query and "resourceGroup =~ 'rg1'" in query
    with pytest.raises(ScopeError, match="filterOperator 'Some'"):
        DynamicScope.from_assignment("a", "c", "/subscriptions/s", {"tagSettings": {"filterOperator": "Some"}})
    with pytest.raises(ScopeError, match="not a subscription or resource group"):
        DynamicScope.from_assignment("a", "c", "/subscriptions/s/resourceGroups/rg/providers/x/y/z", {})
    assert is_scope_assignment("/subscriptions/s") and is_scope_assignment("/subscriptions/s/resourcegroups/rg")


@pytest.mark.parametrize(
    ("resource_id", "kind", "rtype"),
    [
        ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web", MachineKind.AZURE_VM,
         "microsoft.compute/virtualmachines"),
        ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/web", MachineKind.ARC,
         "microsoft.hybridcompute/machines"),
        ("/subscriptions/s/resourcegroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web",
         MachineKind.NOT_HANDLED, "microsoft.compute/virtualmachinescalesets"),
        ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0",
         MachineKind.NOT_HANDLED, "microsoft.compute/virtualmachinescalesets/virtualmachines"),
        ("web", MachineKind.NOT_HANDLED, ""),
    ],
)  # fmt: skip
def test_a_machines_kind_comes_from_its_full_id_never_its_name(resource_id: str, kind: MachineKind, rtype: str) -> None:
    assert machine_kind(resource_id) is kind
    assert resource_type_of(resource_id) == rtype
