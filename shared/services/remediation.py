"""Optional remediation after the install deadline (``REMEDIATE_AFTER_DEADLINE``, off by default).

VMs whose post-deadline assessment still misses Critical or Security patches the deadline
covers (an open ``deadline-missed`` finding) get
``installPatches`` for those classifications only (reboot ``Never`` with reboot-requiring
KBs excluded in hotpatch months for hotpatch VMs, ``IfRequired`` otherwise; at most
``REMEDIATION_MAX_DURATION`` each), through the same queue as assessments. Like AWS's
MaxConcurrency / MaxErrors: at most ``REMEDIATION_MAX_CONCURRENCY`` installations run at
once, and none start once ``REMEDIATION_MAX_ERRORS`` have failed in the cycle. The
counters live on the cycle's row and change only by conditional writes, so instances
topping up at the same time cannot exceed the budget.
"""

from __future__ import annotations

from datetime import datetime

from shared.domain.assessment import VmState
from shared.domain.calendar import Cycle
from shared.services.cycle_deps import INSTALL, Deps, Message, utc_text
from shared.services.ports import ConflictError, Row

CYCLES, VMS = "cycles", "cyclevms"
_TRIES = 8


def _candidates(deps: Deps, cycle: Cycle) -> list[Row]:
    """VMs with an open ``deadline-missed`` finding (assessed after the deadline, still missing
    Critical/Security patches the deadline covers) not remediated yet this cycle."""
    from shared.domain.fleet import vm_key
    from shared.domain.hotpatch import FindingKind

    missed = {
        vm_key(f.resource_id)
        for f in deps.store.findings(cycle.id, state="open")
        if f.kind == FindingKind.DEADLINE_MISSED.value
    }
    if not missed:
        return []
    out = []
    for row in deps.store.vm_rows(cycle.id):
        if row.get("IState") or vm_key(str(row.get("ResourceId", ""))) not in missed:
            continue
        if row.get("State") in (VmState.SUCCEEDED.value, VmState.COMPLETED_WITH_WARNINGS.value):
            out.append(row)
    return out


def top_up(deps: Deps, cycle: Cycle, now: datetime) -> int:
    """Start installations up to the concurrency budget; returns how many were started."""
    if not deps.policy.remediate:
        return 0
    started = 0
    for _ in range(_TRIES):
        crow = deps.store.cycle(cycle.id)
        if crow is None or int(crow.get("DeadlineRound", -1)) < 0:
            return started
        inflight, failed = int(crow.get("RemInFlight", 0) or 0), int(crow.get("RemFailed", 0) or 0)
        slots = deps.policy.budget.slots(inflight, failed)
        if slots <= 0:
            if failed >= deps.policy.budget.max_errors and not crow.get("RemStopped"):
                try:
                    deps.store.update(
                        CYCLES, crow, {"RemStopped": f"stopped after {failed} failed installation(s) (max errors)"}
                    )
                except ConflictError:
                    continue
            return started
        picks = _candidates(deps, cycle)[:slots]
        if not picks:
            return started
        try:
            deps.store.update(
                CYCLES,
                crow,
                {"RemInFlight": inflight + len(picks), "RemStarted": int(crow.get("RemStarted", 0) or 0) + len(picks)},
            )
        except ConflictError:
            continue  # someone else topped up meanwhile: look again
        unused = 0
        for row in picks:
            try:
                deps.store.update(
                    VMS,
                    row,
                    {"IState": VmState.QUEUED.value, "IAttempts": 0, "IExpect": "", "UpdatedUtc": utc_text(now)},
                )
            except ConflictError:
                unused += 1
                continue
            msg = Message(INSTALL, cycle.id, cycle.id, int(row.get("Round", 0)), row["ResourceId"])
            deps.queue.send(msg.to_json())
            started += 1
        if unused:
            release(deps, cycle, unused)
        return started
    return started


def release(deps: Deps, cycle: Cycle, n: int) -> None:
    for _ in range(_TRIES):
        crow = deps.store.cycle(cycle.id)
        if crow is None:
            return
        try:
            deps.store.update(CYCLES, crow, {"RemInFlight": max(0, int(crow.get("RemInFlight", 0) or 0) - n)})
            return
        except ConflictError:
            continue


def finished(deps: Deps, cycle: Cycle, *, ok: bool) -> None:
    """An installation ended: free its slot, count a failure against MaxErrors."""
    for _ in range(_TRIES):
        crow = deps.store.cycle(cycle.id)
        if crow is None:
            return
        changes = {
            "RemInFlight": max(0, int(crow.get("RemInFlight", 0) or 0) - 1),
            "RemSucceeded": int(crow.get("RemSucceeded", 0) or 0) + (1 if ok else 0),
            "RemFailed": int(crow.get("RemFailed", 0) or 0) + (0 if ok else 1),
        }
        try:
            deps.store.update(CYCLES, crow, changes)
            return
        except ConflictError:
            continue
