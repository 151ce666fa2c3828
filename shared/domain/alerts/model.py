"""The alert model: kinds, identities, verdicts, stored alerts and their transitions, and
the published form of a transition (a CloudEvent).

An alert's identity is ``(kind, resource, cycle or run)``: however often a rule fires,
however many instances evaluate it and however often events are redelivered, one
identity is one alert. An alert is ``open`` or ``resolved``; each change of state is a
*transition* with a sequence number (1 = opened, 2 = resolved, 3 = reopened, ...), and
each transition is published exactly once (see ``shared/adapters/alert_store.py``).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from ..calendar import format_utc

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
    MAINTENANCE_CANCELLED = "maintenance-cancelled"
    MAINTENANCE_OUTCOME_UNKNOWN = "maintenance-outcome-unknown"
    MAINTENANCE_UNCONFIRMED = "maintenance-unconfirmed"
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
    AlertKind.MAINTENANCE_CANCELLED: Severity.WARNING,
    AlertKind.MAINTENANCE_OUTCOME_UNKNOWN: Severity.WARNING,
    AlertKind.MAINTENANCE_UNCONFIRMED: Severity.WARNING,
    AlertKind.SCHEDULE_INEFFECTIVE: Severity.WARNING,
}

# Kinds only the passing of time can settle (the watchdog evaluates them), and kinds an
# event settles as it is recorded (the watchdog sweeps them too, as a safety net).
TIME_SETTLED: frozenset[AlertKind] = frozenset(
    {
        AlertKind.VM_NOT_ASSESSABLE,
        AlertKind.MAINTENANCE_OVERRAN,
        AlertKind.MAINTENANCE_WINDOW_MISSED,
        AlertKind.MAINTENANCE_UNCONFIRMED,
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

    @cached_property
    def normalized(self) -> tuple[str, str, str]:  # hashed for every verdict: computed once per key
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
