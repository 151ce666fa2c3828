"""The monthly compliance report: what one patch cycle's recorded facts add up to.

Input (:class:`ReportInputs`) is what the stores hold about a cycle: maintenance runs,
health signals and SQL maintenance notices (the outcome store), each VM's standing in
the cycle (the patch cycle's store), alerts (the alert store), and which machines a run
or a SQL notice concerns where that is known. Output (:class:`ComplianceReport`) is a
summary (how many VMs were assessed, are compliant, still pending, failed, not
assessable; runs; health dips; alerts by kind) and one timeline per resource group:
the cycle's release and install deadline, the runs and windows that touched the group,
its resources' health dips and annotations, and their alerts.

Where a run's machines are not known (no verification, no assignment cached), the run
is drawn in every resource group of the subscriptions it targeted, flagged as inferred;
where no group of those subscriptions is known, in its configuration's own group. A
Service Health notice goes to the groups of the SQL resources it may concern, else to
its subscription. Nothing is guessed silently: every inference is marked as one.

Pure: no I/O, no clock (``now`` is part of the input), no Azure SDK.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.domain.alerts import Alert, AlertState, Severity
from shared.domain.calendar import Cycle, format_utc
from shared.domain.events import Availability
from shared.domain.outcomes import (
    HealthSource,
    NoticeOutcome,
    Rejection,
    ResourceHealth,
    RunOutcome,
    RunStatus,
    notice_resources,
)

#: Resources drawn per group; quieter ones beyond this are summarised in one line.
MAX_LANES = 40
#: The timeline runs from a little before the release to a little after the later of the
#: next release and the install deadline.
MARGIN = timedelta(hours=12)

_ARM_ID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?", re.IGNORECASE)
_UNHEALTHY = (Availability.UNAVAILABLE, Availability.DEGRADED)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else format_utc(value)


def resource_name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] or resource_id


@dataclass(frozen=True, order=True)
class GroupKey:
    """A resource group (``resource_group`` empty: the subscription itself). Lower-case."""

    subscription_id: str
    resource_group: str

    @classmethod
    def of(cls, resource_id: str) -> GroupKey:
        m = _ARM_ID.match(resource_id.strip())
        if not m:
            return cls("", "")
        return cls(m["sub"].lower(), (m["rg"] or "").lower())


# -- inputs -------------------------------------------------------------------------------


class Standing(enum.StrEnum):
    """A VM's standing in the cycle, from its latest assessment (and installation)."""

    COMPLIANT = "compliant"
    PENDING = "pending"
    REBOOT_PENDING = "reboot-pending"
    """Nothing left to install, but a reboot is pending: the patches are not in effect yet."""
    FAILED = "failed"
    NOT_ASSESSABLE = "not-assessable"
    AWAITING = "not-yet-assessed"


_ASSESSED_OK = ("succeeded", "completed-with-warnings")


@dataclass(frozen=True)
class VmResult:
    """One VM of the cycle's roster, as the patch cycle recorded it in its current round."""

    resource_id: str
    state: str  # queued | starting | running | succeeded | completed-with-warnings | failed | not-assessable
    critical_security_pending: int | None = None  # from a successful assessment
    reason: str = ""
    finished: datetime | None = None
    install_state: str = ""  # remediation: "" | queued | ... | succeeded | failed
    install_reason: str = ""
    reboot_pending: bool = False  # the latest successful assessment says a reboot is pending

    @property
    def name(self) -> str:
        return resource_name(self.resource_id)

    @property
    def standing(self) -> Standing:
        if self.install_state == "failed":
            return Standing.FAILED
        if self.install_state == "succeeded":
            return Standing.COMPLIANT
        if self.state in _ASSESSED_OK:
            if (self.critical_security_pending or 0) > 0:
                return Standing.PENDING
            return Standing.REBOOT_PENDING if self.reboot_pending else Standing.COMPLIANT
        if self.state == "failed":
            return Standing.FAILED
        if self.state == "not-assessable":
            return Standing.NOT_ASSESSABLE
        return Standing.AWAITING

    @property
    def assessed(self) -> bool:
        return self.state in _ASSESSED_OK

    @property
    def detail(self) -> str:
        standing = self.standing
        if standing is Standing.PENDING:
            return f"{self.critical_security_pending} Critical/Security patch(es) pending"
        if standing is Standing.REBOOT_PENDING:
            return "reboot pending: installed patches are not in effect until it restarts"
        if standing is Standing.COMPLIANT and self.install_state == "succeeded":
            return "compliant (installed by remediation)"
        if standing is Standing.FAILED:
            return f"failed: {self.install_reason or self.reason or 'no reason recorded'}"
        if standing is Standing.NOT_ASSESSABLE:
            return self.reason or "not assessable"
        if standing is Standing.AWAITING:
            return f"not yet assessed ({self.state or 'unknown'})"
        return "compliant: no Critical/Security patch pending"


