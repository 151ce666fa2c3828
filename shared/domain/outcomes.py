"""The outcome model: what a maintenance run, a maintenance notice and a resource's
health *are*, derived from the facts recorded about them.

Facts are domain events (:mod:`shared.domain.events`), each identified by
``(event type, event id)``. Every state here is a fold over a *set* of facts: duplicates
collapse to one, and the facts are put in a canonical order (by their own timestamps,
never by arrival) before folding. So any interleaving and duplication of deliveries
converges to the state of the same events delivered once, in order: a post event that
arrives before its pre event, or a "Complete" notice that arrives before "Planned",
changes nothing in the result.

Also here: :class:`Rejection` (what was refused and why) and :func:`follow_ups`, the
actions an accepted event calls for, as plain data for the cycle's executor.

Pure: no I/O, no clock (``now`` is a parameter), no Azure SDK.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from shared.domain.events import (
    Availability,
    DomainEvent,
    HealthEvent,
    MaintenanceEvent,
    MaintenancePhase,
    MaintenanceResult,
    MaintenanceRunIds,
    NoticeStage,
    ResourceHealthAlert,
    SqlMaintenanceNotice,
    format_instant,
    run_result,
)
from shared.domain.region import region_key

E = TypeVar("E", MaintenanceEvent, HealthEvent | ResourceHealthAlert, SqlMaintenanceNotice, DomainEvent)


class StoreUnavailableError(RuntimeError):
    """The outcome store could not be reached or failed transiently: nothing was written,
    and the delivery must be retried (Event Grid redelivers when the function raises)."""


class FactConflictError(ValueError):
    """An event whose (type, id) was recorded before with other content: ``columns`` differ.
    Recorded as a refusal, never a silent duplicate (the first row stays)."""

    def __init__(self, columns: list[str]) -> None:
        super().__init__(
            "conflict: an event of the same type and id was recorded before with other content "
            f"(differs in {', '.join(columns)}); the first one is kept"
        )
        self.columns = columns


def fact_key(event: DomainEvent) -> tuple[str, str]:
    """The idempotency key. Maintenance ids are resource ids, hence case-insensitive."""
    if isinstance(event, MaintenanceEvent):
        return event.event_type, event.event_id.lower()
    return event.event_type, event.event_id


def _unique(events: Iterable[E]) -> list[E]:
    """One fact per key. Should two facts share a key yet differ (a store never holds
    both), the choice is still independent of the order they came in."""
    chosen: dict[tuple[str, str], E] = {}
    for e in events:
        k = fact_key(e)
        if k not in chosen or repr(e) < repr(chosen[k]):
            chosen[k] = e
    return list(chosen.values())


def _iso(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


# -- maintenance runs -------------------------------------------------------------------


class RunStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    """The pre event is in; no post event yet."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_PROGRESS = "in-progress"
    """The post event says the run is not finished (pending, in progress, to be retried)."""
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    """The post event's status is a value no published source lists (kept in ``status_raw``)."""


_RUN_STATUS = {
    MaintenanceResult.SUCCEEDED: RunStatus.SUCCEEDED,
    MaintenanceResult.FAILED: RunStatus.FAILED,
    MaintenanceResult.IN_PROGRESS: RunStatus.IN_PROGRESS,
    MaintenanceResult.CANCELLED: RunStatus.CANCELLED,
    MaintenanceResult.UNKNOWN: RunStatus.UNKNOWN,
}


@dataclass(frozen=True)
class RunOutcome(MaintenanceRunIds):
    """A maintenance run, keyed by its correlation id (``.../applyupdates/yyyyMMddHHmmss``)."""

    correlation_id: str
    configuration_id: str
    status: RunStatus
    status_raw: str | None
    pre_seen: bool
    post_seen: bool
    window_start: datetime
    window_end: datetime
    cancellation_cutoff: datetime | None
    subscriptions: tuple[str, ...]
    pre_event_time: datetime | None
    post_event_time: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "configuration_id": self.configuration_id,
            "month": self.month,
            "status": self.status.value,
            "status_raw": self.status_raw,
            "pre_seen": self.pre_seen,
            "post_seen": self.post_seen,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "cancellation_cutoff": _iso(self.cancellation_cutoff),
            "subscriptions": list(self.subscriptions),
            "pre_event_time": _iso(self.pre_event_time),
            "post_event_time": _iso(self.post_event_time),
        }


