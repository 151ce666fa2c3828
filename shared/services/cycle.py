"""Use case: the cycle timer's tick — start, re-assess, sweep the deadline, remediate.

Each tick computes the cycle in force at ``now`` and compares it with what the store
says (:func:`shared.domain.cycle_state.due`). Whatever it decides is claimed with a
conditional write first — inserting the cycle's row for the start, updating it with
its ETag for a new round — so two instances ticking together start a round once, and
a tick after days of downtime (``past_due`` or not) simply finds the round not started
and starts it. A fan-out that died half-way (its lease ran out) is finished by the
next tick; VMs that went quiet (a lost message) are re-enqueued by the sweep.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.domain.assessment_graph import path_of
from shared.domain.calendar import Cycle, cycle_at, cycle_for_month, format_utc
from shared.domain.cycle_state import CycleRecord, Step, due
from shared.domain.fleet import Vm
from shared.services.assessment import Deps, FanOut, fan_out, sweep, utc_text, with_assignments
from shared.services.assessment_rg import settle_from_graph
from shared.services.ports import ConflictError, Row

CYCLES = "cycles"
FANNING_OUT, FANNED_OUT = "fanning-out", "fanned-out"


@dataclass
class TickReport:
    cycle_id: str
    kind: str
    steps: list[str] = field(default_factory=list)
    fan_outs: list[FanOut] = field(default_factory=list)
    revived: int = 0
    remediation_started: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle_id,
            "kind": self.kind,
            "steps": self.steps,
            "fan_outs": [f.__dict__ for f in self.fan_outs],
            "revived": self.revived,
            "remediation_started": self.remediation_started,
            "notes": self.notes,
        }


def _instant(text: Any) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def record_of(row: Row | None, cycle_id: str) -> CycleRecord | None:
    if row is None:
        return None
    return CycleRecord(
        cycle_id=cycle_id,
        round=int(row.get("Round", -1)),
        round_started_utc=_instant(row.get("RoundStartedUtc")),
        deadline_round=int(row.get("DeadlineRound", -1)),
        roster_size=int(row.get("RosterSize", 0) or 0),
    )


def _discover(deps: Deps) -> list[Vm]:
    return with_assignments(deps, deps.arm.discover(deps.policy.scope))


def _fan_out_round(deps: Deps, cycle: Cycle, row: Row, now: datetime, report: TickReport) -> None:
    """Discover the fleet and fan the row's round out; then mark the round fanned out."""
    round_ = int(row["Round"])
    vms = _discover(deps)
    graph = settle_from_graph(deps, cycle, round_, vms, now)  # fresh periodic assessments: no assessPatches
    report.notes.extend([graph.error] if graph.error else [])
    result = fan_out(deps, cycle.id, cycle.id, round_, vms, now=now)
    report.fan_outs.append(result)
    try:
        deps.store.update(
            CYCLES,
            row,
            {
                "Phase": FANNED_OUT,
                "RosterSize": result.roster,
                "NotAssessable": result.not_assessable,
                "FannedOutUtc": utc_text(now),
                "LastError": "",
            },
        )
    except ConflictError:
        report.notes.append("another instance took the fan-out over; it will mark it done")


def cycle_entity(
    cycle: Cycle, now: datetime, *, phase: str, owner: str = "", lease: timedelta | None = None
) -> dict[str, Any]:
    """A cycle's row as its first round starts at ``now`` (the timer's claim; the demo's world)."""
    return {
        "PartitionKey": "cycle",
        "RowKey": cycle.id,
        "Kind": cycle.kind.value,
        "ScheduledUtc": format_utc(cycle.scheduled_utc),
        "ReleaseUtc": format_utc(cycle.release_utc),
        "DeadlineUtc": format_utc(cycle.install_deadline_utc),
        "Round": 0,
        "RoundStartedUtc": utc_text(now),
        "DeadlineRound": 0 if now >= cycle.install_deadline_utc else -1,
        "Phase": phase,
        "Owner": owner,
        "LeaseUntil": utc_text(now + lease) if lease is not None else "",
        "StartedUtc": utc_text(now),
        "RemInFlight": 0,
        "RemFailed": 0,
        "RemStarted": 0,
        "RemSucceeded": 0,
    }


def _claim_start(deps: Deps, cycle: Cycle, now: datetime, owner: str) -> Row | None:
    entity = cycle_entity(cycle, now, phase=FANNING_OUT, owner=owner, lease=deps.policy.lease)
    try:
        return deps.store.insert(CYCLES, entity)
    except ConflictError:
        return None


def _claim_round(deps: Deps, cycle: Cycle, row: Row, now: datetime, owner: str, *, deadline: bool) -> Row | None:
    new_round = int(row["Round"]) + 1
    changes: dict[str, Any] = {
        "Round": new_round,
        "RoundStartedUtc": utc_text(now),
        "Phase": FANNING_OUT,
        "Owner": owner,
        "LeaseUntil": utc_text(now + deps.policy.lease),
    }
    if deadline or (now >= cycle.install_deadline_utc and int(row.get("DeadlineRound", -1)) < 0):
        changes["DeadlineRound"] = new_round
    try:
        return deps.store.update(CYCLES, row, changes)
    except ConflictError:
        return None


