"""A cycle's report inputs cut into stored summaries: one slice per resource group and one
for the cycle, and joined back into the same :class:`ReportInputs`.

:func:`slice_inputs` keeps of the inputs only what can appear in the cycle's report whatever
``now`` it is drawn at (alerts of the cycle, notices that touch its timeline, refusals
received during it), and files each resource's facts (its VM result, health, alerts, its
SQL resource, the runs and configurations that name it) under its resource group.
:func:`join_slices` puts the slices together again in the order the readers return them,
so that ``build_report(join_slices(*slice_inputs(inputs)))`` is the report of ``inputs``
for every ``now``: nothing in a slice depends on ``now``, and everything the report
filters by ``now`` is filtered again when it is built.

Each slice serialises to plain JSON (:func:`cycle_slice_to_json`, :func:`group_slice_to_json`
and their inverses): the summaries table stores it compressed. Pure: no I/O, no clock.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.domain.alerts import Alert, AlertKey, AlertKind, AlertState, Severity
from shared.domain.calendar import Cycle
from shared.domain.events import Availability
from shared.domain.outcomes import (
    HealthChange,
    HealthSource,
    NoticeOutcome,
    Rejection,
    ResourceHealth,
    RunOutcome,
    RunStatus,
)

from .build import _alert_in_cycle
from .model import MARGIN, GroupKey, ReportInputs, SqlResource, VmResult

#: Bumped when a slice's JSON changes shape: a stored summary of another version is recomputed.
SUMMARY_VERSION = 2  # 2: a VM's assessment path


def group_name(key: GroupKey) -> str:
    """A group as the summaries name it: ``{subscription}/{resource group}`` (lower-case;
    the resource group empty for a subscription's own resources)."""
    return f"{key.subscription_id}/{key.resource_group}"


#: The summaries' row names: the cycle's own, and one per resource group (:func:`group_row`).
CYCLE_ROW = "cycle"


def group_row(key: GroupKey) -> str:
    """A group's row name in the summaries table (Table keys forbid ``/ \\ # ?``)."""
    text = f"g|{key.subscription_id}|{key.resource_group}"
    return "".join(c if c not in "/\\#?" and c.isprintable() else "_" for c in text)


def group_of(text: str) -> GroupKey:
    """The group named by ``{subscription}/{resource group}`` or by any resource id in it."""
    if text.strip().lower().startswith("/subscriptions/"):
        return GroupKey.of(text)
    sub, _, rg = text.strip().lower().partition("/")
    return GroupKey(sub, rg)


@dataclass(frozen=True)
class StoredSummary:
    """A summary as stored: its JSON, when it was computed (by the clock) and its version."""

    payload: dict[str, Any]
    computed_at: datetime | None
    version: int


@dataclass
class GroupSlice:
    """What one resource group brings to a cycle's report."""

    vms: list[VmResult] = field(default_factory=list)
    health: list[ResourceHealth] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)  # alerts of the cycle on the group's resources
    sql_resources: list[SqlResource] = field(default_factory=list)
    assigned: dict[str, list[str]] = field(default_factory=dict)  # configuration id (lower) -> its machines here

    def empty(self) -> bool:
        return not (self.vms or self.health or self.alerts or self.sql_resources or self.assigned)


@dataclass
class CycleSlice:
    """What the whole cycle brings: its runs and their machines, notices, refusals, and
    whether the patch cycle's results and the alerts were read."""

    runs: list[RunOutcome] = field(default_factory=list)
    run_machines: dict[str, list[str]] = field(default_factory=dict)  # run key -> machine ids
    notices: list[NoticeOutcome] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    vms_read: bool = True
    alerts_read: bool = True