def fold_run(events: Iterable[MaintenanceEvent]) -> RunOutcome:
    """One run's state from its pre and/or post event. The window is the one the pre
    event announced (the post event's when no pre event came)."""
    facts = _unique(events)
    if not facts:
        raise ValueError("a run needs at least one event")
    keys = {e.run_key for e in facts}
    if len(keys) != 1:
        raise ValueError(f"events of different runs: {sorted(keys)}")
    pre = next((e for e in facts if e.phase is MaintenancePhase.PRE), None)
    post = next((e for e in facts if e.phase is MaintenancePhase.POST), None)
    first = pre or post
    assert first is not None
    # The raw status decides (read again, so a row recorded under an older mapping reads right).
    result = run_result(post.status_raw) if post is not None else None
    status = RunStatus.SCHEDULED if result is None else _RUN_STATUS[result]
    return RunOutcome(
        correlation_id=first.correlation_id,
        configuration_id=first.configuration_id,
        status=status,
        status_raw=post.status_raw if post else None,
        pre_seen=pre is not None,
        post_seen=post is not None,
        window_start=first.start,
        window_end=first.end,
        cancellation_cutoff=pre.cancellation_cutoff if pre else None,
        subscriptions=tuple(sorted({s for e in facts for s in e.subscriptions})),
        pre_event_time=pre.event_time if pre else None,
        post_event_time=post.event_time if post else None,
    )


def fold_runs(events: Iterable[MaintenanceEvent]) -> list[RunOutcome]:
    """Every run among the events, in order of scheduled start."""
    by_run: dict[str, list[MaintenanceEvent]] = {}
    for e in events:
        by_run.setdefault(e.run_key, []).append(e)
    runs = [fold_run(group) for group in by_run.values()]
    return sorted(runs, key=lambda r: (r.run_start, r.run_key))


# -- resource health --------------------------------------------------------------------


class HealthSource(enum.StrEnum):
    AVAILABILITY = "availability"
    ANNOTATION = "annotation"
    ALERT = "alert"


@dataclass(frozen=True)
class HealthChange:
    """One entry of a resource's health history, whichever signal reported it."""

    resource_id: str
    occurred: datetime
    source: HealthSource
    availability: Availability | None
    previous: Availability | None
    detail: str | None
    event_type: str
    event_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_id": self.resource_id,
            "occurred": _iso(self.occurred),
            "source": self.source.value,
            "availability": self.availability.value if self.availability else None,
            "previous": self.previous.value if self.previous else None,
            "detail": self.detail,
            "event_type": self.event_type,
            "event_id": self.event_id,
        }


def health_change(event: HealthEvent | ResourceHealthAlert) -> HealthChange:
    if isinstance(event, ResourceHealthAlert):
        detail = " / ".join(p for p in (event.title, event.cause) if p) or None
        source = HealthSource.ALERT
    elif event.availability is not None:
        detail, source = None, HealthSource.AVAILABILITY
    else:
        detail = " / ".join(p for p in (event.annotation_name, event.reason, event.context) if p) or None
        source = HealthSource.ANNOTATION
    return HealthChange(
        resource_id=event.resource_id,
        occurred=event.occurred,
        source=source,
        availability=event.availability,
        previous=event.previous_availability,
        detail=detail,
        event_type=event.event_type,
        event_id=event.event_id,
    )


def health_history(events: Iterable[HealthEvent | ResourceHealthAlert]) -> tuple[HealthChange, ...]:
    """Newest first, by when it happened (not when it arrived)."""
    changes = [health_change(e) for e in _unique(events)]
    return tuple(sorted(changes, key=lambda c: (c.occurred, c.source.value, c.event_id), reverse=True))


