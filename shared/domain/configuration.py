"""Configuration findings: a machine whose own patch settings mean its schedule, hotpatch or
periodic assessment will not do what the operator expects. Each names the exact property to change.

Finding kind ``schedule-ineffective`` (one per machine and cycle; its ``details.problems``
list every problem). The rules, from Microsoft's documentation:

- *A schedule needs customer-managed orchestration.* Update Manager's scheduled patching on
  an Azure VM needs ``patchMode: AutomaticByPlatform`` **and**
  ``automaticByPlatformSettings.bypassPlatformSafetyChecksOnUserSchedule: true``
  ("Configure schedule patching on Azure VMs to ensure business continuity",
  learn.microsoft.com/azure/update-manager/prerequisite-for-schedule-patching). With another
  patch mode the schedule is not applied; without the bypass flag the platform keeps patching
  the VM at its own off-peak time, outside the schedule's window.
- *Hotpatch needs platform orchestration.* A hotpatch-enrolled image with ``enableHotpatching``
  needs ``patchMode: AutomaticByPlatform`` (hotpatch document, "Patch orchestration"); and a
  customer-managed schedule that bypasses the platform's safety checks is refused for hotpatch
  VMs (reported by operators; domain notes ask to confirm it in the scheduled-patching docs, so
  it is reported as such, never silently).
- *Periodic assessment.* A scheduled machine should assess itself every 24 hours
  (``assessmentMode: AutomaticByPlatform``; Update Manager "periodic assessment"); with
  ``ImageDefault`` the portal and Resource Graph show stale results between the cycle's rounds.

The VM property paths are those of the compute REST spec (``osProfile.windowsConfiguration``
or ``linuxConfiguration`` ``.patchSettings``); Arc-enabled servers use the same ``patchSettings``
shape (HybridCompute spec) but have no bypass flag, so only the patch and assessment modes
are judged for them. Pure: ``now`` is a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.calendar import Cycle, format_utc
from shared.domain.fleet import MachineKind, Vm
from shared.domain.hotpatch import Finding

SCHEDULE_INEFFECTIVE = "schedule-ineffective"
CONFIGURATION_KINDS = frozenset({SCHEDULE_INEFFECTIVE})
PLATFORM = "AutomaticByPlatform"


@dataclass(frozen=True)
class Problem:
    code: str  # schedule-not-applied | schedule-bypass-off | hotpatch-patch-mode | hotpatch-bypass | assessment-off
    property: str  # the exact property to change
    value: Any  # what to set it to
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "property": self.property, "set_to": self.value, "message": self.message}


def _settings_path(vm: Vm) -> str:
    config = "linuxConfiguration" if vm.os_type.lower() == "linux" else "windowsConfiguration"
    return f"properties.osProfile.{config}.patchSettings"


def problems(vm: Vm) -> list[Problem]:
    """What in ``vm``'s patch settings defeats its schedules, its hotpatching or its assessment."""
    if not vm.handled:
        return []
    path = _settings_path(vm)
    mode = vm.patch_mode.lower()
    out: list[Problem] = []
    scheduled = bool(vm.assignments)
    via = ", ".join(vm.assignments)
    if scheduled and mode and mode != PLATFORM.lower():
        out.append(
            Problem(
                "schedule-not-applied",
                f"{path}.patchMode",
                PLATFORM,
                f"assigned to {via} but patchMode is {vm.patch_mode}: the schedule is not applied",
            )
        )
    if (
        scheduled
        and vm.kind is MachineKind.AZURE_VM
        and mode == PLATFORM.lower()
        and not vm.bypass_platform_safety_checks
        and not vm.hotpatch
    ):
        out.append(
            Problem(
                "schedule-bypass-off",
                f"{path}.automaticByPlatformSettings.bypassPlatformSafetyChecksOnUserSchedule",
                True,
                f"assigned to {via} without bypassPlatformSafetyChecksOnUserSchedule: the platform patches "
                "it at its own off-peak time, outside the schedule's window",
            )
        )
    if vm.hotpatch_enabled and vm.hotpatch_capable and mode != PLATFORM.lower():
        out.append(
            Problem(
                "hotpatch-patch-mode",
                f"{path}.patchMode",
                PLATFORM,
                f"enableHotpatching is on but patchMode is {vm.patch_mode or 'not set'}: hotpatches need "
                "platform orchestration, so the machine takes reboot-requiring updates instead",
            )
        )
    if vm.hotpatch and scheduled and vm.bypass_platform_safety_checks:
        out.append(
            Problem(
                "hotpatch-bypass",
                f"{path}.automaticByPlatformSettings.bypassPlatformSafetyChecksOnUserSchedule",
                False,
                f"hotpatch-enrolled and assigned to {via} with the platform's safety checks bypassed: a "
                "customer-managed schedule that bypasses them is refused for hotpatch VMs",
            )
        )
    assessment = vm.assessment_mode.lower()
    if scheduled and assessment and assessment != PLATFORM.lower():
        out.append(
            Problem(
                "assessment-off",
                f"{path}.assessmentMode",
                PLATFORM,
                f"periodic assessment is off (assessmentMode {vm.assessment_mode}): between rounds the "
                "schedule's machines show stale pending patches",
            )
        )
    return out


def configuration_findings(vm: Vm, cycle: Cycle, now: datetime) -> list[Finding]:
    """The machine's ``schedule-ineffective`` finding for ``cycle``, or none."""
    found = problems(vm)
    if not found:
        return []
    changes = "; ".join(f"set {p.property} to {str(p.value).lower() if isinstance(p.value, bool) else p.value}"
                        for p in found)  # fmt: skip
    return [
        Finding(
            SCHEDULE_INEFFECTIVE,
            vm.id,
            cycle.id,
            "warning",
            f"{vm.name}: " + "; ".join(p.message for p in found) + f" (to fix: {changes})",
            format_utc(now),
            details={"problems": [p.to_json() for p in found], "assignments": list(vm.assignments)},
        )
    ]


def reconcile_configuration(previous: Iterable[Finding], current: Iterable[Finding], now: datetime) -> list[Finding]:
    """Opened, changed and resolved configuration findings of one machine (same rule as assessments)."""
    from shared.domain.hotpatch import reconcile

    return reconcile(previous, current, now)
