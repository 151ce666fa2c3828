"""Alerts: the model, the rules that raise them, and how a stored alert changes.

An alert's identity is ``(kind, resource, cycle or run)``: however often a rule fires,
however many instances evaluate it and however often events are redelivered, one
identity is one alert. An alert is ``open`` or ``resolved``; each change of state is a
*transition* with a sequence number (1 = opened, 2 = resolved, 3 = reopened, ...), and
each transition is published exactly once (see ``shared/adapters/alert_store.py``).

Rules are pure functions over recorded facts and ``now``. Each returns a :class:`Verdict`
for every identity it *could* settle: firing or clear. An identity a rule cannot settle
(its facts lie outside the look-back, a window it cannot know, a machine that never sent
a heartbeat) gets no verdict at all, so an alert is never resolved - nor raised - for
want of information. Facts dated after ``now`` are ignored: a rule sees the world as it
was at ``now``, which is what ``replay --now`` asks for.

No Azure SDK, no I/O, no clock.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .calendar import CalendarPolicy, Cycle, CycleKind, YearMonth, cycle_at, cycle_for_month, format_utc
from .schedule import MaintenanceSchedule, Window, chains

# -- the model -------------------------------------------------------------------------


class AlertKind(enum.StrEnum):
    PATCH_FAILED = "patch-failed"
    VM_NOT_ASSESSABLE = "vm-not-assessable"
    MAINTENANCE_OVERRAN = "maintenance-overran"
    MAINTENANCE_OUTSIDE_WINDOW = "maintenance-outside-window"
    MAINTENANCE_WINDOW_MISSED = "maintenance-window-missed"
    DEADLINE_MISSED = "deadline-missed"
    BASELINE_MISSED = "baseline-missed"
    UNPLANNED_BASELINE_SUSPECTED = "unplanned-baseline-suspected"
    UNHEALTHY_AFTER_MAINTENANCE = "unhealthy-after-maintenance"
    UNEXPECTED_REBOOT = "unexpected-reboot"
    SCHEDULE_INEFFECTIVE = "schedule-ineffective"

    @property
    def pascal(self) -> str:
        """``patch-failed`` -> ``PatchFailed`` (used in CloudEvent types)."""
        return "".join(p.capitalize() for p in self.value.split("-"))


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"


class AlertState(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class TransitionKind(enum.StrEnum):
    OPENED = "opened"
    RESOLVED = "resolved"
    REOPENED = "reopened"


SEVERITY: Mapping[AlertKind, Severity] = {
    AlertKind.PATCH_FAILED: Severity.ERROR,
    AlertKind.VM_NOT_ASSESSABLE: Severity.WARNING,
    AlertKind.MAINTENANCE_OVERRAN: Severity.ERROR,
    AlertKind.MAINTENANCE_OUTSIDE_WINDOW: Severity.WARNING,
    AlertKind.MAINTENANCE_WINDOW_MISSED: Severity.ERROR,
    AlertKind.DEADLINE_MISSED: Severity.CRITICAL,
    AlertKind.BASELINE_MISSED: Severity.CRITICAL,
    AlertKind.UNPLANNED_BASELINE_SUSPECTED: Severity.WARNING,
    AlertKind.UNHEALTHY_AFTER_MAINTENANCE: Severity.CRITICAL,
    AlertKind.UNEXPECTED_REBOOT: Severity.WARNING,
    AlertKind.SCHEDULE_INEFFECTIVE: Severity.WARNING,
}

# Kinds only the passing of time can settle (the watchdog evaluates them), and kinds an
# event settles as it is recorded (the watchdog sweeps them too, as a safety net).
TIME_SETTLED: frozenset[AlertKind] = frozenset(
    {
        AlertKind.VM_NOT_ASSESSABLE,
        AlertKind.MAINTENANCE_OVERRAN,
        AlertKind.MAINTENANCE_WINDOW_MISSED,
        AlertKind.DEADLINE_MISSED,
        AlertKind.BASELINE_MISSED,
        AlertKind.UNHEALTHY_AFTER_MAINTENANCE,
        AlertKind.SCHEDULE_INEFFECTIVE,  # from the cycle's configuration findings, swept by the watchdog
    }
)
EVENT_SETTLED: frozenset[AlertKind] = frozenset(AlertKind) - TIME_SETTLED

_NAMESPACE = uuid.UUID("7d0c2f4e-5b7a-4f43-9a53-3f3e0d6a2b11")


def _norm(text: str) -> str:
    return (text or "").strip().lower()


@dataclass(frozen=True)
class AlertKey:
    """The identity of an alert. Resource ids and run ids compare case-insensitively, as ARM's do."""

    kind: AlertKind
    resource_id: str
    cycle_or_run: str

    @property
    def normalized(self) -> tuple[str, str, str]:
        return (self.kind.value, _norm(self.resource_id), _norm(self.cycle_or_run))

    @property
    def alert_id(self) -> str:
        """A stable id for the identity (a UUID), the same in every process."""
        return str(uuid.uuid5(_NAMESPACE, "|".join(self.normalized)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlertKey) and self.normalized == other.normalized

    def __hash__(self) -> int:
        return hash(self.normalized)


def event_id(alert_id: str, sequence: int) -> str:
    """The CloudEvent id of one transition: stable, so a receiver can deduplicate."""
    return str(uuid.uuid5(_NAMESPACE, f"{alert_id}#{sequence}"))


@dataclass(frozen=True)
class Verdict:
    """What a rule says about one identity at ``now``: firing (with why) or clear."""

    key: AlertKey
    firing: bool
    message: str
    since: datetime | None = None  # when the condition began (firing verdicts)
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.key.kind]