def report_notes(
    cycle: Cycle,
    *,
    runs: Sequence[RunOutcome],
    vms: Sequence[VmResult] | None,
    alerts_read: bool,
    run_machines: Mapping[str, Sequence[str]],
    assigned: Mapping[str, Sequence[str]],
) -> list[str]:
    """What the report says it could not read or had to infer."""
    notes: list[str] = []
    if vms is None:
        notes.append("The patch cycle's results were not read: no VM counts.")
    elif not vms:
        notes.append(f"No patch-cycle results are recorded for {cycle.id}: the VM counts are empty.")
    if not alerts_read:
        notes.append("The alert store was not read: no alerts.")
    if any(r.run_key not in run_machines and r.configuration_id.lower() not in assigned for r in runs):
        notes.append(
            "Runs marked * have no known machines (no verification recorded, no assignment cached): "
            "they are shown in every resource group of the subscriptions they targeted."
        )
    return notes


def timeline_bounds(cycle: Cycle) -> tuple[datetime, datetime]:
    return cycle.release_utc - MARGIN, max(cycle.ends_utc, cycle.install_deadline_utc) + MARGIN


def notice_in_cycle(notice: NoticeOutcome, cycle: Cycle) -> bool:
    """Whether a notice can show in the cycle's report (at some ``now``)."""
    start, end = timeline_bounds(cycle)
    return start <= notice.impact_start <= end or any(
        cycle.release_utc <= at < cycle.ends_utc for _, at in notice.stages
    )


def slice_inputs(inputs: ReportInputs) -> tuple[CycleSlice, dict[GroupKey, GroupSlice]]:
    """The inputs cut into the cycle's slice and one slice per resource group."""
    cycle = inputs.cycle
    groups: dict[GroupKey, GroupSlice] = {}

    def at(resource_id: str) -> GroupSlice:
        key = GroupKey.of(resource_id)
        found = groups.get(key)
        if found is None:
            found = groups[key] = GroupSlice()
        return found

    for v in inputs.vms or ():
        at(v.resource_id).vms.append(v)
    for h in inputs.health:
        at(h.resource_id).health.append(h)
    run_keys = {r.run_key for r in inputs.runs}
    for a in inputs.alerts or ():
        if _alert_in_cycle(a, cycle, run_keys):
            at(a.key.resource_id).alerts.append(a)
    for s in inputs.sql_resources:
        at(s.resource_id).sql_resources.append(s)
    for configuration, machines in inputs.assigned_machines.items():
        for m in machines:
            at(m).assigned.setdefault(configuration, []).append(m)
    cycle_slice = CycleSlice(
        runs=list(inputs.runs),
        run_machines={k: list(v) for k, v in inputs.run_machines.items()},
        notices=[n for n in inputs.notices if notice_in_cycle(n, cycle)],
        rejected=[r for r in inputs.rejected if cycle.release_utc <= r.received_at < cycle.ends_utc],
        vms_read=inputs.vms is not None,
        alerts_read=inputs.alerts is not None,
    )
    return cycle_slice, groups


def _alert_order(a: Alert) -> tuple[str, str]:
    return a.key.kind.value, a.key.alert_id  # the alert table's order: PartitionKey, RowKey


def join_slices(
    cycle: Cycle,
    now: datetime,
    cycle_slice: CycleSlice,
    groups: Mapping[GroupKey, GroupSlice],
    *,
    overrun_grace: timedelta = timedelta(0),
) -> ReportInputs:
    """The report's inputs again, from the cycle's slice and its groups' slices."""
    ordered = [groups[k] for k in sorted(groups)]
    vms = sorted((v for g in ordered for v in g.vms), key=lambda v: v.resource_id.lower())
    alerts = sorted((a for g in ordered for a in g.alerts), key=_alert_order)
    assigned: dict[str, list[str]] = {}
    for g in ordered:
        for configuration, machines in g.assigned.items():
            assigned.setdefault(configuration, []).extend(machines)
    vms_or_none = vms if cycle_slice.vms_read else None
    return ReportInputs(
        cycle=cycle,
        now=now,
        runs=cycle_slice.runs,
        health=sorted((h for g in ordered for h in g.health), key=lambda h: h.resource_id.lower()),
        notices=cycle_slice.notices,
        vms=vms_or_none,
        alerts=alerts if cycle_slice.alerts_read else None,
        run_machines=cycle_slice.run_machines,
        assigned_machines=assigned,
        sql_resources=sorted((s for g in ordered for s in g.sql_resources), key=lambda s: s.resource_id.lower()),
        notes=report_notes(
            cycle,
            runs=cycle_slice.runs,
            vms=vms_or_none,
            alerts_read=cycle_slice.alerts_read,
            run_machines=cycle_slice.run_machines,
            assigned=assigned,
        ),
        overrun_grace=overrun_grace,
        rejected=cycle_slice.rejected,
    )


