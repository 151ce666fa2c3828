"""Machines' latest patch assessments from Resource Graph (``patchassessmentresources``),
through :class:`shared.adapters.arm.ArmAdapter`'s paged, subscription-chunked query path
(azure-mgmt-resourcegraph). Two queries for the whole estate: the summaries, and the
available updates (``softwarepatches``). Read-only: a reader role is all they need.

Table, types and property paths: MicrosoftDocs/azure-docs articles/update-manager/query-logs.md
("Patch assessment results") and sample-query-logs.md (``patchassessmentresources | where type
!has "softwarepatches"``, ``properties.availablePatchCountByClassification``,
``properties.lastModifiedDateTime``); the records' ids are ``<machine>/patchAssessmentResults/latest``
and ``.../latest/softwarePatches/<update>`` for Azure VMs (``microsoft.compute/virtualmachines/...``)
and Arc-enabled servers (``microsoft.hybridcompute/machines/...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared.domain.assessment_graph import GraphAssessment, assessments_from_rows
from shared.domain.fleet import ARC_MACHINE_TYPE, AZURE_VM_TYPE

if TYPE_CHECKING:
    from shared.adapters.arm import ArmAdapter

RESULT_TYPES = tuple(f"{t}/patchassessmentresults" for t in (AZURE_VM_TYPE, ARC_MACHINE_TYPE))
PATCH_TYPES = tuple(f"{t}/softwarepatches" for t in RESULT_TYPES)


def _types(types: Sequence[str]) -> str:
    return ", ".join(f"'{t}'" for t in types)


SUMMARY_QUERY = "\n".join(
    [
        "patchassessmentresources",
        f"| where type in~ ({_types(RESULT_TYPES)})",
        "| project id, name, properties",
        "| order by id asc",
    ]
)
PATCHES_QUERY = "\n".join(
    [
        "patchassessmentresources",
        f"| where type in~ ({_types(PATCH_TYPES)})",
        "| project id, properties",
        "| order by id asc",
    ]
)


class AssessmentGraph:
    """The :class:`~shared.services.ports.assessments.AssessmentGraphPort` on Resource Graph."""

    def __init__(self, arm: ArmAdapter) -> None:
        self.arm = arm

    def _rows(self, query: str, subscriptions: Sequence[str]) -> list[dict[str, Any]]:
        rows = []
        for row in self.arm.graph_rows(query, tuple(subscriptions)):
            props = row.get("properties")
            if isinstance(props, str):  # a service that answers dynamic columns as text
                import json

                props = json.loads(props) if props.strip() else {}
            rows.append({**row, "properties": props})
        return rows

    def latest_assessments(self, subscriptions: Sequence[str]) -> dict[str, GraphAssessment]:
        return assessments_from_rows(self._rows(SUMMARY_QUERY, subscriptions), self._rows(PATCHES_QUERY, subscriptions))