@dataclass(frozen=True)
class Transition:
    sequence: int
    kind: TransitionKind
    at: datetime
    severity: Severity
    message: str


@dataclass(frozen=True)
class Alert:
    """An alert as stored: its current state and every transition it went through."""

    key: AlertKey
    state: AlertState
    severity: Severity
    message: str
    since: datetime
    opened_at: datetime
    changed_at: datetime
    resolved_at: datetime | None
    transitions: tuple[Transition, ...]
    published_sequence: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sequence(self) -> int:
        return self.transitions[-1].sequence if self.transitions else 0

    @property
    def pending(self) -> tuple[Transition, ...]:
        """Transitions not yet published, oldest first."""
        return tuple(t for t in self.transitions if t.sequence > self.published_sequence)

    def to_json(self) -> dict[str, Any]:
        """The ``replay`` contract's alert object."""
        return {
            "kind": self.key.kind.value,
            "resource_id": self.key.resource_id,
            "severity": self.severity.value,
            "cycle_or_run": self.key.cycle_or_run,
            "state": self.state.value,
            "message": self.message,
        }


# Transitions kept on an alert: enough for any number of unpublished ones in practice.
MAX_TRANSITIONS = 50


def apply_verdict(current: Alert | None, verdict: Verdict, now: datetime) -> Alert | None:
    """The alert after ``verdict``, or None when nothing changes.

    Firing opens a new alert or reopens a resolved one; clear resolves an open one. A
    firing verdict on an open alert only refreshes its message and details (no new
    transition, nothing published); a clear verdict with no open alert changes nothing.
    """
    key, severity = verdict.key, verdict.severity
    since = verdict.since or now
    if current is None:
        if not verdict.firing:
            return None
        t = Transition(1, TransitionKind.OPENED, now, severity, verdict.message)
        return Alert(key, AlertState.OPEN, severity, verdict.message, since, now, now, None, (t,), 0, verdict.details)
    if verdict.firing and current.state is AlertState.RESOLVED:
        t = Transition(current.sequence + 1, TransitionKind.REOPENED, now, severity, verdict.message)
        return replace(
            current,
            state=AlertState.OPEN,
            severity=severity,
            message=verdict.message,
            since=since,
            changed_at=now,
            resolved_at=None,
            transitions=(*current.transitions, t)[-MAX_TRANSITIONS:],
            details=verdict.details,
        )
    if verdict.firing:
        if current.message == verdict.message and dict(current.details) == dict(verdict.details):
            return None
        return replace(current, message=verdict.message, details=verdict.details)
    if current.state is AlertState.OPEN:
        t = Transition(current.sequence + 1, TransitionKind.RESOLVED, now, current.severity, verdict.message)
        return replace(
            current,
            state=AlertState.RESOLVED,
            message=verdict.message,
            changed_at=now,
            resolved_at=now,
            transitions=(*current.transitions, t)[-MAX_TRANSITIONS:],
        )
    return None


def merge_verdicts(verdicts: Iterable[Verdict]) -> dict[AlertKey, Verdict]:
    """One verdict per identity: if any rule fires for it, it fires (the first firing wins)."""
    out: dict[AlertKey, Verdict] = {}
    for v in verdicts:
        prev = out.get(v.key)
        if prev is None or (v.firing and not prev.firing):
            out[v.key] = v
    return out


# -- the published form ------------------------------------------------------------------

EVENT_SOURCE = "/patch-watch/alerts"
EVENT_TYPE_PREFIX = "PatchWatch.Alert"


def event_type(kind: AlertKind, transition: TransitionKind) -> str:
    """``PatchWatch.Alert.<Kind>.Opened`` (opened or reopened) or ``...Resolved``."""
    suffix = "Resolved" if transition is TransitionKind.RESOLVED else "Opened"
    return f"{EVENT_TYPE_PREFIX}.{kind.pascal}.{suffix}"