@dataclass(frozen=True)
class SqlResource:
    """A known Azure SQL database or managed instance (from the cached schedules)."""

    resource_id: str
    location: str
    kind: str  # database | managed_instance
    configuration: str = ""  # the maintenance configuration it names ("" or SQL_Default: the default policy)
    eligible: bool = True  # can it choose a window (SQL_EXCLUDED_* and the document's limits)?
    reasons: tuple[str, ...] = ()  # why not

    @property
    def on_default(self) -> bool:
        name = self.configuration.rstrip("/").rsplit("/", 1)[-1]
        return not name or name.lower() == "sql_default"


@dataclass(frozen=True)
class ReportInputs:
    cycle: Cycle
    now: datetime
    runs: Sequence[RunOutcome] = ()
    health: Sequence[ResourceHealth] = ()
    notices: Sequence[NoticeOutcome] = ()
    vms: Sequence[VmResult] | None = None  # None: the patch cycle's results could not be read
    alerts: Sequence[Alert] | None = None  # None: the alert store could not be read
    run_machines: Mapping[str, Sequence[str]] = field(default_factory=dict)  # run key -> VM ids
    assigned_machines: Mapping[str, Sequence[str]] = field(default_factory=dict)  # configuration id (lower) -> VMs
    sql_resources: Sequence[SqlResource] = ()
    notes: Sequence[str] = ()  # what could not be read, said plainly
    overrun_grace: timedelta = timedelta(0)  # MAINTENANCE_GRACE_MINUTES: a later post event is an overrun
    rejected: Sequence[Rejection] = ()  # what was refused (conflicts, quarantined rows included) in the cycle

    def overran(self, run: RunOutcome) -> bool:
        """The post event came after the window's end and the grace, or has not come by then."""
        due = run.window_end + self.overrun_grace
        return run.post_event_time > due if run.post_event_time is not None else self.now > due


# -- the timeline's parts -------------------------------------------------------------------


@dataclass(frozen=True)
class RunMark:
    """A maintenance run as a group's timeline shows it."""

    correlation_id: str
    configuration: str
    status: RunStatus
    status_raw: str | None
    window_start: datetime
    window_end: datetime
    ended: datetime | None  # the post event
    machines: tuple[str, ...]  # names of the run's machines in this group (when known)
    inferred: bool  # the machines are not known: drawn for the subscription's groups
    overran: bool = False  # the post event came (or is still missing) later than the window's end plus the grace

    @property
    def label(self) -> str:
        words = {
            RunStatus.SUCCEEDED: "succeeded",
            RunStatus.FAILED: "failed",
            RunStatus.SCHEDULED: "no post event",
            RunStatus.IN_PROGRESS: "not finished",
            RunStatus.CANCELLED: "cancelled",
            RunStatus.UNKNOWN: "unknown outcome",
        }
        text = words[self.status]
        if self.status is not RunStatus.SCHEDULED and self.status_raw and self.status_raw.lower() != text:
            text += f" ({self.status_raw})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "configuration": self.configuration,
            "status": self.status.value,
            "status_raw": self.status_raw,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "ended": _iso(self.ended),
            "overran": self.overran,
            "machines": list(self.machines),
            "inferred": self.inferred,
        }


