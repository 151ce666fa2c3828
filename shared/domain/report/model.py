"""The report's model: what it reads (:class:`ReportInputs`: runs, health, SQL notices,
each VM's standing, alerts, SQL resources) and what it is (:class:`ComplianceReport`: a
:class:`Summary` and one :class:`GroupTimeline` per resource group, made of lanes, runs,
notices, dips, annotations and alert marks). Each part serialises itself (``to_json``).
Built by :mod:`.build`; drawn by :mod:`shared.presentation`."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.domain.alerts import Alert, AlertState, Severity
from shared.domain.calendar import Cycle, format_utc
from shared.domain.events import Availability
from shared.domain.outcomes import (
    NoticeOutcome,
    Rejection,
    ResourceHealth,
    RunOutcome,
    RunStatus,
)

#: Resources drawn per group; quieter ones beyond this are summarised in one line.
MAX_LANES = 40
#: The timeline runs from a little before the release to a little after the later of the
#: next release and the install deadline.
MARGIN = timedelta(hours=12)

_ARM_ID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?", re.IGNORECASE)


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
    assessment_path: str = ""  # resource-graph (its own periodic assessment) | assessPatches | "" (not sent)

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
    assessment_path: str = ""  # a roster VM's: resource-graph | assessPatches | "" (VmResult.assessment_path)

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
            "assessment_path": self.assessment_path,
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
