"""Rules over the Patch Tuesday cycle of each VM: a failed assessment or installation, a VM
never assessable, patches pending past the install deadline, a hotpatch VM off its
baseline, a suspected unplanned baseline, and patch settings that defeat the schedule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from ..calendar import CycleKind
from .facts import AlertPolicy, VmCycleFacts, _cycle, _name, _utc
from .model import AlertKey, AlertKind, Verdict, _norm


def _vm_failure(vm: VmCycleFacts, now: datetime) -> tuple[datetime | None, str]:
    """When and how the VM's latest patch operation failed, if it did (and no success followed)."""
    candidates: list[tuple[datetime, str]] = []
    if vm.install_failed_at is not None and vm.install_failed_at <= now:
        candidates.append((vm.install_failed_at, f"installation failed: {vm.install_error or 'no reason given'}"))
    if vm.status == "failed" and vm.status_at is not None and vm.status_at <= now:
        candidates.append((vm.status_at, f"assessment failed: {vm.reason or 'no reason given'}"))
    finding = vm.findings.get("patch-failed")
    if finding is not None and finding[0] <= now:
        candidates.append(finding)
    if not candidates:
        return None, ""
    at, what = max(candidates, key=lambda c: c[0])
    ok = vm.assessed_ok_at
    if ok is not None and at < ok <= now and "patch-failed" not in vm.findings:
        return None, ""
    return at, what


def vms_failed(vms: Iterable[VmCycleFacts], now: datetime) -> list[Verdict]:
    """``patch-failed`` per VM and cycle: an assessment or installation that failed and was
    not followed by a success."""
    out: list[Verdict] = []
    for vm in vms:
        key = AlertKey(AlertKind.PATCH_FAILED, vm.vm_id, vm.cycle_id)
        failed_at, what = _vm_failure(vm, now)
        if failed_at is not None:
            out.append(
                Verdict(
                    key,
                    True,
                    f"{_name(vm.vm_id)} in cycle {vm.cycle_id}: {what}",
                    failed_at,
                    {"cycle": vm.cycle_id, "failed_at": _utc(failed_at), "reason": what},
                )
            )
        elif vm.settled(now):
            out.append(
                Verdict(key, False, f"{_name(vm.vm_id)} in cycle {vm.cycle_id}: no failure in its latest result")
            )
    return out


def vm_not_assessable(vms: Iterable[VmCycleFacts], policy: AlertPolicy, now: datetime) -> list[Verdict]:
    """A VM that was deallocated or unreachable for its whole cycle: the cycle ended and
    no assessment of it succeeded."""
    out: list[Verdict] = []
    for vm in vms:
        cycle = _cycle(vm.cycle_id, policy)
        if cycle is None:
            continue
        key = AlertKey(AlertKind.VM_NOT_ASSESSABLE, vm.vm_id, vm.cycle_id)
        ok = vm.assessed_ok_at is not None and vm.assessed_ok_at <= now
        if ok:
            out.append(Verdict(key, False, f"{_name(vm.vm_id)} was assessed in cycle {vm.cycle_id}"))
        elif (vm.status == "not-assessable" or vm.finding("vm-not-assessable", now)) and now >= cycle.ends_utc:
            out.append(
                Verdict(
                    key,
                    True,
                    f"{_name(vm.vm_id)} could not be assessed at any time in cycle {vm.cycle_id} "
                    f"({vm.reason or 'not assessable'}); the cycle ended {_utc(cycle.ends_utc)}",
                    cycle.ends_utc,
                    {"cycle": vm.cycle_id, "reason": vm.reason, "cycle_ended": _utc(cycle.ends_utc)},
                )
            )
    return out


def deadline_missed(vms: Iterable[VmCycleFacts], policy: AlertPolicy, now: datetime) -> list[Verdict]:
    """Critical or Security patches still pending after the cycle's install deadline (the
    latest successful assessment says so, or the cycle recorded the finding)."""
    out: list[Verdict] = []
    for vm in vms:
        cycle = _cycle(vm.cycle_id, policy)
        if cycle is None or now < cycle.install_deadline_utc:
            continue
        key = AlertKey(AlertKind.DEADLINE_MISSED, vm.vm_id, vm.cycle_id)
        assessed = vm.assessed_ok_at is not None and vm.assessed_ok_at <= now
        # only an assessment after the deadline shows what is *still* pending
        after = assessed and vm.assessed_ok_at is not None and vm.assessed_ok_at >= cycle.install_deadline_utc
        pending = (vm.critical_security_pending or 0) if after else 0
        finding = vm.finding("deadline-missed", now)
        if pending > 0 or finding is not None:
            what = f"{pending} Critical/Security patch(es) pending" if pending else finding[1] if finding else ""
            out.append(
                Verdict(
                    key,
                    True,
                    f"{_name(vm.vm_id)} missed the install deadline {_utc(cycle.install_deadline_utc)} of cycle "
                    f"{vm.cycle_id}: {what}",
                    cycle.install_deadline_utc,
                    {"cycle": vm.cycle_id, "pending": pending, "deadline": _utc(cycle.install_deadline_utc)},
                )
            )
        elif after:
            out.append(Verdict(key, False, f"{_name(vm.vm_id)} has no Critical/Security patch pending"))
    return out


