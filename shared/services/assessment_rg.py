"""Use case: settle a cycle round's machines from the assessments Azure already made.

A machine with periodic assessment on (``assessmentMode`` AutomaticByPlatform: the platform
assesses it about every 24 hours) has its latest assessment in Resource Graph. Before the
round fans out, the cycle reads those for the whole estate (two paged queries) and records
each machine whose latest assessment finished after the cycle's release straight from it:
the same result, findings and row as an ``assessPatches`` would give, with ``Path``
``resource-graph``. The fan-out then finds their rows done for the round and sends nothing
for them: no ARM write, no write role needed. Every other machine (periodic assessment off,
no assessment yet, one older than the release, one that failed or is still running) takes
the ``assessPatches`` path as before. If Resource Graph cannot be read, every machine does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain.assessment_graph import RESOURCE_GRAPH, periodic_assessment_on
from shared.domain.calendar import Cycle
from shared.domain.fleet import Vm, vm_key
from shared.domain.hotpatch import ASSESSMENT_KINDS, Finding, assessment_findings, reconcile
from shared.services.assessment import FAN_OUT_CHUNK, VMS
from shared.services.cycle_deps import Deps, row_key, utc_text
from shared.services.ports import ArmError

log = logging.getLogger(__name__)


@dataclass
class GraphSettled:
    """What the Resource Graph step did for a round."""

    eligible: int = 0  # machines with periodic assessment on, not yet in the round
    settled: int = 0  # recorded from Resource Graph (no assessPatches)
    stale: int = 0  # eligible, but their latest assessment is missing, older than the release or failed
    error: str = ""
    settled_ids: list[str] = field(default_factory=list)


def _settle_all(deps: Deps, cycle: Cycle, results: list[tuple[Vm, list[Finding]]], now: datetime) -> int:
    """Record what changed against what was recorded, as the worker does for one VM
    (``assessment._settle_findings``), for many at once: one read of the cycle's findings
    instead of one per VM."""
    recorded: dict[str, list[Finding]] = {}
    for f in deps.store.findings(cycle.id):
        if f.kind in ASSESSMENT_KINDS and f.details.get("operation") != "installation":
            recorded.setdefault(vm_key(f.resource_id), []).append(f)
    changes: list[Finding] = []
    for vm, current in results:
        changes.extend(reconcile(recorded.get(vm_key(vm.id), []), current, now))
    return deps.store.put_findings(changes) if changes else 0


def _round(existing: dict[str, Any], vm: Vm) -> int:
    row = existing.get(row_key(vm.id))
    return int(row.get("Round", -1)) if row is not None else -1


def settle_from_graph(deps: Deps, cycle: Cycle, round_: int, vms: Iterable[Vm], now: datetime) -> GraphSettled:
    """Record the round's machines whose own latest assessment is fresh (see the module doc)."""
    out = GraphSettled()
    graph = getattr(deps, "assessment_graph", None)
    if graph is None:
        return out
    existing = {r["RowKey"]: r for r in deps.store.vm_rows(cycle.id)}
    eligible = [
        vm
        for vm in vms
        if vm.handled and vm.assessable and periodic_assessment_on(vm) and _round(existing, vm) < round_
    ]
    out.eligible = len(eligible)
    if not eligible:
        return out
    subscriptions = sorted({vm.subscription_id.lower() for vm in eligible})
    try:
        latest = graph.latest_assessments(subscriptions)
    except ArmError as exc:  # every machine takes the assessPatches path
        out.error = f"Resource Graph not read, every machine is assessed with assessPatches: {exc.reason}"
        log.warning("cycle %s: %s", cycle.id, out.error)
        return out
    settled: list[tuple[Vm, Any]] = []
    for vm in eligible:
        found = latest.get(vm.id.lower())
        if found is None or not found.fresh_for(cycle.release_utc):
            out.stale += 1
            continue
        try:
            settled.append((vm, found.result()))
        except ValueError as exc:  # an unusable record: ask the machine instead
            log.warning("cycle %s: %s's Resource Graph assessment is unusable (%s)", cycle.id, vm.name, exc)
            out.stale += 1
    entities = []
    for vm, result in settled:
        entities.append(
            {
                "PartitionKey": cycle.id,
                "RowKey": row_key(vm.id),
                "ResourceId": vm.id,
                "Name": vm.name,
                "Vm": json.dumps(vm.to_json(), sort_keys=True),
                "CycleId": cycle.id,
                "RunId": "",
                "Round": round_,
                "State": result.state.value,
                "Reason": result.error,
                "PowerState": vm.power_state,
                "Attempts": 0,
                "Deferrals": 0,
                "Expect": "",
                "Token": "",
                "Result": json.dumps(result.summary(), sort_keys=True),
                "Path": RESOURCE_GRAPH,
                "QueuedUtc": utc_text(now),
                "StartedUtc": utc_text(result.started_utc) if result.started_utc else "",
                "FinishedUtc": utc_text(now),
                "UpdatedUtc": utc_text(now),
            }
        )
    for i in range(0, len(entities), FAN_OUT_CHUNK):
        deps.store.batch_upsert(VMS, entities[i : i + FAN_OUT_CHUNK])
    findings = [(vm, assessment_findings(vm, result, cycle, now)) for vm, result in settled]
    if findings:
        _settle_all(deps, cycle, findings, now)
    if deps.policy.remediate and any(f.kind == "deadline-missed" for _, fs in findings for f in fs):
        from shared.services.remediation import top_up

        top_up(deps, cycle, now)
    out.settled = len(settled)
    out.settled_ids = [vm.id for vm, _ in settled]
    return out
