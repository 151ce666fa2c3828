"""Findings from one VM's assessment: the hotpatch checks, the deadline, failures.

A finding is a fact the alerting side publishes: ``kind``, ``resource_id``,
``cycle_id``, ``severity``, ``message``. Its identity is (kind, resource, cycle): the
rules return every finding that holds *now* for a VM, and :func:`reconcile` turns that
into what changed (opened, updated, resolved) against what was recorded before.

Rules (pure, ``now`` is a parameter):

- ``unplanned-baseline-suspected``: a hotpatch month, a hotpatch-enrolled VM, this cycle's
  OS cumulative update pending and needing a reboot (:attr:`Patch.os_cumulative`). Other
  reboot-requiring updates (.NET, servicing stack, ...) are expected in hotpatch months.
- ``baseline-missed``: a hotpatch-enrolled VM with a pending OS cumulative update released
  *before* this cycle (it did not take an earlier baseline, so this month's hotpatches do
  not apply), or, after a baseline month's deadline, still missing this cycle's, or with a
  reboot still pending.
- ``deadline-missed``: assessed after the cycle's install deadline and still missing
  Critical or Security patches released by then (the deadline, 30 days by default, can
  fall after the next month's release; that month's patches are not due yet).
- ``patch-failed``: the assessment (or installation) itself failed; the reason is kept.
- ``vm-not-assessable``: deallocated or stopped when the round reached it (counted).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.domain.assessment import AssessmentResult, InstallResult, Patch
from shared.domain.calendar import Cycle, CycleKind, format_utc
from shared.domain.fleet import Vm


class FindingKind(enum.StrEnum):
    UNPLANNED_BASELINE_SUSPECTED = "unplanned-baseline-suspected"
    BASELINE_MISSED = "baseline-missed"
    DEADLINE_MISSED = "deadline-missed"
    PATCH_FAILED = "patch-failed"
    VM_NOT_ASSESSABLE = "vm-not-assessable"


#: The kinds an assessment result settles (each evaluation re-decides all of them).
ASSESSMENT_KINDS = frozenset(FindingKind)


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    kind: str
    resource_id: str
    cycle_id: str
    severity: str
    message: str
    observed_utc: str
    state: str = "open"  # open | resolved
    run_id: str = ""  # the maintenance run whose verification observed it, if any
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.kind, self.resource_id.lower(), self.cycle_id)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def assessment_findings(
    vm: Vm, result: AssessmentResult, cycle: Cycle, now: datetime, *, run_id: str = ""
) -> list[Finding]:
    """Every finding that holds for ``vm`` given this result, assessed at ``now``."""
    at = format_utc(now)

    def finding(kind: FindingKind, severity: Severity, message: str, **details: Any) -> Finding:
        return Finding(kind.value, vm.id, cycle.id, severity.value, message, at, run_id=run_id, details=details)

    if result.state.value == "failed":
        return [
            finding(
                FindingKind.PATCH_FAILED,
                Severity.ERROR,
                f"assessment of {vm.name} failed: {result.error or result.status}",
                operation="assessment",
                error=result.error,
            )
        ]
    out: list[Finding] = []
    next_release = cycle.ends_utc.date()
    # Only the OS cumulative update decides a baseline: a reboot-requiring .NET, servicing-stack
    # or other Critical/Security update in a hotpatch month is an expected reboot (the hotpatch
    # docs say so), not an unplanned baseline nor a missed one.
    lcu = [p for p in result.os_cumulative_pending if p.published is None or p.published < next_release]
    this_cycle = [p for p in lcu if p.published is None or p.published >= cycle.patch_tuesday]
    earlier = [p for p in lcu if p.published is not None and p.published < cycle.patch_tuesday]
    if vm.hotpatch and cycle.kind is CycleKind.HOTPATCH and this_cycle:
        kbs = sorted(p.kb for p in this_cycle)
        out.append(
            finding(
                FindingKind.UNPLANNED_BASELINE_SUSPECTED,
                Severity.WARNING,
                f"{vm.name} is hotpatch-enrolled but this hotpatch month's OS cumulative update "
                f"({', '.join('KB' + k for k in kbs)}) requires a reboot: an unplanned baseline is suspected",
                kbs=kbs,
            )
        )
    baseline_due = cycle.reboot_expected and now >= cycle.install_deadline_utc
    missed: list[Patch] = lcu if baseline_due else earlier
    if vm.hotpatch and missed:
        kbs = sorted(p.kb for p in missed)
        out.append(
            finding(
                FindingKind.BASELINE_MISSED,
                Severity.ERROR,
                f"{vm.name} has not taken the baseline: OS cumulative update(s) "
                f"{', '.join('KB' + k for k in kbs)} still pending, so the following hotpatches will report "
                "not applicable",
                kbs=kbs,
            )
        )
    elif vm.hotpatch and baseline_due and result.reboot_pending:
        out.append(
            finding(
                FindingKind.BASELINE_MISSED,
                Severity.ERROR,
                f"{vm.name} has a reboot pending after {cycle.id}'s install deadline "
                f"{format_utc(cycle.install_deadline_utc)}: the baseline is not in effect until it restarts",
                reboot_pending=True,
            )
        )
    due = due_security_patches(result, cycle)
    if now >= cycle.install_deadline_utc and due > 0:
        out.append(
            finding(
                FindingKind.DEADLINE_MISSED,
                Severity.ERROR,
                f"{vm.name} still misses {due} Critical/Security patch(es) released by {cycle.id}'s release "
                f"after the install deadline {format_utc(cycle.install_deadline_utc)}",
                pending=due,
                deadline_utc=format_utc(cycle.install_deadline_utc),
            )
        )
    return out


def due_security_patches(result: AssessmentResult, cycle: Cycle) -> int:
    """Pending Critical/Security patches that this cycle's deadline covers: released before the
    next cycle's release (the deadline can fall after it). Without a patch list, the count."""
    if not result.patches:
        return result.critical_and_security
    next_release = cycle.ends_utc.date()
    return sum(1 for p in result.patches if p.security and (p.published is None or p.published < next_release))