def baseline_missed(vms: Iterable[VmCycleFacts], policy: AlertPolicy, now: datetime) -> list[Verdict]:
    """A hotpatch VM that did not take its quarter's baseline: by a baseline cycle's
    deadline it still has reboot-requiring security patches pending, or the cycle recorded
    that it missed an earlier baseline (its hotpatches then report "not applicable")."""
    out: list[Verdict] = []
    for vm in vms:
        cycle = _cycle(vm.cycle_id, policy)
        if not vm.hotpatch or cycle is None:
            continue
        key = AlertKey(AlertKind.BASELINE_MISSED, vm.vm_id, vm.cycle_id)
        assessed = vm.assessed_ok_at is not None and vm.assessed_ok_at <= now
        finding = vm.finding("baseline-missed", now)
        due = cycle.reboot_expected and now >= cycle.install_deadline_utc
        after = assessed and vm.assessed_ok_at is not None and vm.assessed_ok_at >= cycle.install_deadline_utc
        raw = due and after and ((vm.reboot_security_pending or 0) > 0 or vm.reboot_pending)
        if finding is not None or raw:
            why = (
                finding[1]
                if finding is not None
                else f"{vm.reboot_security_pending} reboot-requiring security patch(es) pending"
                if vm.reboot_security_pending
                else "a reboot is still pending"
            )
            since = finding[0] if finding is not None else cycle.install_deadline_utc
            message = (
                f"{why} (cycle {vm.cycle_id}, {cycle.kind.value})"
                if finding is not None
                else f"hotpatch VM {_name(vm.vm_id)} has not taken its baseline (cycle {vm.cycle_id}, "
                f"{cycle.kind.value}): {why}; it cannot take the following hotpatches"
            )
            out.append(
                Verdict(
                    key,
                    True,
                    message,
                    since,
                    {"cycle": vm.cycle_id, "cycle_kind": cycle.kind.value, "reason": why},
                )
            )
        elif assessed:
            out.append(Verdict(key, False, f"hotpatch VM {_name(vm.vm_id)} is on its baseline"))
    return out


def _subscription(resource_id: str) -> str:
    m = re.match(r"(/subscriptions/[^/]+)", resource_id, re.IGNORECASE)
    return m.group(1) if m else ""


def unplanned_baseline_suspected(vms: Iterable[VmCycleFacts], policy: AlertPolicy, now: datetime) -> list[Verdict]:
    """In a hotpatch month, hotpatch-enrolled VMs report reboot-requiring security patches
    (released this month): Microsoft may have shipped an unplanned baseline. One alert per
    subscription and cycle, listing the VMs; a month configured as an unplanned baseline
    is expected, not suspected."""
    by_scope: dict[tuple[str, str], list[VmCycleFacts]] = {}
    for vm in vms:
        sub = _subscription(vm.vm_id)
        if vm.hotpatch and sub:
            by_scope.setdefault((_norm(sub), vm.cycle_id), []).append(vm)
    out: list[Verdict] = []
    for (_sub, cycle_id), members in sorted(by_scope.items()):
        cycle = _cycle(cycle_id, policy)
        if cycle is None:
            continue
        key = AlertKey(AlertKind.UNPLANNED_BASELINE_SUSPECTED, _subscription(members[0].vm_id), cycle_id)
        if cycle.kind is not CycleKind.HOTPATCH:
            out.append(Verdict(key, False, f"{cycle_id} is a {cycle.kind.value} month: reboots are expected"))
            continue
        suspects: list[tuple[datetime, VmCycleFacts]] = []
        for v in members:
            finding = v.finding("unplanned-baseline-suspected", now)
            assessed = v.assessed_ok_at is not None and v.assessed_ok_at <= now
            if finding is not None:
                suspects.append((finding[0], v))
            elif assessed and (v.reboot_security_pending or 0) > 0 and v.assessed_ok_at is not None:
                suspects.append((v.assessed_ok_at, v))
        if len(suspects) >= policy.unplanned_baseline_min_vms:
            suspects.sort(key=lambda sv: sv[1].vm_id.lower())
            first = min(t for t, _ in suspects)
            names = ", ".join(_name(v.vm_id) for _, v in suspects[:10]) + (" ..." if len(suspects) > 10 else "")
            out.append(
                Verdict(
                    key,
                    True,
                    f"{len(suspects)} hotpatch VM(s) report reboot-requiring security patches in hotpatch month "
                    f"{cycle_id} ({names}): an unplanned baseline may have shipped; if so, add {cycle_id} to "
                    "UNPLANNED_BASELINE_MONTHS",
                    first,
                    {"cycle": cycle_id, "vm_ids": [v.vm_id for _, v in suspects]},
                )
            )
        elif any(v.settled(now) for v in members):
            out.append(Verdict(key, False, f"no hotpatch VM reports reboot-requiring security patches in {cycle_id}"))
    return out


def schedule_ineffective(vms: Iterable[VmCycleFacts], now: datetime) -> list[Verdict]:
    """A machine whose patch settings defeat its schedule, its hotpatching or its periodic
    assessment (the cycle's ``schedule-ineffective`` finding, naming the property to change);
    clears when a later round finds the settings fixed."""
    out: list[Verdict] = []
    for vm in vms:
        key = AlertKey(AlertKind.SCHEDULE_INEFFECTIVE, vm.vm_id, vm.cycle_id)
        found = vm.finding("schedule-ineffective", now)
        if found is not None:
            out.append(Verdict(key, True, found[1], found[0], {"cycle": vm.cycle_id}))
        else:
            out.append(Verdict(key, False, f"{_name(vm.vm_id)}'s patch settings fit its schedules in {vm.cycle_id}"))
    return out
