"""Rules over SQL maintenance as Service Health notices announce it (Planned, InProgress,
Complete, ...): a maintenance that overran the chain of windows it may span, one never
confirmed started, one that began outside its resource's window.

Service Health names subscriptions and regions, not databases: a notice is attributed to
the candidate resources whose window is known, else judged per subscription.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from ..schedule import MaintenanceSchedule, Window
from .facts import AlertPolicy, ResourceWindow, SqlNoticeFacts, _local, _name, _utc, _window_containing
from .model import AlertKey, AlertKind, Verdict, _norm


def sql_chain_end(
    schedule: MaintenanceSchedule, started: datetime, policy: AlertPolicy, planned_end: datetime | None = None
) -> datetime | None:
    """The end of the chain of windows a SQL maintenance that began at ``started`` may span:
    the window it began in (or the next one) and the configuration's next eligible windows,
    ``policy.sql_chain_windows`` in all, however many days apart they are (SQL maintenance
    "may span adjacent windows"; for a managed instance's weekend windows the next one can be
    five days on) - and at least through the window holding the notice's planned end."""
    first = _window_containing(schedule, started, policy.window_tolerance)
    lo = first.start_utc if first is not None else started
    windows: list[Window] = []
    hi = lo
    while len(windows) < policy.sql_chain_windows and hi < lo + timedelta(days=400):
        hi += timedelta(days=35)
        windows = schedule.windows_between(lo, hi)
    if not windows:
        return None
    end = windows[: policy.sql_chain_windows][-1].end_utc
    if planned_end is not None and planned_end > end:
        holding = _window_containing(schedule, planned_end, policy.window_tolerance)
        end = max(end, holding.end_utc if holding is not None else planned_end)
    return end


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


def _notice_keys(kind: AlertKind, notice: SqlNoticeFacts, sql_windows: Mapping[str, ResourceWindow]) -> list[AlertKey]:
    """Every identity a rule of ``kind`` may have given this notice: each candidate resource
    whose window is known, and each subscription (when no window is known)."""
    rids = [rid for rid in notice.resource_ids if _norm(rid) in sql_windows]
    rids += [f"/subscriptions/{sub}" for sub in notice.subscriptions]
    return [AlertKey(kind, rid, notice.tracking_id) for rid in rids]


def _with_clears(firing: list[Verdict], every: Iterable[AlertKey], message: str) -> list[Verdict]:
    """The firing verdicts, and a clear one for every other identity the rule may have opened
    before (under other facts): an alert ends when its cause no longer holds."""
    fired = {v.key for v in firing}
    return firing + [Verdict(k, False, message) for k in every if k not in fired]


def _notice_targets(
    notice: SqlNoticeFacts, start: datetime, sql_windows: Mapping[str, ResourceWindow], policy: AlertPolicy
) -> list[tuple[str, ResourceWindow | None]]:
    attributed, _ = attribute_notice(notice, start, sql_windows, policy)
    targets: list[tuple[str, ResourceWindow | None]] = list(attributed)
    if not targets:  # no window known: the notice's own planned end, per subscription
        targets = [(f"/subscriptions/{sub}", None) for sub in notice.subscriptions]
    return targets


def _notice_end(
    notice: SqlNoticeFacts, start: datetime, rw: ResourceWindow | None, policy: AlertPolicy
) -> datetime | None:
    if rw is None:
        return notice.impact_end
    return sql_chain_end(rw.schedule, start, policy, notice.impact_end)