@dataclass(frozen=True)
class ResourceHealth:
    resource_id: str
    availability: Availability | None
    since: datetime | None
    history: tuple[HealthChange, ...]

    @property
    def latest(self) -> HealthChange | None:
        return next((c for c in self.history if c.availability is not None), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_id": self.resource_id,
            "availability": self.availability.value if self.availability else None,
            "since": _iso(self.since),
            "history": [c.to_json() for c in self.history],
        }


def fold_health(events: Iterable[HealthEvent | ResourceHealthAlert]) -> ResourceHealth:
    """A resource's current availability: the most recent signal that states one."""
    history = health_history(events)
    if not history:
        raise ValueError("a resource's health needs at least one event")
    resource_ids = {c.resource_id.lower() for c in history}
    if len(resource_ids) != 1:
        raise ValueError(f"events of different resources: {sorted(resource_ids)}")
    latest = next((c for c in history if c.availability is not None), None)
    return ResourceHealth(
        resource_id=min(c.resource_id for c in history),
        availability=latest.availability if latest else None,
        since=latest.occurred if latest else None,
        history=history,
    )


# -- maintenance notices ----------------------------------------------------------------


@dataclass(frozen=True)
class NoticeOutcome:
    """A planned-maintenance notice (one tracking id) across its stages."""

    tracking_id: str
    status: NoticeStage
    stages: tuple[tuple[NoticeStage, datetime], ...]
    title: str | None
    services: tuple[str, ...]
    regions: tuple[str, ...]
    impact_start: datetime
    impact_mitigation: datetime | None
    subscriptions: tuple[str, ...]
    first_notified: datetime
    last_updated: datetime

    @property
    def final(self) -> bool:
        return self.status.final

    @property
    def completed_at(self) -> datetime | None:
        return next((at for stage, at in self.stages if stage is NoticeStage.COMPLETE), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "tracking_id": self.tracking_id,
            "status": self.status.value,
            "stages": [{"stage": s.value, "at": _iso(at)} for s, at in self.stages],
            "title": self.title,
            "services": list(self.services),
            "regions": list(self.regions),
            "impact_start": _iso(self.impact_start),
            "impact_mitigation": _iso(self.impact_mitigation),
            "subscriptions": list(self.subscriptions),
            "first_notified": _iso(self.first_notified),
            "last_updated": _iso(self.last_updated),
        }

    @classmethod
    def from_json(cls, j: Mapping[str, Any]) -> NoticeOutcome:
        """The notice :meth:`to_json` wrote (the watchdog's fact base, the report's summaries)."""

        def instant(text: str | None) -> datetime:
            if not text:
                raise ValueError("a required instant is missing")
            return datetime.fromisoformat(text.replace("Z", "+00:00"))

        return cls(
            tracking_id=j["tracking_id"],
            status=NoticeStage(j["status"]),
            stages=tuple((NoticeStage(s["stage"]), instant(s["at"])) for s in j["stages"]),
            title=j["title"],
            services=tuple(j["services"]),
            regions=tuple(j["regions"]),
            impact_start=instant(j["impact_start"]),
            impact_mitigation=instant(j["impact_mitigation"]) if j["impact_mitigation"] else None,
            subscriptions=tuple(j["subscriptions"]),
            first_notified=instant(j["first_notified"]),
            last_updated=instant(j["last_updated"]),
        )


def fold_notice(events: Iterable[SqlMaintenanceNotice]) -> NoticeOutcome:
    """Stages in the order Service Health sent them (their timestamps; ties by the stages'
    natural order): the latest gives the status and the current impact window."""
    facts = sorted(_unique(events), key=lambda n: (n.event_time, n.stage.rank, n.event_id))
    if not facts:
        raise ValueError("a notice needs at least one event")
    keys = {n.notice_key for n in facts}
    if len(keys) != 1:
        raise ValueError(f"events of different notices: {sorted(keys)}")
    last = facts[-1]
    return NoticeOutcome(
        tracking_id=last.notice_key,
        status=last.stage,
        stages=tuple((n.stage, n.event_time) for n in facts),
        title=next((n.title for n in reversed(facts) if n.title), None),
        services=last.services,
        regions=last.regions,
        impact_start=last.impact_start,
        impact_mitigation=last.impact_mitigation,
        subscriptions=tuple(sorted({s for n in facts for s in n.subscriptions})),
        first_notified=facts[0].event_time,
        last_updated=last.event_time,
    )