def _arm_parts(resource_id: str) -> dict[str, str]:
    parts = [p for p in resource_id.split("/") if p]
    low = [p.lower() for p in parts]
    out = {"subscriptionId": "", "resourceGroup": "", "resourceType": "", "resourceName": parts[-1] if parts else ""}
    if "subscriptions" in low and low.index("subscriptions") + 1 < len(parts):
        out["subscriptionId"] = parts[low.index("subscriptions") + 1]
    if "resourcegroups" in low and low.index("resourcegroups") + 1 < len(parts):
        out["resourceGroup"] = parts[low.index("resourcegroups") + 1]
    if "providers" in low:
        i = len(low) - 1 - low[::-1].index("providers")
        rest = parts[i + 1 :]
        if len(rest) >= 3:
            out["resourceType"] = "/".join([rest[0], *rest[1::2]][: 1 + len(rest) // 2])
    elif out["subscriptionId"] and len(parts) == 2:
        out["resourceType"] = "Microsoft.Resources/subscriptions"
    return out


def alert_event(alert: Alert, transition: Transition) -> dict[str, Any]:
    """One transition as a CloudEvent 1.0 (attributes and ``data``): everything a receiver
    needs to act without another lookup, and an id that is the same whenever it is resent."""
    key = alert.key
    opened = transition.kind is not TransitionKind.RESOLVED
    data: dict[str, Any] = {
        "alertId": key.alert_id,
        "kind": key.kind.value,
        "transition": transition.kind.value,
        "sequence": transition.sequence,
        "state": AlertState.OPEN.value if opened else AlertState.RESOLVED.value,
        "severity": transition.severity.value,
        "resourceId": key.resource_id,
        **_arm_parts(key.resource_id),
        "cycleOrRun": key.cycle_or_run,
        "message": transition.message,
        "since": format_utc(alert.since),
        "openedAt": format_utc(alert.opened_at),
        "occurredAt": format_utc(transition.at),
        "details": dict(alert.details),
        "portalUrl": f"https://portal.azure.com/#resource{key.resource_id}" if key.resource_id.startswith("/") else "",
    }
    return {
        "id": event_id(key.alert_id, transition.sequence),
        "source": EVENT_SOURCE,
        "type": event_type(key.kind, transition.kind),
        "subject": key.resource_id,
        "time": transition.at,
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "data": data,
    }


# -- recorded facts the rules read ------------------------------------------------------


@dataclass(frozen=True)
class RunFacts:
    """An Update Manager maintenance run (one correlation id), as the outcome store recorded it."""

    run_id: str
    configuration_id: str
    start_utc: datetime | None = None  # data.startDateTime: the run's scheduled start
    end_utc: datetime | None = None  # data.endDateTime: the end of its window
    pre_at: datetime | None = None  # when the pre-maintenance event was sent
    post_at: datetime | None = None
    post_status: str | None = None  # raw; "Succeeded" is the only documented success
    resource_ids: tuple[str, ...] = ()  # the run's VMs, when known

    def seen_at(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(pre, post) as known at ``now``."""
        pre = self.pre_at if self.pre_at is not None and self.pre_at <= now else None
        post = self.post_at if self.post_at is not None and self.post_at <= now else None
        return pre, post


@dataclass(frozen=True)
class SqlNoticeFacts:
    """An Azure SQL planned-maintenance notice (one tracking id) and the stages seen."""

    tracking_id: str
    resource_ids: tuple[str, ...]  # candidates: known SQL resources in its subscriptions and regions
    stages: Mapping[str, datetime]  # stage name (any case) -> when first seen
    impact_start: datetime | None = None
    impact_end: datetime | None = None
    subscriptions: tuple[str, ...] = ()  # subscription GUIDs the notice was sent for

    def stage_at(self, name: str, now: datetime) -> datetime | None:
        for k, v in self.stages.items():
            if k.lower() == name.lower() and v <= now:
                return v
        return None

    def latest_stage(self, now: datetime) -> str | None:
        seen = [(v, k.lower()) for k, v in self.stages.items() if v <= now]
        return max(seen)[1] if seen else None

    def started_at(self, now: datetime) -> datetime | None:
        """When the maintenance began: the notice's impact start, else when InProgress arrived."""
        in_progress = self.stage_at("InProgress", now)
        if self.impact_start is not None and (self.impact_start <= now or in_progress is not None):
            return self.impact_start
        return in_progress


@dataclass(frozen=True)
class ResourceWindow:
    """The maintenance window a resource chose (a SQL database, a managed instance)."""

    resource_id: str
    configuration: str  # the configuration's name or id, for messages
    schedule: MaintenanceSchedule


@dataclass(frozen=True)
class WatchedConfiguration:
    """An Update Manager maintenance configuration with an event subscription to this app."""

    configuration_id: str
    schedule: MaintenanceSchedule
    watched_since: datetime  # windows before this are not ours to judge


@dataclass(frozen=True)
class HealthFact:
    """One recorded health signal of a resource (Resource Health, annotations)."""

    resource_id: str
    at: datetime
    state: str = ""  # Available | Unavailable | Degraded | Unknown ("" for annotations)
    reboot: bool = False  # the signal says the machine restarted
    reason: str = ""

    @property
    def unhealthy(self) -> bool:
        return self.state.lower() in ("unavailable", "degraded")

    @property
    def available(self) -> bool:
        return self.state.lower() == "available"


_REBOOT = re.compile(r"reboot|restart", re.IGNORECASE)


def mentions_reboot(*texts: str | None) -> bool:
    """Whether a Resource Health annotation or title speaks of a reboot or restart."""
    return any(t and _REBOOT.search(t) for t in texts)


@dataclass(frozen=True)
class Heartbeats:
    """What Log Analytics said about VM heartbeats over a period: first and last per VM
    (keys lower-case). ``complete`` is False for a partial answer: then only positive
    evidence counts (a heartbeat seen), never an absence."""

    first: Mapping[str, datetime] = field(default_factory=dict)
    last: Mapping[str, datetime] = field(default_factory=dict)
    complete: bool = True
    queried: frozenset[str] = frozenset()  # the VMs asked about (lower-case)


@dataclass(frozen=True)
class VmCycleFacts:
    """One VM in one patch cycle, from the cycle store's assessment results."""

    vm_id: str
    cycle_id: str  # YYYY-MM
    hotpatch: bool = False
    status: str = ""  # latest: succeeded | failed | not-assessable | pending | ""
    status_at: datetime | None = None
    reason: str = ""  # failure or not-assessable reason
    assessed_ok_at: datetime | None = None  # latest successful assessment in the cycle
    critical_security_pending: int | None = None  # from the latest successful assessment
    reboot_security_pending: int | None = None  # Critical/Security patches pending that need a reboot
    reboot_pending: bool = False
    install_failed_at: datetime | None = None
    install_error: str = ""
    # Open findings the patch cycle recorded for this VM and cycle: kind -> (observed, message).
    findings: Mapping[str, tuple[datetime, str]] = field(default_factory=dict)

    def settled(self, now: datetime) -> bool:
        """Whether the cycle has a result for the VM at ``now`` (so an absent problem means clear)."""
        return any(t is not None and t <= now for t in (self.status_at, self.assessed_ok_at))

    def finding(self, kind: str, now: datetime) -> tuple[datetime, str] | None:
        f = self.findings.get(kind)
        return f if f is not None and f[0] <= now else None


@dataclass(frozen=True)
class AlertPolicy:
    calendar: CalendarPolicy = field(default_factory=CalendarPolicy)
    maintenance_grace: timedelta = timedelta(minutes=60)
    health_grace: timedelta = timedelta(minutes=30)
    lookback: timedelta = timedelta(days=40)
    window_tolerance: timedelta = timedelta(minutes=5)
    max_chain: timedelta = timedelta(days=7)  # a SQL maintenance spans at most this much of its chain
    unhealthy_watch_after: timedelta = timedelta(hours=24)
    unplanned_baseline_min_vms: int = 1


def _utc(d: datetime | None) -> str:
    return format_utc(d) if d is not None else "?"


def _local(d: datetime, zone: Any) -> str:
    return d.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _cycle(cycle_id: str, policy: AlertPolicy) -> Cycle | None:
    try:
        return cycle_for_month(YearMonth.parse(cycle_id), policy.calendar)
    except ValueError:
        return None


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


# -- rules -----------------------------------------------------------------------------


def patch_failed(runs: Iterable[RunFacts], vms: Iterable[VmCycleFacts], now: datetime) -> list[Verdict]:
    """A post-maintenance event reporting anything but success (per run), or an assessment or
    installation that failed (per VM and cycle) and was not followed by a success."""
    out: list[Verdict] = []
    for run in runs:
        _, post = run.seen_at(now)
        if post is None:
            continue
        key = AlertKey(AlertKind.PATCH_FAILED, run.configuration_id, run.run_id)
        status = run.post_status or ""
        if status.strip().lower() == "succeeded":
            out.append(
                Verdict(key, False, f"maintenance run {_name(run.run_id)} of {_name(run.configuration_id)} succeeded")
            )
        else:
            out.append(
                Verdict(
                    key,
                    True,
                    f"maintenance run {_name(run.run_id)} of {_name(run.configuration_id)} "
                    f"ended with status {status or '(none)'!r} at {_utc(post)}",
                    post,
                    {"status": status, "run_id": run.run_id, "post_at": _utc(post)},
                )
            )
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


def _window_containing(schedule: MaintenanceSchedule, instant: datetime, tolerance: timedelta) -> Window | None:
    """The window that contains ``instant``, allowing ``tolerance`` either side."""
    lo, hi = instant - schedule.duration - timedelta(days=2), instant + tolerance + timedelta(seconds=1)
    for w in schedule.windows_between(lo, hi):
        if w.start_utc - tolerance <= instant < w.end_utc + tolerance:
            return w
    return None


def sql_chain_end(schedule: MaintenanceSchedule, started: datetime, policy: AlertPolicy) -> datetime | None:
    """The end of the chain of adjacent windows a SQL maintenance that began at ``started``
    may span: from the window it began in (or the next one) through the windows that follow
    each within a day, at most ``policy.max_chain`` after the first window starts."""
    first = _window_containing(schedule, started, policy.window_tolerance)
    lo = first.start_utc if first is not None else started
    windows = schedule.windows_between(lo, lo + policy.max_chain)
    if not windows:
        return None
    chain = chains(windows)[0]
    return chain[-1].end_utc


def attribute_notice(
    notice: SqlNoticeFacts, started: datetime, sql_windows: Mapping[str, ResourceWindow], policy: AlertPolicy
) -> tuple[list[tuple[str, ResourceWindow]], bool]:
    """Which resources a notice concerns, with their windows, and whether it began inside them.

    Service Health names subscriptions and regions, not databases. Of the candidates whose
    window is known, those whose window contains the start explain the notice; if none
    does, the notice began outside the window of every candidate."""
    known = [(rid, sql_windows[_norm(rid)]) for rid in notice.resource_ids if _norm(rid) in sql_windows]
    inside = [(rid, rw) for rid, rw in known if _window_containing(rw.schedule, started, policy.window_tolerance)]
    return (inside, True) if inside else (known, False)


def maintenance_overran(
    runs: Iterable[RunFacts],
    notices: Iterable[SqlNoticeFacts],
    sql_windows: Mapping[str, ResourceWindow],
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """A run with a pre event and no post event by its end plus the grace; a SQL notice not
    Complete by the end of the chain of windows it may span plus the grace."""
    out: list[Verdict] = []
    grace = policy.maintenance_grace
    for run in runs:
        pre, post = run.seen_at(now)
        if pre is None or run.end_utc is None:
            continue
        key = AlertKey(AlertKind.MAINTENANCE_OVERRAN, run.configuration_id, run.run_id)
        due = run.end_utc + grace
        if post is not None:
            out.append(Verdict(key, False, f"maintenance run {_name(run.run_id)} completed at {_utc(post)}"))
        elif now >= due:
            out.append(
                Verdict(
                    key,
                    True,
                    f"maintenance run {_name(run.run_id)} of {_name(run.configuration_id)} started "
                    f"{_utc(run.start_utc)}, window ended {_utc(run.end_utc)}, and no post-maintenance event "
                    f"arrived by {_utc(due)} ({int(grace.total_seconds() // 60)} min grace)",
                    due,
                    {"run_id": run.run_id, "window_end": _utc(run.end_utc), "due": _utc(due)},
                )
            )
    for notice in notices:
        latest = notice.latest_stage(now)
        started = notice.started_at(now)
        if latest in (None, "canceled", "cancelled", "rescheduled") or started is None:
            continue
        complete = notice.stage_at("Complete", now) or notice.stage_at("Resolved", now)
        attributed, _ = attribute_notice(notice, started, sql_windows, policy)
        targets: list[tuple[str, ResourceWindow | None]] = list(attributed)
        if not targets:  # no window known: the notice's own planned end, per subscription
            targets = [(f"/subscriptions/{sub}", None) for sub in notice.subscriptions]
        for rid, rw in targets:
            key = AlertKey(AlertKind.MAINTENANCE_OVERRAN, rid, notice.tracking_id)
            if complete is not None:
                out.append(Verdict(key, False, f"SQL maintenance {notice.tracking_id} completed at {_utc(complete)}"))
                continue
            end = sql_chain_end(rw.schedule, started, policy) if rw else notice.impact_end
            if end is None or now < end + grace:
                continue
            due = end + grace
            where = f"the chain of {rw.configuration} windows it may span" if rw else "its planned impact"
            out.append(
                Verdict(
                    key,
                    True,
                    f"SQL maintenance {notice.tracking_id} on {_name(rid)} began {_utc(started)} and is not "
                    f"Complete after {where} ended {_utc(end)} (+{int(grace.total_seconds() // 60)} min grace)",
                    due,
                    {"tracking_id": notice.tracking_id, "started": _utc(started), "windows_end": _utc(end)},
                )
            )
    return out


def maintenance_outside_window(
    runs: Iterable[RunFacts],
    *,
    configurations: Mapping[str, MaintenanceSchedule],
    notices: Iterable[SqlNoticeFacts],
    sql_windows: Mapping[str, ResourceWindow],
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """An Update Manager run, or a SQL maintenance, whose activity starts outside the window
    its resource has configured (judged in the configuration's local time). Resources whose
    window is unknown are not judged. Critical fixes may override a window."""
    out: list[Verdict] = []
    tol = policy.window_tolerance
    for run in runs:
        pre, post = run.seen_at(now)
        schedule = configurations.get(_norm(run.configuration_id))
        if schedule is None or run.start_utc is None or (pre is None and post is None):
            continue
        key = AlertKey(AlertKind.MAINTENANCE_OUTSIDE_WINDOW, run.configuration_id, run.run_id)
        w = _window_containing(schedule, run.start_utc, tol)
        if w is not None:
            out.append(Verdict(key, False, f"maintenance run {_name(run.run_id)} started inside its window"))
        else:
            out.append(
                Verdict(
                    key,
                    True,
                    f"maintenance run {_name(run.run_id)} started {_local(run.start_utc, schedule.zone)} "
                    f"({_utc(run.start_utc)}), outside any window of {_name(run.configuration_id)} "
                    f"({schedule.recurrence.text} at {schedule.start_local:%H:%M} for "
                    f"{_hm(schedule.duration)}, {schedule.zone.key})",
                    run.start_utc,
                    {"run_id": run.run_id, "started": _utc(run.start_utc), "time_zone": schedule.zone.key},
                )
            )
    for notice in notices:
        started = notice.started_at(now)
        latest = notice.latest_stage(now)
        if started is None or latest in ("canceled", "cancelled"):
            continue
        attributed, inside = attribute_notice(notice, started, sql_windows, policy)
        for rid, rw in attributed:
            key = AlertKey(AlertKind.MAINTENANCE_OUTSIDE_WINDOW, rid, notice.tracking_id)
            if inside:
                out.append(Verdict(key, False, f"SQL maintenance {notice.tracking_id} began inside {rw.configuration}"))
                continue
            out.append(
                Verdict(
                    key,
                    True,
                    f"SQL maintenance {notice.tracking_id} on {_name(rid)} began "
                    f"{_local(started, rw.schedule.zone)} ({_utc(started)}), outside the window of "
                    f"{rw.configuration} in the region's local time (critical fixes may override windows)",
                    started,
                    {"tracking_id": notice.tracking_id, "started": _utc(started), "time_zone": rw.schedule.zone.key},
                )
            )
    return out


def _hm(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def maintenance_window_missed(
    watched: Iterable[WatchedConfiguration], runs: Sequence[RunFacts], policy: AlertPolicy, now: datetime
) -> list[Verdict]:
    """A watched configuration's window ended (plus the grace) with no event for it.
    Only configurations with an event subscription to this app are watched, and only
    their windows since they are watched."""
    out: list[Verdict] = []
    tol = policy.window_tolerance
    for cfg in watched:
        mine = [r for r in runs if _norm(r.configuration_id) == _norm(cfg.configuration_id)]
        lo = max(now - policy.lookback, cfg.watched_since)
        for w in cfg.schedule.windows_between(lo - cfg.schedule.duration - timedelta(days=1), now):
            if w.start_utc < cfg.watched_since:
                continue
            due = w.end_utc + policy.maintenance_grace
            key = AlertKey(AlertKind.MAINTENANCE_WINDOW_MISSED, cfg.configuration_id, format_utc(w.start_utc))
            hit = None
            for r in mine:
                pre, post = r.seen_at(now)
                if pre is None and post is None:
                    continue
                if r.start_utc is not None:
                    if w.start_utc - tol <= r.start_utc < w.end_utc:
                        hit = r
                        break
                elif any(t is not None and w.start_utc - timedelta(hours=2) <= t < due for t in (pre, post)):
                    hit = r
                    break
            if hit is not None:
                out.append(Verdict(key, False, f"window {_utc(w.start_utc)} had run {_name(hit.run_id)}"))
            elif now >= due and w.end_utc >= lo:
                out.append(
                    Verdict(
                        key,
                        True,
                        f"no maintenance event for the window of {_name(cfg.configuration_id)} from "
                        f"{_local(w.start_utc, w.zone)} to {_local(w.end_utc, w.zone)} "
                        f"({_utc(w.start_utc)} - {_utc(w.end_utc)}): the run did not happen or was not reported",
                        due,
                        {"window_start": _utc(w.start_utc), "window_end": _utc(w.end_utc), "time_zone": w.zone.key},
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


@dataclass(frozen=True)
class Activity:
    """A period of maintenance on one resource: an Update Manager run on a VM, or a SQL
    maintenance on a database, as recorded."""

    resource_id: str
    run: str  # run id or notice tracking id
    start: datetime
    end: datetime  # when it finished (post / Complete), or the end of its window


def maintenance_activities(
    runs: Iterable[RunFacts], notices: Iterable[SqlNoticeFacts], now: datetime
) -> list[Activity]:
    """Finished maintenance per resource, as known at ``now``."""
    out: list[Activity] = []
    for run in runs:
        pre, post = run.seen_at(now)
        start = run.start_utc or pre
        if start is None or (post is None and (run.end_utc is None or run.end_utc > now)):
            continue
        end = post if post is not None else run.end_utc
        assert end is not None
        out.extend(Activity(rid, run.run_id, start, max(end, start)) for rid in run.resource_ids)
    for notice in notices:
        started = notice.started_at(now)
        done = notice.stage_at("Complete", now)
        if started is None or done is None:
            continue
        out.extend(Activity(rid, notice.tracking_id, started, max(done, started)) for rid in notice.resource_ids)
    return out


def _heartbeat_after(heartbeats: Heartbeats | None, rid: str, act: Activity) -> str:
    """``back`` (a heartbeat after the maintenance), ``silent`` (reported before, not since),
    ``unknown`` (a partial answer without it) or ``n/a`` (not asked, or never reported)."""
    if heartbeats is None or rid not in heartbeats.queried:
        return "n/a"
    first, last = heartbeats.first.get(rid), heartbeats.last.get(rid)
    if last is not None and last >= act.end:
        return "back"
    if not heartbeats.complete:
        return "unknown"
    if first is not None and first < act.start:
        return "silent"
    return "n/a"


def unhealthy_after_maintenance(
    activities: Iterable[Activity],
    health: Iterable[HealthFact],
    heartbeats: Heartbeats | None,
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """A resource unavailable or degraded during or after its maintenance and not recovered
    within the health grace, or a VM without a heartbeat after its maintenance although it
    sent heartbeats before."""
    grace = policy.health_grace
    by_resource: dict[str, list[HealthFact]] = {}
    for h in health:
        if h.state and h.at <= now:
            by_resource.setdefault(_norm(h.resource_id), []).append(h)
    for facts in by_resource.values():
        facts.sort(key=lambda h: h.at)
    out: list[Verdict] = []
    for act in activities:
        if now < act.end + grace:
            continue  # not settled yet: the resource still has its grace
        rid = _norm(act.resource_id)
        key = AlertKey(AlertKind.UNHEALTHY_AFTER_MAINTENANCE, act.resource_id, act.run)
        facts = by_resource.get(rid, [])
        current = facts[-1] if facts else None
        problem: Verdict | None = None
        healthy = False
        if current is not None and current.unhealthy:
            spell = current.at
            for h in reversed(facts):
                if not h.unhealthy:
                    break
                spell = h.at
            related = act.start - grace <= spell <= act.end + policy.unhealthy_watch_after
            due = max(spell, act.end) + grace
            if related and now >= due:
                problem = Verdict(
                    key,
                    True,
                    f"{_name(act.resource_id)} is {current.state} since {_utc(spell)} after maintenance "
                    f"{_name(act.run)} ({_utc(act.start)} - {_utc(act.end)}) and has not recovered within "
                    f"{int(grace.total_seconds() // 60)} min",
                    spell,
                    {"state": current.state, "since": _utc(spell), "maintenance_end": _utc(act.end)},
                )
        elif current is not None and current.available:
            healthy = True
        beat = _heartbeat_after(heartbeats, rid, act)
        if problem is None and beat == "silent":
            last = heartbeats.last.get(rid) if heartbeats else None
            problem = Verdict(
                key,
                True,
                f"{_name(act.resource_id)} sent no heartbeat since maintenance {_name(act.run)} ended "
                f"{_utc(act.end)} (last heartbeat {_utc(last)})",
                act.end,
                {"last_heartbeat": _utc(last), "maintenance_end": _utc(act.end)},
            )
        if problem is not None:
            out.append(problem)
        elif beat != "unknown" and (healthy or beat == "back") and (current is None or healthy):
            out.append(Verdict(key, False, f"{_name(act.resource_id)} is healthy after maintenance {_name(act.run)}"))
    return out


def vm_windows(
    vm_id: str,
    runs: Iterable[RunFacts],
    schedules: Sequence[MaintenanceSchedule],
    around: datetime,
    grace: timedelta,
) -> list[tuple[datetime, datetime]]:
    """The periods a VM may legitimately restart around ``around``: the runs it took part
    in (to their post event or window end, plus the grace) and its configurations' windows."""
    rid = _norm(vm_id)
    out: list[tuple[datetime, datetime]] = []
    for run in runs:
        if rid in {_norm(r) for r in run.resource_ids} and run.start_utc is not None:
            end = max(t for t in (run.end_utc, run.post_at, run.start_utc) if t is not None)
            out.append((run.start_utc, end + grace))
    for s in schedules:
        for w in s.windows_between(around - s.duration - timedelta(days=2), around + timedelta(days=1)):
            out.append((w.start_utc, w.end_utc + grace))
    return out


def unexpected_reboot(
    hotpatch_vms: Iterable[str],
    *,
    health: Iterable[HealthFact],
    runs: Sequence[RunFacts],
    vm_schedules: Mapping[str, Sequence[MaintenanceSchedule]],
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """A hotpatch VM that restarted in a hotpatch month outside any of its windows. Baseline
    months (planned or unplanned) expect reboots and are never judged."""
    enrolled = {_norm(v): v for v in hotpatch_vms}
    reboots: dict[tuple[str, str], list[HealthFact]] = {}
    for h in health:
        rid = _norm(h.resource_id)
        if not h.reboot or rid not in enrolled or h.at > now or h.at < now - policy.lookback:
            continue
        cycle = cycle_at(h.at, policy.calendar)
        if cycle.kind is not CycleKind.HOTPATCH:
            continue
        reboots.setdefault((rid, cycle.id), []).append(h)
    out: list[Verdict] = []
    for (rid, cycle_id), facts in sorted(reboots.items()):
        vm_id = enrolled[rid]
        key = AlertKey(AlertKind.UNEXPECTED_REBOOT, vm_id, cycle_id)
        schedules = vm_schedules.get(rid, ())
        outside = []
        for h in sorted(facts, key=lambda f: f.at):
            periods = vm_windows(vm_id, runs, schedules, h.at, policy.maintenance_grace)
            if not any(a - policy.window_tolerance <= h.at < b for a, b in periods):
                outside.append(h)
        if outside:
            first = outside[0]
            out.append(
                Verdict(
                    key,
                    True,
                    f"hotpatch VM {_name(vm_id)} restarted at {_utc(first.at)} in hotpatch month {cycle_id}, outside "
                    f"any of its maintenance windows ({first.reason or 'restart'}"
                    + (f"; {len(outside)} restarts" if len(outside) > 1 else "")
                    + ")",
                    first.at,
                    {"cycle": cycle_id, "restarts": [_utc(h.at) for h in outside], "reason": first.reason},
                )
            )
        else:
            out.append(Verdict(key, False, f"every restart of {_name(vm_id)} in {cycle_id} was inside a window"))
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


# -- everything together -----------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """Everything the rules read, gathered by the watchdog (or an event handler)."""

    runs: tuple[RunFacts, ...] = ()
    notices: tuple[SqlNoticeFacts, ...] = ()
    vms: tuple[VmCycleFacts, ...] = ()
    health: tuple[HealthFact, ...] = ()
    heartbeats: Heartbeats | None = None
    watched: tuple[WatchedConfiguration, ...] = ()
    configurations: Mapping[str, MaintenanceSchedule] = field(default_factory=dict)  # lower-case id -> schedule
    sql_windows: Mapping[str, ResourceWindow] = field(default_factory=dict)  # lower-case resource id
    vm_schedules: Mapping[str, tuple[MaintenanceSchedule, ...]] = field(default_factory=dict)  # lower-case VM id
    hotpatch_vms: tuple[str, ...] = ()


def evaluate(
    facts: Facts, policy: AlertPolicy, now: datetime, kinds: Iterable[AlertKind] | None = None
) -> list[Verdict]:
    """Every rule (or those of ``kinds``) over ``facts`` at ``now``: one verdict per identity."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    wanted = set(AlertKind) if kinds is None else set(kinds)
    verdicts: list[Verdict] = []
    if AlertKind.PATCH_FAILED in wanted:
        verdicts += patch_failed(facts.runs, facts.vms, now)
    if AlertKind.VM_NOT_ASSESSABLE in wanted:
        verdicts += vm_not_assessable(facts.vms, policy, now)
    if AlertKind.MAINTENANCE_OVERRAN in wanted:
        verdicts += maintenance_overran(facts.runs, facts.notices, facts.sql_windows, policy, now)
    if AlertKind.MAINTENANCE_OUTSIDE_WINDOW in wanted:
        verdicts += maintenance_outside_window(
            facts.runs,
            configurations=facts.configurations,
            notices=facts.notices,
            sql_windows=facts.sql_windows,
            policy=policy,
            now=now,
        )
    if AlertKind.MAINTENANCE_WINDOW_MISSED in wanted:
        verdicts += maintenance_window_missed(facts.watched, facts.runs, policy, now)
    if AlertKind.DEADLINE_MISSED in wanted:
        verdicts += deadline_missed(facts.vms, policy, now)
    if AlertKind.BASELINE_MISSED in wanted:
        verdicts += baseline_missed(facts.vms, policy, now)
    if AlertKind.UNPLANNED_BASELINE_SUSPECTED in wanted:
        verdicts += unplanned_baseline_suspected(facts.vms, policy, now)
    if AlertKind.UNHEALTHY_AFTER_MAINTENANCE in wanted:
        acts = maintenance_activities(facts.runs, facts.notices, now)
        verdicts += unhealthy_after_maintenance(acts, facts.health, facts.heartbeats, policy, now)
    if AlertKind.SCHEDULE_INEFFECTIVE in wanted:
        verdicts += schedule_ineffective(facts.vms, now)
    if AlertKind.UNEXPECTED_REBOOT in wanted:
        hotpatch = facts.hotpatch_vms or tuple({v.vm_id for v in facts.vms if v.hotpatch})
        verdicts += unexpected_reboot(
            hotpatch, health=facts.health, runs=facts.runs, vm_schedules=facts.vm_schedules, policy=policy, now=now
        )
    return list(merge_verdicts(verdicts).values())