def tick(deps: Deps, now: datetime, *, owner: str | None = None) -> TickReport:
    """One timer tick at ``now``: the previous cycle (its deadline can fall after the next
    release) and the current one. Raises on transient faults (the next tick retries)."""
    owner = owner or uuid.uuid4().hex
    cycle = cycle_at(now, deps.policy.calendar)
    report = TickReport(cycle.id, cycle.kind.value)
    if not deps.policy.scope.subscriptions:
        report.notes.append("TARGET_SUBSCRIPTION_IDS is empty: no fleet to assess")
        return report
    if not deps.policy.scope.hotpatch_offered:
        report.notes.append("hotpatch is not offered in this cloud: no machine is treated as hotpatch-enrolled")
    previous = cycle_for_month(cycle.month.previous(), deps.policy.calendar)
    for c in (previous, cycle):
        _tick_cycle(deps, c, now, owner, report)
    return report


def _tick_cycle(deps: Deps, cycle: Cycle, now: datetime, owner: str, report: TickReport) -> None:
    from shared.services.remediation import top_up

    done: set[str] = set()
    for _ in range(6):
        row = deps.store.cycle(cycle.id)
        if row is not None and row.get("Phase") == FANNING_OUT:
            if (row.get("LeaseUntil") or "") > utc_text(now):
                report.notes.append(f"{cycle.id} round {row['Round']} is being fanned out by {row.get('Owner')}")
                break
            try:
                row = deps.store.update(CYCLES, row, {"Owner": owner, "LeaseUntil": utc_text(now + deps.policy.lease)})
            except ConflictError:
                break
            report.steps.append(f"{cycle.id}:resume-fan-out:{row['Round']}")
            _fan_out_round(deps, cycle, row, now, report)
            continue
        step = due(
            cycle,
            record_of(row, cycle.id),
            now,
            reassess_every=deps.policy.reassess_every,
            remediate=deps.policy.remediate,
        )
        if step is None or step.value in done:
            break
        done.add(step.value)
        if step is Step.START:
            claimed = _claim_start(deps, cycle, now, owner)
            if claimed is None:
                continue  # another instance won: look at what it wrote
            report.steps.append(f"{cycle.id}:start:0")
            _fan_out_round(deps, cycle, claimed, now, report)
        elif step in (Step.REASSESS, Step.DEADLINE):
            assert row is not None
            claimed = _claim_round(deps, cycle, row, now, owner, deadline=step is Step.DEADLINE)
            if claimed is None:
                continue
            report.steps.append(f"{cycle.id}:{step.value}:{claimed['Round']}")
            _fan_out_round(deps, cycle, claimed, now, report)
        elif step is Step.REMEDIATE:
            report.remediation_started += top_up(deps, cycle, now)
            report.steps.append(f"{cycle.id}:remediate")
    row = deps.store.cycle(cycle.id)
    if row is not None and row.get("Phase") == FANNED_OUT:
        report.revived += sweep(deps, cycle.id, int(row["Round"]), now)


# -- reading a cycle back --------------------------------------------------------------------------


def _reboot_pending(row: Any) -> bool:
    if str(row.get("State")) not in ("succeeded", "completed-with-warnings"):
        return False
    try:
        result = json.loads(row.get("Result") or "{}")
    except ValueError:
        return False
    return isinstance(result, dict) and bool(result.get("reboot_pending"))


def summary(deps: Deps, cycle_id: str) -> dict[str, Any]:
    """A cycle's state: its row, VM states of the current round, findings by kind."""
    row = deps.store.cycle(cycle_id)
    rows = deps.store.vm_rows(cycle_id)
    current = int(row["Round"]) if row is not None else -1
    states = Counter(str(r.get("State")) for r in rows if int(r.get("Round", -1)) == current)
    findings = deps.store.findings(cycle_id)
    return {
        "cycle": cycle_id,
        "started": row is not None,
        "round": current,
        "deadline_round": int(row.get("DeadlineRound", -1)) if row is not None else -1,
        "phase": row.get("Phase") if row is not None else None,
        "roster": len(rows),
        "states": dict(sorted(states.items())),
        "not_assessable": states.get("not-assessable", 0),
        # how each machine of the round was assessed: its own latest assessment (Resource Graph) or assessPatches
        "paths": dict(
            sorted(
                Counter(
                    path_of(str(r.get("State")), str(r.get("Path") or ""))
                    for r in rows
                    if int(r.get("Round", -1)) == current and path_of(str(r.get("State")), str(r.get("Path") or ""))
                ).items()
            )
        ),
        # assessed, nothing left to install, but a reboot pending: not compliant yet
        "reboot_pending": sum(1 for r in rows if int(r.get("Round", -1)) == current and _reboot_pending(r)),
        "findings": dict(sorted(Counter(f.kind for f in findings if f.state == "open").items())),
        "remediation": {
            k: int(row.get(f"Rem{k.title().replace('_', '')}", 0) or 0)
            for k in ("in_flight", "started", "succeeded", "failed")
        }
        if row is not None
        else {},
    }