def not_assessable_finding(vm: Vm, power_state: str, cycle: Cycle, now: datetime, *, run_id: str = "") -> Finding:
    return Finding(
        FindingKind.VM_NOT_ASSESSABLE.value,
        vm.id,
        cycle.id,
        Severity.WARNING.value,
        f"{vm.name} is not assessable: {power_state or 'power state unknown'} (a deallocated VM is never "
        "assessed or patched)",
        format_utc(now),
        run_id=run_id,
        details={"power_state": power_state},
    )


def failure_finding(vm: Vm, operation: str, reason: str, cycle: Cycle, now: datetime, *, run_id: str = "") -> Finding:
    return Finding(
        FindingKind.PATCH_FAILED.value,
        vm.id,
        cycle.id,
        Severity.ERROR.value,
        f"{operation} of {vm.name} failed: {reason}",
        format_utc(now),
        run_id=run_id,
        details={"operation": operation, "error": reason},
    )


def install_findings(vm: Vm, result: InstallResult, cycle: Cycle, now: datetime) -> list[Finding]:
    if result.ok:
        return []
    reason = result.error or f"status {result.status}, {result.failed} patch(es) failed"
    return [failure_finding(vm, "installation", reason, cycle, now)]


def reconcile(previous: Iterable[Finding], current: Iterable[Finding], now: datetime) -> list[Finding]:
    """What to write: new or changed findings, and resolutions of open ones that no longer hold.

    ``previous`` are the recorded findings of one VM in one cycle (the kinds an
    assessment settles); ``current`` what the latest result implies.
    """
    before = {f.identity: f for f in previous}
    after = {f.identity: f for f in current}
    changes: list[Finding] = []
    for ident, f in after.items():
        old = before.get(ident)
        if old is None or old.state != "open" or old.message != f.message or old.severity != f.severity:
            changes.append(f)
    for ident, old in before.items():
        if ident not in after and old.state == "open":
            changes.append(replace(old, state="resolved", observed_utc=format_utc(now)))
    return changes
