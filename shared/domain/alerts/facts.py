"""The recorded facts the rules read, the policy they apply, and the small helpers they
share to say what they found (times in UTC and local time, names, windows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from ..calendar import CalendarPolicy, Cycle, YearMonth, cycle_for_month, format_utc
from ..events import MaintenanceResult, run_result
from ..schedule import MaintenanceSchedule, Window


@dataclass(frozen=True)
class RunFacts:
    """An Update Manager maintenance run (one correlation id), as the outcome store recorded it."""

    run_id: str
    configuration_id: str
    start_utc: datetime | None = None  # data.startDateTime: the run's scheduled start
    end_utc: datetime | None = None  # data.endDateTime: the end of its window
    pre_at: datetime | None = None  # when the pre-maintenance event was sent
    post_at: datetime | None = None
    post_status: str | None = None  # raw, as the post event sent it (read with events.run_result)
    resource_ids: tuple[str, ...] = ()  # the run's VMs, when known
    gate_cancelled: bool = False  # this app's pre-maintenance gate cancelled the run
    subscriptions: tuple[str, ...] | None = None  # resourceSubscriptionIds (None: not known)

    @property
    def empty_scope(self) -> bool:
        """The events named no subscription: a dynamic scope that matched no machine."""
        return self.subscriptions is not None and not self.subscriptions

    def result(self, now: datetime) -> MaintenanceResult | None:
        """The post event's outcome as known at ``now`` (None: no post event yet)."""
        _, post = self.seen_at(now)
        return None if post is None else run_result(self.post_status or "")

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
        """When the maintenance is *confirmed* to have begun: a start stage (InProgress,
        Active) or a completion (Complete, Resolved) was seen by ``now``; it began at the
        notice's impact start, or at that stage if it came earlier. None: not confirmed
        started (a Planned notice alone says what is planned, not what happened)."""
        seen = [t for name in START_STAGES + DONE_STAGES if (t := self.stage_at(name, now)) is not None]
        if not seen:
            return None
        first = min(seen)
        return min(self.impact_start, first) if self.impact_start is not None else first

    def completed_at(self, now: datetime) -> datetime | None:
        seen = [t for name in DONE_STAGES if (t := self.stage_at(name, now)) is not None]
        return min(seen) if seen else None

    def withdrawn(self, now: datetime) -> str | None:
        """``canceled`` or ``rescheduled`` when that is the latest stage at ``now``: the
        maintenance announced before is not (or no longer) happening then."""
        latest = self.latest_stage(now)
        if latest in ("canceled", "cancelled"):
            return "canceled"
        return "rescheduled" if latest == "rescheduled" else None


# Service Health notice stages (domain notes section 4; the common alert schema's stage values).
START_STAGES = ("InProgress", "Active")


DONE_STAGES = ("Complete", "Resolved")


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
    # A SQL maintenance may span adjacent windows: the window it began in and the next ones the
    # configuration allows, however many days apart (a managed instance's weekend windows).
    sql_chain_windows: int = 4  # a weekday window's Monday-to-Thursday nights
    unhealthy_watch_after: timedelta = timedelta(hours=24)
    unplanned_baseline_min_vms: int = 1


# -- how the rules say what they found ---------------------------------------------------


def _utc(d: datetime | None) -> str:
    return format_utc(d) if d is not None else "?"


def _local(d: datetime, zone: Any) -> str:
    return d.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _cycle(cycle_id: str, policy: AlertPolicy) -> Cycle | None:
    return _cycle_of(cycle_id, policy.calendar)


@lru_cache(maxsize=256)
def _cycle_of(cycle_id: str, calendar: CalendarPolicy) -> Cycle | None:
    """A month's cycle (pure and asked once per VM and rule: computed once per month)."""
    try:
        return cycle_for_month(YearMonth.parse(cycle_id), calendar)
    except ValueError:
        return None


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _window_containing(schedule: MaintenanceSchedule, instant: datetime, tolerance: timedelta) -> Window | None:
    """The window that contains ``instant``, allowing ``tolerance`` either side."""
    lo, hi = instant - schedule.duration - timedelta(days=2), instant + tolerance + timedelta(seconds=1)
    for w in schedule.windows_between(lo, hi):
        if w.start_utc - tolerance <= instant < w.end_utc + tolerance:
            return w
    return None