@dataclass(frozen=True)
class NoticeMark:
    """An Azure SQL planned-maintenance notice (Service Health) and its impact window."""

    tracking_id: str
    title: str
    status: str
    services: tuple[str, ...]
    regions: tuple[str, ...]
    start: datetime
    end: datetime | None
    resources: tuple[str, ...]  # names of the SQL resources in this group it may concern
    matched: bool  # False: no SQL resource known, shown for the subscription

    def to_json(self) -> dict[str, Any]:
        return {
            "tracking_id": self.tracking_id,
            "title": self.title,
            "status": self.status,
            "services": list(self.services),
            "regions": list(self.regions),
            "start": _iso(self.start),
            "end": _iso(self.end),
            "resources": list(self.resources),
            "matched": self.matched,
        }


@dataclass(frozen=True)
class Dip:
    """A spell of ill health: ``start`` None when only the recovery was seen, ``end`` None
    while it lasts (at ``now``)."""

    state: Availability
    start: datetime | None
    end: datetime | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.value, "start": _iso(self.start), "end": _iso(self.end), "detail": self.detail}


@dataclass(frozen=True)
class Annotation:
    at: datetime
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "detail": self.detail}


@dataclass(frozen=True)
class AlertMark:
    kind: str
    severity: Severity
    state: AlertState
    opened: datetime
    resolved: datetime | None
    message: str
    cycle_or_run: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity.value,
            "state": self.state.value,
            "opened": _iso(self.opened),
            "resolved": _iso(self.resolved),
            "message": self.message,
            "cycle_or_run": self.cycle_or_run,
        }


_STANDING_SCORE = {
    Standing.FAILED: 50,
    Standing.PENDING: 8,
    Standing.REBOOT_PENDING: 6,
    Standing.NOT_ASSESSABLE: 4,
    Standing.AWAITING: 2,
}


@dataclass(frozen=True)
class Lane:
    """One resource in a group's timeline."""

    resource_id: str
    standing: Standing | None  # None: not on the cycle's roster (a SQL resource, a configuration, ...)
    standing_detail: str
    dips: tuple[Dip, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    alerts: tuple[AlertMark, ...] = ()
    runs: tuple[RunMark, ...] = ()  # a maintenance configuration's own runs
    windows: tuple[tuple[datetime, datetime], ...] = ()  # a SQL resource's own maintenance windows (UTC)

    @property
    def name(self) -> str:
        return resource_name(self.resource_id)

    @property
    def kind(self) -> str:
        """What the resource is, in words (from its ARM type)."""
        rid = self.resource_id.lower()
        if "/microsoft.maintenance/maintenanceconfigurations/" in rid:
            return "maintenance configuration"
        if "/microsoft.sql/managedinstances/" in rid:
            return "SQL managed instance"
        if "/microsoft.sql/" in rid:
            return "SQL database"
        if "/microsoft.compute/virtualmachines/" in rid:
            return "VM, not on the cycle's roster"
        return "resource" if "/resourcegroups/" in rid else "subscription"

    @property
    def eventful(self) -> bool:
        return bool(self.dips or self.annotations or self.alerts)

    @property
    def score(self) -> int:
        """How urgently a reader should look here: open alerts, failures and ongoing
        ill health first, then what happened and resolved, then quiet compliance."""
        score = 0
        for a in self.alerts:
            if a.state is AlertState.OPEN:
                score += 150 if a.severity is Severity.CRITICAL else 100
            else:
                score += 5
        if self.standing is not None:
            score += _STANDING_SCORE.get(self.standing, 0)
        score += sum(40 if d.end is None else 10 for d in self.dips) + len(self.annotations)
        return score

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_id": self.resource_id,
            "name": self.name,
            "standing": self.standing.value if self.standing else None,
            "standing_detail": self.standing_detail,
            "dips": [d.to_json() for d in self.dips],
            "annotations": [a.to_json() for a in self.annotations],
            "alerts": [a.to_json() for a in self.alerts],
            "runs": [r.correlation_id for r in self.runs],
        }


