"""Use cases: execute the follow-ups the event ingestion asks for.

:func:`shared.services.ingest.ingest_event` returns *actions* as plain data
(:func:`shared.domain.outcomes.follow_ups`); :func:`execute_actions` carries them out:

- ``verify-run`` (after a post-maintenance event): the run's machines come from Resource
  Graph (``maintenanceresources``, ``microsoft.maintenance/applyupdates`` by correlation
  id) and are assessed through the same queue as the cycle, in the run's own scope, so
  the run's outcome records what was actually installed and what is still pending
  (:func:`verification`).
- ``gate-run`` (after a pre-maintenance event, only with ``CANCEL_UNHEALTHY_RUNS``): when
  more than ``CANCEL_UNHEALTHY_SHARE`` of the run's machines are unavailable or degraded
  by the recorded health signals, the run is cancelled before its cut-off with the
  documented call; the decision and its reason are recorded either way.

Each action runs once per ``key`` however often an event is redelivered (a claim row,
released again when the action fails transiently so the redelivery retries it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared.domain.assessment import parse_instant
from shared.domain.calendar import cycle_at
from shared.domain.fleet import ResourceId, Vm, vm_key
from shared.domain.gate import decide
from shared.services.assessment import Deps, fan_out, utc_text
from shared.services.ports import ConflictError, PermanentError, Row, run_scope
from shared.services.ports import key as table_key
from shared.services.ports.outcomes import HealthReader

CYCLES = "cycles"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _action_key(key: str) -> str:
    return table_key(key.lower())


def _claim(deps: Deps, action: dict[str, Any], now: datetime) -> Row | None:
    """The action's claim row, or None when it is done (or being done) already."""
    entity = {
        "PartitionKey": "action",
        "RowKey": _action_key(str(action["key"])),
        "Action": str(action.get("action")),
        "State": "started",
        "StartedUtc": utc_text(now),
        "LeaseUntil": utc_text(now + deps.policy.lease),
    }
    try:
        return deps.store.insert(CYCLES, entity)
    except ConflictError:
        pass
    row = deps.store.get(CYCLES, "action", entity["RowKey"])
    if row is None or row.get("State") == "done":
        return None
    if row.get("State") == "retry" or (row.get("LeaseUntil") or "") <= utc_text(now):
        try:
            return deps.store.update(CYCLES, row, {"State": "started", "LeaseUntil": entity["LeaseUntil"]})
        except ConflictError:
            return None
    return None


def _subscriptions(deps: Deps, action: dict[str, Any]) -> tuple[str, ...]:
    subs = tuple(s for s in action.get("subscriptions") or [] if isinstance(s, str) and _GUID.match(s))
    return subs or deps.policy.scope.subscriptions


def _roster_vm(deps: Deps, cycle_id: str, resource_id: str) -> Vm:
    row = deps.store.vm_row(cycle_id, vm_key(resource_id))
    data = row.json("Vm") if row is not None else None
    if data:
        return Vm.from_json(data)
    rid = ResourceId.parse(resource_id)
    return Vm(resource_id, rid.name, rid.subscription_id, rid.resource_group)


def verify_run(deps: Deps, action: dict[str, Any], now: datetime) -> dict[str, Any]:
    correlation = str(action["correlation_id"])
    vm_ids = deps.arm.run_vms(correlation, _subscriptions(deps, action))
    cycle = cycle_at(now, deps.policy.calendar)
    scope = run_scope(correlation)
    vms = [_roster_vm(deps, cycle.id, v) for v in vm_ids]
    result = fan_out(deps, scope, cycle.id, 0, vms, now=now, run_id=correlation)
    deps.store.upsert(
        CYCLES,
        {
            "PartitionKey": "run",
            "RowKey": scope,
            "CorrelationId": correlation,
            "CycleId": cycle.id,
            "VerifyStartedUtc": utc_text(now),
            "VerifyVms": len(vms),
            "PostStatus": str(action.get("status_raw") or action.get("status") or ""),
        },
    )
    return {"outcome": "done", "scope": scope, "machines": len(vms), "queued": result.queued}


