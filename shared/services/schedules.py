"""Use case: keep the cached maintenance schedules fresh (a slow cadence, from the watchdog).

Reads the watched Update Manager configurations, the configurations runs referred to, the
configuration assignments and SQL resources of the target subscriptions, and every public
configuration those resources name. A configuration that cannot be read keeps its last
known window and records the error; nothing is guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.services.ports.schedules import Assignment, ScheduleSource, ScheduleStore

log = logging.getLogger(__name__)


@dataclass
class RefreshReport:
    configurations: int = 0
    sql_resources: int = 0
    assignments: int = 0
    dynamic_scopes: int = 0
    scoped_machines: int = 0
    regions: int = 0
    errors: list[str] = field(default_factory=list)


def _error_text(exc: Exception) -> str:
    return str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__


def refresh_schedules(
    source: ScheduleSource,
    cache: ScheduleStore,
    *,
    watched: Iterable[str],
    subscriptions: Iterable[str],
    also: Iterable[str] = (),
    now: datetime,
) -> RefreshReport:
    """Read what the rules need from ARM and cache it. ``also``: more configuration ids
    (those recent runs referred to)."""
    report = RefreshReport()
    watched_ids = {w.strip() for w in watched if w.strip()}
    wanted: dict[str, str] = {w.lower(): w for w in watched_ids}
    for cid in also:
        wanted.setdefault(cid.lower(), cid)
    subscriptions = list(subscriptions)
    for sub in subscriptions:
        try:
            assignments = source.assignments(sub)
            cache.put_assignments(assignments, now)
            report.assignments += len(assignments)
            for a in assignments:
                wanted.setdefault(a.configuration_id.lower(), a.configuration_id)
        except Exception as exc:  # a subscription we may not read: say so, carry on
            report.errors.append(f"assignments of {sub}: {_error_text(exc)}")
            assignments = []
        for a in assignments:
            if a.scope is None:
                continue
            report.dynamic_scopes += 1
            for note in a.scope.notes:
                log.info("dynamic scope %s: %s", a.scope.assignment_id, note)
            try:  # a dynamic scope: its machines, as Resource Graph selects them now
                members = source.scope_members(a.scope)
            except Exception as exc:
                report.errors.append(f"dynamic scope {a.scope.assignment_id}: {_error_text(exc)}")
                continue
            cache.put_assignments([Assignment(m, a.configuration_id, via=a.scope.assignment_id) for m in members], now)
            cache.prune_scope_members(a.scope.assignment_id, members)
            report.scoped_machines += len(members)
        try:
            refs = source.sql_resources(sub)
            cache.put_sql_resources(refs, now)
            report.sql_resources += len(refs)
            for r in refs:
                if r.configuration_id and not r.configuration_id.lower().endswith("/sql_default"):
                    wanted.setdefault(r.configuration_id.lower(), r.configuration_id)
        except Exception as exc:
            report.errors.append(f"SQL resources of {sub}: {_error_text(exc)}")
    for sub in subscriptions:  # every region's time zone, for SQL_Default: one subscription's list is enough
        try:
            zones = source.region_zones(sub)
        except Exception as exc:
            report.errors.append(f"regions of {sub}: {_error_text(exc)}")
            continue
        cache.put_region_zones(zones, now)
        report.regions = len(zones)
        break
    watched_lower = {w.lower() for w in watched_ids}
    for cid in sorted(wanted.values()):
        is_watched = cid.lower() in watched_lower
        if is_watched:
            cache.mark_watched(cid, now)
        try:
            window = source.configuration(cid)
        except Exception as exc:
            report.errors.append(f"configuration {cid}: {_error_text(exc)}")
            cache.put_error(cid, _error_text(exc), now)
            continue
        cache.put_configuration(window, now, watched=is_watched)
        report.configurations += 1
    for e in report.errors:
        log.warning("schedule refresh: %s", e)
    return report