def fold_notices(events: Iterable[SqlMaintenanceNotice]) -> list[NoticeOutcome]:
    by_notice: dict[str, list[SqlMaintenanceNotice]] = {}
    for n in events:
        by_notice.setdefault(n.notice_key, []).append(n)
    notices = [fold_notice(group) for group in by_notice.values()]
    return sorted(notices, key=lambda n: (n.impact_start, n.tracking_id))


class SqlResourceLike(Protocol):
    """A known Azure SQL database or managed instance, however it was cached."""

    @property
    def resource_id(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def kind(self) -> str: ...  # database | managed_instance


SqlR = TypeVar("SqlR", bound=SqlResourceLike)
_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)


def notice_resources(notice: NoticeOutcome, resources: Iterable[SqlR]) -> list[SqlR]:
    """Known SQL resources a notice may concern: in one of its subscriptions and regions (when
    it names any), of the kind of service it names (both kinds when it names neither or both)."""
    subs = {s.lower() for s in notice.subscriptions}
    regions = {region_key(r) for r in notice.regions}
    services = " ".join(notice.services).lower()
    kinds = {"database", "managed_instance"}
    if "managed instance" in services and "database" not in services:
        kinds = {"managed_instance"}
    elif "database" in services and "managed instance" not in services:
        kinds = {"database"}
    out = []
    for r in resources:
        m = _SUBSCRIPTION.match(r.resource_id.strip())
        in_sub = not subs or (m is not None and m.group(1).lower() in subs)
        if in_sub and (not regions or region_key(r.location) in regions) and r.kind in kinds:
            out.append(r)
    return out


# -- rejections -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    """Something that was refused: where it came from, which field, what was wrong.
    ``raw`` may be cut short (``raw_size`` is the full size in bytes)."""

    source: str
    field: str
    problem: str
    received_at: datetime
    raw: str
    raw_size: int
    digest: str
    """sha256 of the full raw text: the same bytes refused twice are recorded once."""

    @property
    def reason(self) -> str:
        return f"{self.field}: {self.problem}"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "reason": self.reason,
            "received_at": _iso(self.received_at),
            "raw_size": self.raw_size,
        }


# -- follow-up actions ------------------------------------------------------------------


def follow_ups(
    event: DomainEvent, *, now: datetime, gate_runs: bool = False, unhealthy_share: float = 0.5
) -> tuple[dict[str, Any], ...]:
    """What an event calls for, as plain data (the patch-cycle work executes these).

    Each action has a ``key``: executors use it to do an action once even when a
    redelivered event lists it again (listing it again is what makes a crash between
    recording and acting recoverable).

    - ``verify-run`` after a post event: look up the run's machines (Resource Graph
      ``maintenanceresources``) and check their patch results and health.
    - ``gate-run`` after a pre event, when gating is on and the cancellation cut-off
      is still ahead: check the run's machines' health and cancel the run if more than
      ``unhealthy_share`` of them are unhealthy.
    """
    if not isinstance(event, MaintenanceEvent):
        return ()
    common = {
        "correlation_id": event.correlation_id,
        "configuration_id": event.configuration_id,
        "subscriptions": list(event.subscriptions),
        "window_start": _iso(event.start),
        "window_end": _iso(event.end),
    }
    if event.phase is MaintenancePhase.POST:
        return (
            {
                "action": "verify-run",
                "key": f"verify-run|{event.run_key}",
                **common,
                "status": event.status.value if event.status else None,
                "status_raw": event.status_raw,
            },
        )
    if gate_runs and event.cancellation_cutoff is not None and now < event.cancellation_cutoff:
        return (
            {
                "action": "gate-run",
                "key": f"gate-run|{event.run_key}",
                **common,
                "cancel_before": _iso(event.cancellation_cutoff),
                "unhealthy_share": unhealthy_share,
            },
        )
    return ()