# -- JSON ---------------------------------------------------------------------------------------


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req(value: str | None) -> datetime:
    parsed = _dt(value)
    if parsed is None:
        raise ValueError("a required instant is missing")
    return parsed


def _vm_json(v: VmResult) -> list[Any]:
    return [
        v.resource_id, v.state, v.critical_security_pending, v.reason, _t(v.finished),
        v.install_state, v.install_reason, v.reboot_pending, v.assessment_path,
    ]  # fmt: skip


def _vm(j: Sequence[Any]) -> VmResult:
    return VmResult(j[0], j[1], j[2], j[3], _dt(j[4]), j[5], j[6], bool(j[7]), str(j[8]) if len(j) > 8 else "")


def _change_json(c: HealthChange) -> list[Any]:
    return [
        c.resource_id, _t(c.occurred), c.source.value, c.availability.value if c.availability else None,
        c.previous.value if c.previous else None, c.detail, c.event_type, c.event_id,
    ]  # fmt: skip


def _change(j: Sequence[Any]) -> HealthChange:
    return HealthChange(
        j[0],
        _req(j[1]),
        HealthSource(j[2]),
        Availability(j[3]) if j[3] is not None else None,
        Availability(j[4]) if j[4] is not None else None,
        j[5],
        j[6],
        j[7],
    )


def _health_json(h: ResourceHealth) -> dict[str, Any]:
    return {
        "id": h.resource_id,
        "a": h.availability.value if h.availability else None,
        "since": _t(h.since),
        "h": [_change_json(c) for c in h.history],
    }


def _health(j: Mapping[str, Any]) -> ResourceHealth:
    return ResourceHealth(
        j["id"],
        Availability(j["a"]) if j["a"] is not None else None,
        _dt(j["since"]),
        tuple(_change(c) for c in j["h"]),
    )


def _alert_json(a: Alert) -> list[Any]:
    """What the report draws of an alert (its transitions and publishing state are not)."""
    k = a.key
    return [
        k.kind.value, k.resource_id, k.cycle_or_run, a.state.value, a.severity.value, a.message,
        _t(a.since), _t(a.opened_at), _t(a.changed_at), _t(a.resolved_at),
    ]  # fmt: skip


def _alert(j: Sequence[Any]) -> Alert:
    return Alert(
        AlertKey(AlertKind(j[0]), j[1], j[2]),
        AlertState(j[3]),
        Severity(j[4]),
        j[5],
        _req(j[6]),
        _req(j[7]),
        _req(j[8]),
        _dt(j[9]),
        (),
    )


def _sql_json(s: SqlResource) -> list[Any]:
    return [s.resource_id, s.location, s.kind, s.configuration, s.eligible, list(s.reasons)]


def _sql(j: Sequence[Any]) -> SqlResource:
    return SqlResource(j[0], j[1], j[2], j[3], bool(j[4]), tuple(j[5]))


def _run_json(r: RunOutcome) -> list[Any]:
    return [
        r.correlation_id, r.configuration_id, r.status.value, r.status_raw, r.pre_seen, r.post_seen,
        _t(r.window_start), _t(r.window_end), _t(r.cancellation_cutoff), list(r.subscriptions),
        _t(r.pre_event_time), _t(r.post_event_time),
    ]  # fmt: skip