@dataclass(frozen=True)
class GroupTimeline:
    key: GroupKey
    subscription_id: str  # as first spelled
    resource_group: str  # as first spelled; "" for the subscription itself
    runs: tuple[RunMark, ...]
    notices: tuple[NoticeMark, ...]
    lanes: tuple[Lane, ...]  # drawn, most in need of attention first
    quiet: Mapping[str, int]  # resources not drawn (beyond MAX_LANES), by standing

    @property
    def title(self) -> str:
        return self.resource_group or f"subscription {self.subscription_id}"

    @property
    def open_alerts(self) -> int:
        return sum(1 for lane in self.lanes for a in lane.alerts if a.state is AlertState.OPEN)

    @property
    def score(self) -> int:
        """Sum of its resources' scores, and failed runs known to have touched it."""
        failed = sum(40 for r in self.runs if r.status is RunStatus.FAILED and not r.inferred)
        return sum(lane.score for lane in self.lanes) + failed

    @property
    def needs_attention(self) -> bool:
        """An open alert, a failed VM or run, or a resource still unhealthy."""
        return self.score >= 40

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "score": self.score,
            "runs": [r.to_json() for r in self.runs],
            "notices": [n.to_json() for n in self.notices],
            "lanes": [lane.to_json() for lane in self.lanes],
            "quiet": dict(self.quiet),
        }


@dataclass(frozen=True)
class Summary:
    vms: int | None  # None: no patch-cycle results were read
    assessed: int
    compliant: int
    pending: int
    failed: int
    not_assessable: int
    awaiting: int
    runs: Mapping[str, int]  # succeeded / failed / scheduled
    runs_overran: int
    dips: int
    resources_with_dips: int
    still_unhealthy: tuple[str, ...]  # resources whose last known state is Unavailable or Degraded
    notices: int
    alerts_by_kind: Mapping[str, Mapping[str, int]] | None  # kind -> {"open": n, "resolved": n}
    reboot_pending: int = 0  # nothing left to install but a reboot pending: not counted compliant

    @property
    def open_alerts(self) -> int:
        return sum(v["open"] for v in (self.alerts_by_kind or {}).values())

    def to_json(self) -> dict[str, Any]:
        return {
            "vms": self.vms,
            "assessed": self.assessed,
            "compliant": self.compliant,
            "pending": self.pending,
            "reboot_pending": self.reboot_pending,
            "failed": self.failed,
            "not_assessable": self.not_assessable,
            "not_yet_assessed": self.awaiting,
            "runs": dict(self.runs),
            "runs_overran": self.runs_overran,
            "health_dips": self.dips,
            "resources_with_dips": self.resources_with_dips,
            "still_unhealthy": list(self.still_unhealthy),
            "sql_notices": self.notices,
            "alerts_by_kind": None
            if self.alerts_by_kind is None
            else {k: dict(v) for k, v in self.alerts_by_kind.items()},
        }


@dataclass(frozen=True)
class ComplianceReport:
    cycle: Cycle
    now: datetime
    start: datetime  # the timeline's extent
    end: datetime
    summary: Summary
    runs: tuple[RunMark, ...]  # every run of the cycle, once (the overview)
    notices: tuple[NoticeMark, ...]  # every SQL maintenance notice of the cycle, once
    groups: tuple[GroupTimeline, ...]
    notes: tuple[str, ...]
    sql_window_choice: Mapping[str, Any] = field(default_factory=dict)
    rejected: tuple[Rejection, ...] = ()  # refusals received during the cycle, newest first

    def to_json(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle.id,
            "cycle_kind": self.cycle.kind.value,
            "release_utc": format_utc(self.cycle.release_utc),
            "install_deadline_utc": format_utc(self.cycle.install_deadline_utc),
            "next_release_utc": format_utc(self.cycle.ends_utc),
            "as_of_utc": format_utc(self.now),
            "summary": self.summary.to_json(),
            "runs": [r.to_json() for r in self.runs],
            "sql_notices": [n.to_json() for n in self.notices],
            "groups": [g.to_json() for g in self.groups],
            "notes": list(self.notes),
            "sql_window_choice": dict(self.sql_window_choice),
            "rejected": [r.to_json() for r in self.rejected],
        }


# -- building it ------------------------------------------------------------------------------


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
                    tuple(r for r in all_runs if r_config[r.correlation_id] == rid),
                    sql_windows.get(rid, ()),
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
