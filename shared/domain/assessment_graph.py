"""A machine's latest periodic assessment, as Resource Graph's ``patchassessmentresources``
holds it, turned into the same :class:`~shared.domain.assessment.AssessmentResult` an
``assessPatches`` call gives, so the cycle's verdict is the same whichever way it was read.

Azure's records (MicrosoftDocs/azure-docs articles/update-manager/query-logs.md, "Patch
assessment results"): one summary per machine, id ``<machine>/patchAssessmentResults/latest``,
type ``<machine type>/patchassessmentresults``, ``name`` the assessment operation's GUID,
``properties`` with ``status``, ``rebootPending``, ``osType``, ``startDateTime``,
``lastModifiedDateTime``, ``errorDetails`` and ``availablePatchCountByClassification``; and
one record per available update, type ``<machine type>/patchassessmentresults/softwarepatches``,
``properties`` with ``patchName``, ``kbId``, ``version``, ``classifications``,
``rebootBehavior``, ``publishedDateTime``, ``lastModifiedDateTime``.

Which machines assess on their own: an Azure VM whose
``osProfile.{windows,linux}Configuration.patchSettings.assessmentMode`` is
``AutomaticByPlatform`` (azure-rest-api-specs specification/compute, PatchSettings /
LinuxPatchSettings ``assessmentMode``: ImageDefault | AutomaticByPlatform), and an
Arc-enabled server with the same property under its own ``osProfile`` (specification/
hybridcompute, PatchSettings ``assessmentMode``, AssessmentModeTypes ImageDefault |
AutomaticByPlatform; the published Machines_Get example carries it). Discovery reads both
(:data:`shared.adapters.arm.MACHINE_PROJECTION`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain.assessment import SECURITY_CLASSIFICATIONS, AssessmentResult, parse_assessment, parse_instant
from shared.domain.fleet import MachineKind, Vm

PERIODIC = "automaticbyplatform"
RESULTS_SEGMENT = "/patchassessmentresults/"
#: The two paths a machine's assessment can take in a cycle (the ``Path`` of its cycle row).
RESOURCE_GRAPH, ASSESS_PATCHES = "resource-graph", "assessPatches"
#: Statuses of a finished assessment whose result stands (a failed one is asked again).
USABLE = frozenset({"succeeded", "completedwithwarnings"})


def path_of(state: str, path: str) -> str:
    """The path a cycle row's assessment took: as recorded, else (rows written before paths were
    recorded, and every ``assessPatches`` row) ``assessPatches`` for a machine that was assessed;
    "" for one never sent anywhere (not assessable, not handled)."""
    if path:
        return path
    return "" if state in ("not-assessable", "not-handled") else ASSESS_PATCHES


def _get(data: Mapping[str, Any], key: str) -> Any:
    low = key.lower()
    for k, v in data.items():
        if str(k).lower() == low:
            return v
    return None


def periodic_assessment_on(vm: Vm) -> bool:
    """The platform assesses this machine by itself (about every 24 hours) and keeps the result
    in Resource Graph: an Azure VM or Arc-enabled server with assessmentMode AutomaticByPlatform."""
    return vm.kind in (MachineKind.AZURE_VM, MachineKind.ARC) and vm.assessment_mode.lower() == PERIODIC


def machine_of(record_id: str) -> str:
    """The machine a ``patchassessmentresources`` record belongs to ("" when it names none)."""
    at = record_id.lower().find(RESULTS_SEGMENT)
    return record_id[:at] if at > 0 else ""


@dataclass(frozen=True)
class GraphAssessment:
    """One machine's latest assessment: the summary record's columns and its patches."""

    machine_id: str
    name: str  # the assessment operation's GUID
    properties: Mapping[str, Any]
    patches: tuple[Mapping[str, Any], ...] = field(default=())

    @property
    def status(self) -> str:
        """The record's ``status`` (as an assessPatches result states it). The documented field list
        does not name it; without it, ``errorDetails`` decides: an error means Failed."""
        stated = str(_get(self.properties, "status") or "")
        if stated:
            return stated
        return "Failed" if _get(self.properties, "errorDetails") else "Succeeded"

    @property
    def assessed_utc(self) -> datetime | None:
        """When it was made: its last modification, else its start."""
        return parse_instant(_get(self.properties, "lastModifiedDateTime")) or parse_instant(
            _get(self.properties, "startDateTime")
        )

    def fresh_for(self, release_utc: datetime) -> bool:
        """Usable for a cycle released at ``release_utc``: finished with a result that stands,
        and made after the release (so it knows the release's updates)."""
        assessed = self.assessed_utc
        return self.status.lower() in USABLE and assessed is not None and assessed >= release_utc

    def body(self) -> dict[str, Any]:
        """The same record, shaped as an ``assessPatches`` result (VirtualMachineAssessPatchesResult)."""
        counts = _get(self.properties, "availablePatchCountByClassification")
        counts = counts if isinstance(counts, Mapping) else {}
        security = sum(int(n or 0) for k, n in counts.items() if str(k).lower() in SECURITY_CLASSIFICATIONS)
        other = sum(int(n or 0) for k, n in counts.items() if str(k).lower() not in SECURITY_CLASSIFICATIONS)
        patches = []
        for p in self.patches:
            classes = _get(p, "classifications")
            patches.append(
                {
                    "name": _get(p, "patchName") or "",
                    "kbId": _get(p, "kbId") or "",
                    "version": _get(p, "version") or "",
                    "classifications": [classes] if isinstance(classes, str) else list(classes or []),
                    "rebootBehavior": _get(p, "rebootBehavior") or "",
                    "publishedDate": _get(p, "publishedDateTime"),
                }
            )
        return {
            "status": self.status,
            "assessmentActivityId": self.name,
            "rebootPending": bool(_get(self.properties, "rebootPending")),
            "criticalAndSecurityPatchCount": security,
            "otherPatchCount": other,
            "startDateTime": _get(self.properties, "startDateTime"),
            "availablePatches": patches,
            "availablePatchCountByClassification": dict(counts),
            "error": _get(self.properties, "errorDetails"),
        }

    def result(self) -> AssessmentResult:
        return parse_assessment(self.body())


def assessments_from_rows(
    summaries: Iterable[Mapping[str, Any]], patches: Iterable[Mapping[str, Any]]
) -> dict[str, GraphAssessment]:
    """Machine id (lower-case) -> its latest assessment, from the two kinds of record (rows with
    ``id``, ``name`` and ``properties``). Patches whose summary is missing are dropped."""
    by_machine: dict[str, list[Mapping[str, Any]]] = {}
    for row in patches:
        machine = machine_of(str(row.get("id") or ""))
        if machine and isinstance(row.get("properties"), Mapping):
            by_machine.setdefault(machine.lower(), []).append(row["properties"])
    out: dict[str, GraphAssessment] = {}
    for row in summaries:
        machine = machine_of(str(row.get("id") or ""))
        props = row.get("properties")
        if not machine or not isinstance(props, Mapping):
            continue
        out[machine.lower()] = GraphAssessment(
            machine, str(row.get("name") or ""), props, tuple(by_machine.get(machine.lower(), ()))
        )
    return out
