"""Rules over health and reboots: a resource unhealthy (or a VM silent) after its
maintenance, and a hotpatch VM that restarted outside its windows in a hotpatch month.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..calendar import CycleKind, cycle_at
from ..events import MaintenanceResult
from ..schedule import MaintenanceSchedule
from .facts import AlertPolicy, HealthFact, Heartbeats, RunFacts, SqlNoticeFacts, _name, _utc
from .model import AlertKey, AlertKind, Verdict, _norm


@dataclass(frozen=True)
class Activity:
    """A period of maintenance on one resource: an Update Manager run on a VM, or a SQL
    maintenance on a database, as recorded."""

    resource_id: str
    run: str  # run id or notice tracking id
    start: datetime
    end: datetime  # when it finished (post / Complete), or the end of its window
    happened: bool = True  # False: the run was cancelled (its machines were not touched)


def maintenance_activities(
    runs: Iterable[RunFacts], notices: Iterable[SqlNoticeFacts], now: datetime
) -> list[Activity]:
    """Finished maintenance per resource, as known at ``now`` (a cancelled run's with
    ``happened`` False, so a verdict opened before the cancellation was known can clear)."""
    out: list[Activity] = []
    for run in runs:
        pre, post = run.seen_at(now)
        start = run.start_utc or pre
        if start is None or (post is None and (run.end_utc is None or run.end_utc > now)):
            continue
        happened = not (run.gate_cancelled or run.result(now) is MaintenanceResult.CANCELLED)
        end = post if post is not None else run.end_utc
        assert end is not None
        out.extend(Activity(rid, run.run_id, start, max(end, start), happened) for rid in run.resource_ids)
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
        rid = _norm(act.resource_id)
        key = AlertKey(AlertKind.UNHEALTHY_AFTER_MAINTENANCE, act.resource_id, act.run)
        if not act.happened:
            out.append(Verdict(key, False, f"maintenance {_name(act.run)} was cancelled"))
            continue
        if now < act.end + grace:  # the resource still has its grace (a late post event can move the end)
            out.append(Verdict(key, False, f"{_name(act.resource_id)} is within its grace after {_name(act.run)}"))
            continue
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
        elif beat != "unknown" and current is not None:
            # unhealthy, but not in the maintenance's span or not for the grace yet: not this alert
            out.append(Verdict(key, False, f"{_name(act.resource_id)}'s state is not due to {_name(act.run)}"))
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
    # Each VM's runs, indexed once: a restart is compared with its own VM's runs only.
    runs_of: dict[str, list[RunFacts]] = {}
    if reboots:
        for run in runs:
            for r in {_norm(r) for r in run.resource_ids}:
                if r in enrolled:
                    runs_of.setdefault(r, []).append(run)
    out: list[Verdict] = []
    for (rid, cycle_id), facts in sorted(reboots.items()):
        vm_id = enrolled[rid]
        key = AlertKey(AlertKind.UNEXPECTED_REBOOT, vm_id, cycle_id)
        schedules = vm_schedules.get(rid, ())
        outside = []
        for h in sorted(facts, key=lambda f: f.at):
            periods = vm_windows(vm_id, runs_of.get(rid, ()), schedules, h.at, policy.maintenance_grace)
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