def gate_run(deps: Deps, health: HealthReader, action: dict[str, Any], now: datetime) -> dict[str, Any]:
    correlation = str(action["correlation_id"])
    if not deps.policy.gate_runs:
        return {"outcome": "skipped", "reason": "CANCEL_UNHEALTHY_RUNS is off"}
    cutoff = parse_instant(action.get("cancel_before"))
    threshold = float(action.get("unhealthy_share", deps.policy.gate_share))
    vm_ids = deps.arm.run_vms(correlation, _subscriptions(deps, action))
    availability: dict[str, str | None] = {}
    for vm in vm_ids:
        latest = health.latest_health(vm)
        state = getattr(latest, "availability", None) if latest is not None else None
        availability[vm] = getattr(state, "value", state)
    decision = decide(vm_ids, availability, threshold=threshold, now=now, cutoff=cutoff)
    outcome: dict[str, Any] = {"outcome": "done", **decision.to_json()}
    cancelled = False
    if decision.cancel:
        try:
            deps.arm.cancel_run(correlation)
            cancelled = True
        except PermanentError as exc:
            outcome.update(outcome="failed", reason=f"cancel refused: {exc.reason}")
    deps.store.upsert(
        CYCLES,
        {
            "PartitionKey": "run",
            "RowKey": run_scope(correlation),
            "CorrelationId": correlation,
            "GateDecidedUtc": utc_text(now),
            "GateCancelled": cancelled,
            "GateReason": outcome.get("reason", decision.reason),
            "GateDecision": json.dumps(decision.to_json(), sort_keys=True),
        },
    )
    outcome["cancelled"] = cancelled
    return outcome


def execute_actions(
    deps: Deps, actions: Iterable[dict[str, Any]], *, now: datetime, health: HealthReader | None = None
) -> list[dict[str, Any]]:
    """Carry out follow-ups; one result per action. Transient faults raise (the event is redelivered)."""
    results = []
    for action in actions:
        kind = action.get("action")
        base = {"action": kind, "key": action.get("key"), "correlation_id": action.get("correlation_id")}
        if kind not in ("verify-run", "gate-run") or not action.get("key") or not action.get("correlation_id"):
            results.append({**base, "outcome": "ignored", "reason": "not an action this executor knows"})
            continue
        claim = _claim(deps, action, now)
        if claim is None:
            results.append({**base, "outcome": "skipped", "reason": "done already (or in progress elsewhere)"})
            continue
        try:
            if kind == "verify-run":
                out = verify_run(deps, action, now)
            else:
                if health is None:
                    raise ValueError("gate-run needs the outcome store's health signals")
                out = gate_run(deps, health, action, now)
        except PermanentError as exc:
            out = {"outcome": "failed", "reason": exc.reason}
        except Exception:
            deps.store.update(CYCLES, claim, {"State": "retry"})
            raise
        deps.store.update(CYCLES, claim, {"State": "done", "Result": json.dumps(out, sort_keys=True)[:30000]})
        results.append({**base, **out})
    return results


def verification(deps: Deps, correlation_id: str) -> dict[str, Any]:
    """What a run's verification found, per machine (the run's outcome as assessed)."""
    scope = run_scope(correlation_id)
    run = deps.store.get(CYCLES, "run", scope)
    machines = []
    for row in deps.store.vm_rows(scope):
        result = row.json("Result") or {}
        installed = row.json("LastInstall") or {}
        machines.append(
            {
                "id": row["ResourceId"],
                "state": row.get("State"),
                "reason": row.get("Reason") or "",
                "installed": installed.get("installed"),
                "install_failed": installed.get("failed"),
                "install_status": installed.get("status") or installed.get("error"),
                "critical_and_security_pending": result.get("critical_and_security"),
                "other_pending": result.get("other"),
                "reboot_pending": result.get("reboot_pending"),
            }
        )
    return {
        "correlation_id": correlation_id,
        "post_status": run.get("PostStatus") if run else None,
        "gate": json.loads(run["GateDecision"]) if run and run.get("GateDecision") else None,
        "gate_cancelled": bool(run.get("GateCancelled")) if run else False,
        "machines": sorted(machines, key=lambda m: str(m["id"]).lower()),
    }