def _run(j: Sequence[Any]) -> RunOutcome:
    return RunOutcome(
        correlation_id=j[0],
        configuration_id=j[1],
        status=RunStatus(j[2]),
        status_raw=j[3],
        pre_seen=bool(j[4]),
        post_seen=bool(j[5]),
        window_start=_req(j[6]),
        window_end=_req(j[7]),
        cancellation_cutoff=_dt(j[8]),
        subscriptions=tuple(j[9]),
        pre_event_time=_dt(j[10]),
        post_event_time=_dt(j[11]),
    )


def _rejection_json(r: Rejection) -> list[Any]:
    return [r.source, r.field, r.problem, _t(r.received_at), r.raw, r.raw_size, r.digest]


def _rejection(j: Sequence[Any]) -> Rejection:
    return Rejection(j[0], j[1], j[2], _req(j[3]), j[4], int(j[5]), j[6])


def group_slice_to_json(g: GroupSlice) -> dict[str, Any]:
    return {
        "vms": [_vm_json(v) for v in g.vms],
        "health": [_health_json(h) for h in g.health],
        "alerts": [_alert_json(a) for a in g.alerts],
        "sql": [_sql_json(s) for s in g.sql_resources],
        "assigned": g.assigned,
    }


def group_slice_from_json(j: Mapping[str, Any]) -> GroupSlice:
    return GroupSlice(
        vms=[_vm(v) for v in j["vms"]],
        health=[_health(h) for h in j["health"]],
        alerts=[_alert(a) for a in j["alerts"]],
        sql_resources=[_sql(s) for s in j["sql"]],
        assigned={k: list(v) for k, v in j["assigned"].items()},
    )


def cycle_slice_to_json(c: CycleSlice) -> dict[str, Any]:
    return {
        "runs": [_run_json(r) for r in c.runs],
        "run_machines": c.run_machines,
        "notices": [n.to_json() for n in c.notices],
        "rejected": [_rejection_json(r) for r in c.rejected],
        "vms_read": c.vms_read,
        "alerts_read": c.alerts_read,
    }


def cycle_slice_from_json(j: Mapping[str, Any]) -> CycleSlice:
    return CycleSlice(
        runs=[_run(r) for r in j["runs"]],
        run_machines={k: list(v) for k, v in j["run_machines"].items()},
        notices=[NoticeOutcome.from_json(n) for n in j["notices"]],
        rejected=[_rejection(r) for r in j["rejected"]],
        vms_read=bool(j["vms_read"]),
        alerts_read=bool(j["alerts_read"]),
    )


_CYCLE_ID = re.compile(r"\d{4}-\d{2}")


def alert_periods(alert: Alert) -> set[str]:
    """The months (``YYYY-MM``) under which an alert is indexed, so that a cycle's alerts are
    found by reading its own months only: the cycle it names, the month its run started in,
    the month it opened in. A cycle reads its id and the months from its release to the
    next release (:func:`cycle_periods`); the index may hold more than a cycle's alerts
    (the report filters), never fewer."""
    from shared.domain.events import run_start_of

    ref = alert.key.cycle_or_run.strip()
    out = {alert.opened_at.strftime("%Y-%m")}
    if _CYCLE_ID.fullmatch(ref):
        out.add(ref)
    else:
        with contextlib.suppress(ValueError):  # not a run id
            out.add(run_start_of(ref).strftime("%Y-%m"))
    return out


def cycle_periods(cycle: Cycle) -> list[str]:
    """The index months a cycle's alerts are found under (see :func:`alert_periods`)."""
    out = {cycle.id}
    month = cycle.release_utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month < cycle.ends_utc:
        out.add(month.strftime("%Y-%m"))
        month = (month + timedelta(days=32)).replace(day=1)
    return sorted(out)


def groups_of(resource_ids: Iterable[str]) -> set[str]:
    """The group names (:func:`group_name`) of resources: what to pass to a refresh."""
    return {group_name(GroupKey.of(r)) for r in resource_ids}