def notices_overran(
    notices: Iterable[SqlNoticeFacts],
    sql_windows: Mapping[str, ResourceWindow],
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """``maintenance-overran`` per SQL notice: confirmed started and not Complete by the end
    of the chain of windows it may span plus the grace."""
    out: list[Verdict] = []
    for notice in notices:
        out += _notice_overran(notice, sql_windows, policy, now)
    return out


def _notice_overran(
    notice: SqlNoticeFacts, sql_windows: Mapping[str, ResourceWindow], policy: AlertPolicy, now: datetime
) -> list[Verdict]:
    grace = policy.maintenance_grace
    every = _notice_keys(AlertKind.MAINTENANCE_OVERRAN, notice, sql_windows)
    tid = notice.tracking_id
    withdrawn = notice.withdrawn(now)
    started = notice.started_at(now)
    complete = notice.completed_at(now)
    if withdrawn:
        return _with_clears([], every, f"SQL maintenance {tid} was {withdrawn}")
    if complete is not None:
        return _with_clears([], every, f"SQL maintenance {tid} completed at {_utc(complete)}")
    if started is None:
        return _with_clears([], every, f"SQL maintenance {tid} is not confirmed started")
    firing: list[Verdict] = []
    for rid, rw in _notice_targets(notice, started, sql_windows, policy):
        end = _notice_end(notice, started, rw, policy)
        if end is None or now < end + grace:
            continue
        where = f"the chain of {rw.configuration} windows it may span" if rw else "its planned impact"
        firing.append(
            Verdict(
                AlertKey(AlertKind.MAINTENANCE_OVERRAN, rid, tid),
                True,
                f"SQL maintenance {tid} on {_name(rid)} began {_utc(started)} and is not "
                f"Complete after {where} ended {_utc(end)} (+{int(grace.total_seconds() // 60)} min grace)",
                end + grace,
                {"tracking_id": tid, "started": _utc(started), "windows_end": _utc(end)},
            )
        )
    return _with_clears(firing, every, f"SQL maintenance {tid} is within the windows it may span")


def maintenance_unconfirmed(
    notices: Iterable[SqlNoticeFacts],
    sql_windows: Mapping[str, ResourceWindow],
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """A SQL notice still only Planned after the windows it announced (and the ones it may
    span) ended plus the grace: no start and no completion was notified. The work may have
    been done and its notices missed or late ("Complete" can come days late), so this is a
    warning that nothing confirms it, not an overrun. Any later stage clears it."""
    out: list[Verdict] = []
    grace = policy.maintenance_grace
    for notice in notices:
        tid = notice.tracking_id
        every = _notice_keys(AlertKind.MAINTENANCE_UNCONFIRMED, notice, sql_windows)
        withdrawn = notice.withdrawn(now)
        if notice.latest_stage(now) is None:
            continue
        if withdrawn or notice.started_at(now) is not None or notice.impact_start is None:
            why = f"was {withdrawn}" if withdrawn else "is confirmed by a later notice"
            out += _with_clears([], every, f"SQL maintenance {tid} {why}")
            continue
        planned = notice.impact_start
        firing: list[Verdict] = []
        for rid, rw in _notice_targets(notice, planned, sql_windows, policy):
            end = _notice_end(notice, planned, rw, policy)
            if end is None or now < end + grace:
                continue
            firing.append(
                Verdict(
                    AlertKey(AlertKind.MAINTENANCE_UNCONFIRMED, rid, tid),
                    True,
                    f"SQL maintenance {tid} on {_name(rid)} was planned to begin {_utc(planned)}; the windows it "
                    f"may span ended {_utc(end)} and no InProgress or Complete notice has arrived: not confirmed "
                    "started nor completed (a notice may have been missed or be late)",
                    end + grace,
                    {"tracking_id": tid, "planned_start": _utc(planned), "windows_end": _utc(end)},
                )
            )
        out += _with_clears(firing, every, f"SQL maintenance {tid} is not past its windows")
    return out


def notices_outside_window(
    notices: Iterable[SqlNoticeFacts],
    sql_windows: Mapping[str, ResourceWindow],
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """``maintenance-outside-window`` per SQL notice: a SQL maintenance whose start lies
    outside the window its resources have configured (judged in the region's local time).
    Resources whose window is unknown are not judged. Critical fixes may override a window."""
    out: list[Verdict] = []
    for notice in notices:
        out += _notice_outside(notice, sql_windows, policy, now)
    return out


def _notice_outside(
    notice: SqlNoticeFacts, sql_windows: Mapping[str, ResourceWindow], policy: AlertPolicy, now: datetime
) -> list[Verdict]:
    """A SQL notice whose start (confirmed, else planned) lies outside the window of every
    candidate resource. Planned only: said as planned, not as begun."""
    tid = notice.tracking_id
    every = _notice_keys(AlertKind.MAINTENANCE_OUTSIDE_WINDOW, notice, sql_windows)
    if notice.latest_stage(now) is None:
        return []
    withdrawn = notice.withdrawn(now)
    if withdrawn == "canceled":
        return _with_clears([], every, f"SQL maintenance {tid} was canceled")
    confirmed = notice.started_at(now)
    start = confirmed or notice.impact_start
    if start is None:
        return []
    attributed, inside = attribute_notice(notice, start, sql_windows, policy)
    if inside:
        return _with_clears([], every, f"SQL maintenance {tid} is inside the window of its resources")
    verb = "began" if confirmed else "is planned to begin (not confirmed started)"
    firing = [
        Verdict(
            AlertKey(AlertKind.MAINTENANCE_OUTSIDE_WINDOW, rid, tid),
            True,
            f"SQL maintenance {tid} on {_name(rid)} {verb} "
            f"{_local(start, rw.schedule.zone)} ({_utc(start)}), outside the window of "
            f"{rw.configuration} in the region's local time (critical fixes may override windows)",
            start,
            {
                "tracking_id": tid,
                "started" if confirmed else "planned_start": _utc(start),
                "time_zone": rw.schedule.zone.key,
            },
        )
        for rid, rw in attributed
    ]
    return _with_clears(firing, every, f"SQL maintenance {tid}: no window is known to judge it by")
