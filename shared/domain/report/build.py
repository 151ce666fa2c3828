"""Building the report: the facts of one cycle grouped per resource group, each group's
timeline (runs and notices placed, inferred where their machines are unknown, and marked
so), health dips folded from availability signals, alerts of the cycle, and the summary."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain.alerts import Alert
from shared.domain.calendar import Cycle
from shared.domain.events import Availability
from shared.domain.outcomes import (
    HealthSource,
    NoticeOutcome,
    ResourceHealth,
    RunOutcome,
    RunStatus,
    notice_resources,
)

from .model import (
    _ARM_ID,
    MARGIN,
    MAX_LANES,
    AlertMark,
    Annotation,
    ComplianceReport,
    Dip,
    GroupKey,
    GroupTimeline,
    Lane,
    NoticeMark,
    ReportInputs,
    RunMark,
    SqlResource,
    Standing,
    Summary,
    resource_name,
)

_UNHEALTHY = (Availability.UNAVAILABLE, Availability.DEGRADED)


def dips_of(health: ResourceHealth) -> list[Dip]:
    """Spells of Unavailable/Degraded from a resource's availability signals, oldest first.

    A repeated signal of the same state (Resource Health's event and its alert) continues
    the spell; a recovery whose onset was not seen gives a spell with an unknown start.
    """
    changes = [c for c in reversed(health.history) if c.availability is not None]
    out: list[Dip] = []
    state: Availability | None = None
    start: datetime | None = None
    detail = ""
    for c in changes:
        assert c.availability is not None
        if c.availability in _UNHEALTHY:
            if state is not None and state is not c.availability:
                out.append(Dip(state, start, c.occurred, detail))
                state = None
            if state is None:
                state, start, detail = c.availability, c.occurred, c.detail or ""
            elif not detail and c.detail:
                detail = c.detail
            continue
        if state is not None:
            out.append(Dip(state, start, c.occurred, detail))
        elif c.previous in _UNHEALTHY:
            assert c.previous is not None
            out.append(Dip(c.previous, None, c.occurred, c.detail or ""))
        state, start, detail = None, None, ""
    if state is not None:
        out.append(Dip(state, start, None, detail))
    return out


def _alert_in_cycle(alert: Alert, cycle: Cycle, run_keys: set[str]) -> bool:
    ref = alert.key.cycle_or_run.strip()
    if ref == cycle.id or ref.lower() in run_keys:
        return True
    if re.fullmatch(r"\d{4}-\d{2}", ref):
        return False  # another cycle's
    return cycle.release_utc <= alert.opened_at < cycle.ends_utc


@dataclass
class _Group:
    key: GroupKey
    subscription_id: str = ""
    resource_group: str = ""
    runs: list[RunMark] = field(default_factory=list)
    notices: list[NoticeMark] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)  # lower id -> id as first spelled


def _spell(resource_id: str) -> tuple[str, str]:
    m = _ARM_ID.match(resource_id.strip())
    return (m["sub"], m["rg"] or "") if m else ("", "")


def build_report(inputs: ReportInputs) -> ComplianceReport:
    """The report of ``inputs.cycle`` as of ``inputs.now``."""
    cycle, now = inputs.cycle, inputs.now
    start = cycle.release_utc - MARGIN
    end = max(cycle.ends_utc, cycle.install_deadline_utc) + MARGIN
    groups: dict[GroupKey, _Group] = {}

    def group_of(resource_id: str) -> _Group:
        key = GroupKey.of(resource_id)
        group = groups.get(key)
        if group is None:
            sub, rg = _spell(resource_id)
            group = groups[key] = _Group(key, sub, rg)
        return group

    def add_resource(resource_id: str) -> None:
        group_of(resource_id).resources.setdefault(resource_id.lower(), resource_id)

    # Resources: the roster, health, alerts.
    vms = {v.resource_id.lower(): v for v in inputs.vms or ()}
    for v in vms.values():
        add_resource(v.resource_id)

    dips: dict[str, list[Dip]] = {}
    annotations: dict[str, list[Annotation]] = {}
    for h in inputs.health:
        rid = h.resource_id.lower()
        spells = [
            d
            for d in dips_of(h)
            if (d.end is None or d.end >= start) and (d.start is None or (d.start <= end and d.start <= now))
        ]
        notes = [
            Annotation(c.occurred, c.detail or "annotation")
            for c in reversed(h.history)
            if c.source is HealthSource.ANNOTATION and start <= c.occurred <= min(end, now)
        ]
        if spells or notes:
            dips[rid], annotations[rid] = spells, notes
            add_resource(h.resource_id)

    run_keys = {r.run_key for r in inputs.runs}
    alerts: dict[str, list[AlertMark]] = {}
    cycle_alerts: list[Alert] = []
    for a in inputs.alerts or ():
        if not _alert_in_cycle(a, cycle, run_keys) or a.opened_at > now:
            continue
        cycle_alerts.append(a)
        mark = AlertMark(
            a.key.kind.value, a.severity, a.state, a.opened_at, a.resolved_at, a.message, a.key.cycle_or_run
        )
        alerts.setdefault(a.key.resource_id.lower(), []).append(mark)
        add_resource(a.key.resource_id)

    # Runs: in the groups of their machines, else of their subscriptions, else of their configuration.
    runs = [r for r in inputs.runs if cycle.release_utc <= r.run_start < cycle.ends_utc and r.run_start <= now]
    resource_groups = dict(groups)
    all_runs: list[RunMark] = []
    r_config = {r.correlation_id: r.configuration_id.lower() for r in runs}
    for r in runs:
        machines = list(inputs.run_machines.get(r.run_key, ())) or list(
            inputs.assigned_machines.get(r.configuration_id.lower(), ())
        )
        targets: dict[GroupKey, tuple[list[str], bool]] = {}
        if machines:
            for m in machines:
                add_resource(m)
                targets.setdefault(GroupKey.of(m), ([], False))[0].append(resource_name(m))
        else:
            subs = {s.lower() for s in r.subscriptions}
            for key in resource_groups:
                if key.subscription_id in subs and key.resource_group:
                    targets[key] = ([], True)

        def run_mark(names: Iterable[str], inferred: bool, r: RunOutcome = r) -> RunMark:
            return RunMark(
                r.correlation_id,
                r.configuration_name,
                r.status,
                r.status_raw,
                r.window_start,
                r.window_end,
                r.post_event_time if r.post_seen else None,
                tuple(sorted(names)),
                inferred,
                inputs.overran(r),
            )

        all_runs.append(run_mark((resource_name(m) for m in machines), not machines))
        for key, (names, inferred) in targets.items():
            groups[key].runs.append(run_mark(names, inferred))

    # SQL notices: in the groups of the resources they may concern (all in the overview).
    notices = [
        n
        for n in inputs.notices
        if (start <= n.impact_start <= end or any(cycle.release_utc <= at < cycle.ends_utc for _, at in n.stages))
        and n.first_notified <= now
    ]
    all_notices: list[NoticeMark] = []
    for n in notices:
        concerned = notice_resources(n, inputs.sql_resources)
        by_group: dict[GroupKey, list[str]] = {}
        for res in concerned:
            add_resource(res.resource_id)
            by_group.setdefault(GroupKey.of(res.resource_id), []).append(resource_name(res.resource_id))

        def notice_mark(names: Iterable[str], n: NoticeOutcome = n) -> NoticeMark:
            names = tuple(sorted(names))
            return NoticeMark(
                n.tracking_id,
                n.title or "",
                n.status.value,
                n.services,
                n.regions,
                n.impact_start,
                n.impact_mitigation,
                names,
                bool(names),
            )

        all_notices.append(notice_mark(resource_name(r.resource_id) for r in concerned))
        for key, names in by_group.items():
            groups[key].notices.append(notice_mark(names))

    sql_windows = {r.resource_id.lower(): _sql_windows(r, start, end) for r in inputs.sql_resources}
    config_runs: dict[str, list[RunMark]] = {}  # a configuration's own runs, in order (one pass, not one per lane)
    for run in all_runs:
        config_runs.setdefault(r_config[run.correlation_id], []).append(run)
    timelines = []
    for g in groups.values():
        lanes = []
        for rid, spelled in g.resources.items():
            vm = vms.get(rid)
            lanes.append(
                Lane(
                    spelled,
                    vm.standing if vm else None,
                    vm.detail if vm else "",
                    tuple(dips.get(rid, ())),
                    tuple(annotations.get(rid, ())),
                    tuple(sorted(alerts.get(rid, ()), key=lambda a: (a.opened, a.kind))),
                    tuple(config_runs.get(rid, ())),
                    sql_windows.get(rid, ()),
                    assessment_path=vm.assessment_path if vm else "",
                )
            )
        lanes.sort(key=lambda lane: (-lane.score, lane.name.lower(), lane.resource_id.lower()))
        shown = lanes[:MAX_LANES]  # quiet, compliant resources come last
        rest = Counter(lane.standing.value if lane.standing else "other" for lane in lanes[MAX_LANES:])
        timelines.append(
            GroupTimeline(
                g.key,
                g.subscription_id,
                g.resource_group,
                tuple(sorted(g.runs, key=lambda r: (r.window_start, r.configuration))),
                tuple(sorted(g.notices, key=lambda n: (n.start, n.tracking_id))),
                tuple(shown),
                dict(sorted(rest.items())),
            )
        )
    timelines.sort(key=lambda t: (-t.score, t.key.resource_group == "", t.title.lower(), t.key))
    return ComplianceReport(
        cycle=cycle,
        now=now,
        start=start,
        end=end,
        summary=_summary(inputs, runs, notices, dips, cycle_alerts),
        runs=tuple(all_runs),
        notices=tuple(sorted(all_notices, key=lambda n: (n.start, n.tracking_id))),
        groups=tuple(timelines),
        notes=tuple(inputs.notes) + tuple(_window_choice_notes(inputs.sql_resources)),
        sql_window_choice=window_choice(inputs.sql_resources),
        rejected=tuple(
            sorted(
                (r for r in inputs.rejected if cycle.release_utc <= r.received_at < cycle.ends_utc),
                key=lambda r: (r.received_at, r.digest),
                reverse=True,
            )
        ),
    )


def _sql_windows(resource: SqlResource, start: datetime, end: datetime) -> tuple[tuple[datetime, datetime], ...]:
    """The windows a SQL resource's maintenance configuration allows in [start, end) (UTC):
    the catalog's schedule of its configuration, local to its region (the system default's for
    a resource that cannot choose a window); none when that is unknown."""
    from shared.domain.schedule import ScheduleError
    from shared.domain.sql_catalog import DEFAULT_CONFIGURATION, catalog_schedule

    name = resource.configuration.rstrip("/").rsplit("/", 1)[-1] if resource.eligible else ""
    name = name or DEFAULT_CONFIGURATION
    try:
        schedule = catalog_schedule(name, resource.location)
    except (ScheduleError, ValueError):
        return ()
    return tuple((w.start_utc, w.end_utc) for w in schedule.windows_between(start, end))


def window_choice(resources: Sequence[SqlResource]) -> dict[str, Any]:
    """SQL resources that cannot choose a window (judged against SQL_Default only), and those
    that could but are still on the default policy."""
    return {
        "cannot_choose": [
            {"id": r.resource_id, "reasons": list(r.reasons)}
            for r in sorted(resources, key=lambda r: r.resource_id.lower())
            if not r.eligible
        ],
        "could_choose": sorted((r.resource_id for r in resources if r.eligible and r.on_default), key=str.lower),
    }


def _window_choice_notes(resources: Sequence[SqlResource]) -> list[str]:
    choice = window_choice(resources)
    notes = []
    if choice["cannot_choose"]:
        names = ", ".join(f"{c['id'].rsplit('/', 1)[-1]} ({'; '.join(c['reasons'])})" for c in choice["cannot_choose"])
        notes.append(f"Cannot choose a window, judged against SQL_Default only: {names}.")
    if choice["could_choose"]:
        names = ", ".join(r.rsplit("/", 1)[-1] for r in choice["could_choose"])
        notes.append(f"Could choose a window but still on the default policy (SQL_Default): {names}.")
    return notes


def _summary(
    inputs: ReportInputs,
    runs: Sequence[RunOutcome],
    notices: Sequence[NoticeOutcome],
    dips: Mapping[str, Sequence[Dip]],
    alerts: Sequence[Alert],
) -> Summary:
    standings = Counter(v.standing for v in inputs.vms or ())
    by_kind: dict[str, dict[str, int]] | None = None
    if inputs.alerts is not None:
        by_kind = {}
        for a in alerts:
            counts = by_kind.setdefault(a.key.kind.value, {"open": 0, "resolved": 0})
            counts[a.state.value] += 1
        by_kind = dict(sorted(by_kind.items()))
    run_counts = Counter(r.status.value for r in runs)
    return Summary(
        vms=None if inputs.vms is None else len(inputs.vms),
        assessed=sum(1 for v in inputs.vms or () if v.assessed),
        compliant=standings[Standing.COMPLIANT],
        pending=standings[Standing.PENDING],
        reboot_pending=standings[Standing.REBOOT_PENDING],
        failed=standings[Standing.FAILED],
        not_assessable=standings[Standing.NOT_ASSESSABLE],
        awaiting=standings[Standing.AWAITING],
        runs={
            s.value: run_counts.get(s.value, 0)
            for s in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SCHEDULED, *RunStatus)
            if s in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SCHEDULED) or run_counts.get(s.value)
        },
        runs_overran=sum(1 for r in runs if inputs.overran(r)),
        dips=sum(len(v) for v in dips.values()),
        resources_with_dips=sum(1 for v in dips.values() if v),
        still_unhealthy=tuple(
            sorted(
                resource_name(h.resource_id)
                for h in inputs.health
                if dips.get(h.resource_id.lower()) and dips[h.resource_id.lower()][-1].end is None
            )
        ),
        notices=len(notices),
        alerts_by_kind=by_kind,
    )
