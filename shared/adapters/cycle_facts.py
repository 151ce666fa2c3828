"""The patch cycle's records (``shared/adapters/cycle_store.py``) as alert-rule inputs.

Per VM and cycle: the roster entry (hotpatch enrolment), the latest assessment and
installation state with their times and reasons, the counts of the latest successful
assessment, and the findings the cycle holds open (patch-failed, vm-not-assessable,
deadline-missed, baseline-missed, unplanned-baseline-suspected). Per maintenance run:
the VMs its verification found.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.tables import stored_instant
from shared.domain.alerts import VmCycleFacts

if TYPE_CHECKING:
    from shared.adapters.cycle_store import CycleStore
    from shared.config import Settings

_OK = ("succeeded", "completed-with-warnings")

log = logging.getLogger("patchwatch.cycle")


def _json(row: Any, name: str) -> dict[str, Any]:
    raw = row.get(name) or ""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _hotpatch(row: Any) -> bool:
    from shared.domain.fleet import Vm

    data = _json(row, "Vm")
    return bool(data) and Vm.from_json(data).hotpatch


def vm_cycle_facts(row: Any, cycle_id: str, findings: Iterable[Any]) -> VmCycleFacts:
    """One VM row of a cycle (or a run's verification) and its open findings."""
    state = str(row.get("State") or "")
    finished = stored_instant(row.get("FinishedUtc"))
    result = _json(row, "Result")
    ok = state in _OK
    istate = str(row.get("IState") or "")
    open_findings = {
        f.kind: (stored_instant(f.observed_utc) or datetime.min.replace(tzinfo=UTC), f.message) for f in findings
    }
    return VmCycleFacts(
        vm_id=str(row.get("ResourceId") or ""),
        cycle_id=cycle_id,
        # the cycle raises these two for hotpatch-enrolled VMs only
        hotpatch=_hotpatch(row) or bool({"baseline-missed", "unplanned-baseline-suspected"} & set(open_findings)),
        status="succeeded" if ok else state if state in ("failed", "not-assessable") else "pending",
        status_at=finished,
        reason=str(row.get("Reason") or ""),
        assessed_ok_at=finished if ok else None,
        critical_security_pending=int(result.get("critical_and_security", 0) or 0) if ok else None,
        reboot_security_pending=None,  # the cycle's own finding judges which of these are this month's
        reboot_pending=bool(result.get("reboot_pending", False)) if ok else False,
        install_failed_at=stored_instant(row.get("IFinishedUtc")) if istate == "failed" else None,
        install_error=str(row.get("IReason") or ""),
        findings=open_findings,
    )


class CycleFacts:
    """Reads the cycle store for the alerting side."""

    def __init__(self, store: CycleStore) -> None:
        self.store = store

    @classmethod
    def from_settings(cls, cfg: Settings) -> CycleFacts:
        from shared.adapters.cycle_store import CycleStore

        return cls(CycleStore.from_settings(cfg))

    def vm_facts(self, cycle_ids: Sequence[str]) -> list[VmCycleFacts]:
        out: list[VmCycleFacts] = []
        for cycle_id in dict.fromkeys(cycle_ids):
            by_vm: dict[str, list[Any]] = {}
            for f in self.store.findings(cycle_id, state="open"):
                by_vm.setdefault(f.resource_id.lower(), []).append(f)
            seen: set[str] = set()
            for row in self.store.vm_rows(cycle_id):
                rid = str(row.get("ResourceId") or "").lower()
                if not rid:
                    continue
                seen.add(rid)
                try:
                    out.append(vm_cycle_facts(row, cycle_id, by_vm.get(rid, ())))
                except Exception as exc:  # one row's content: quarantined (logged, skipped), the rest go on
                    log.error(
                        "cycle store: row %s/%s quarantined: it does not decode (%s: %s); skipped",
                        row.get("PartitionKey"), row.get("RowKey"), type(exc).__name__, exc,
                    )  # fmt: skip
            for rid, findings in by_vm.items():  # found by a run's verification, not on the roster
                if rid not in seen:
                    out.append(vm_cycle_facts({"ResourceId": findings[0].resource_id}, cycle_id, findings))
        return out

    def vm_fact(self, cycle_id: str, resource_id: str) -> VmCycleFacts | None:
        """One VM's facts in one cycle (its row and open findings), as :meth:`vm_facts` makes
        them; None when the cycle holds neither for it. Two point queries."""
        from shared.domain.configuration import SCHEDULE_INEFFECTIVE
        from shared.domain.fleet import vm_key
        from shared.domain.hotpatch import FindingKind
        from shared.services.ports import key

        row = self.store.get("cyclevms", cycle_id, key(vm_key(resource_id)))
        kinds = {k.value for k in FindingKind} | {SCHEDULE_INEFFECTIVE}
        findings = [f for f in self.store.findings_for(cycle_id, resource_id, kinds) if f.state == "open"]
        if row is not None and row.get("ResourceId"):
            return vm_cycle_facts(row, cycle_id, findings)
        if findings:
            return vm_cycle_facts({"ResourceId": findings[0].resource_id}, cycle_id, findings)
        return None

    def run_vms(self, correlation_id: str) -> list[str]:
        from shared.adapters.cycle_store import run_scope

        return [str(r.get("ResourceId")) for r in self.store.vm_rows(run_scope(correlation_id)) if r.get("ResourceId")]

    def gate_cancelled(self, correlation_id: str) -> bool:
        """Whether this app's pre-maintenance gate cancelled the run (``GateCancelled`` on the
        run's row, written by ``shared.services.maintenance.gate_run``)."""
        from shared.adapters.cycle_store import run_scope

        row = self.store.get("cycles", "run", run_scope(correlation_id))
        return bool(row is not None and row.get("GateCancelled"))
