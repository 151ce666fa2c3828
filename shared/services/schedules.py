"""Use case: keep the cached maintenance schedules fresh (a slow cadence, from the watchdog).

Reads, for the target subscriptions, in a few paged Resource Graph queries: every
configuration assignment (to machines, and dynamic scopes with their filters), every
maintenance configuration, every Azure SQL database and managed instance; then each dynamic
scope's machines (one paged query each), the regions' time zones (one ARM call), and with
one ARM call each only what Resource Graph does not hold: public (SQL) configurations and
configurations outside the target subscriptions. A configuration that cannot be read keeps
its last known window and records the error; a part that cannot be read (the assignments,
the SQL resources, a dynamic scope) keeps what was cached; nothing is guessed.

The cache is written only where something changed, and the result says what: the
configurations whose window changed and the machines and SQL resources whose assignment or
window changed (lower-case ids), so the watchdog can look again at those alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.domain.region import region_key
from shared.services.ports.schedules import (
    Assignment,
    ConfigurationSync,
    ConfigurationWindow,
    PlacementSnapshot,
    ScheduleSource,
    ScheduleStore,
)

log = logging.getLogger(__name__)

SQL_DEFAULT_SUFFIX = "/sql_default"


@dataclass
class RefreshReport:
    configurations: int = 0
    sql_resources: int = 0
    assignments: int = 0
    dynamic_scopes: int = 0
    scoped_machines: int = 0
    regions: int = 0
    errors: list[str] = field(default_factory=list)
    #: Configurations (lower-case ids) whose window is new or changed.
    changed_configurations: set[str] = field(default_factory=set)
    #: Machines and SQL resources (lower-case ids) whose assignment, or whose configuration's
    #: window, changed; those that lost every assignment included.
    changed_resources: set[str] = field(default_factory=set)
    #: Whether the placement snapshot was rewritten (False: it was as cached).
    placements_written: bool = False


def _error_text(exc: Exception) -> str:
    return str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__


def _sql_key(r: object) -> tuple[object, ...]:
    return tuple(getattr(r, k) for k in ("location", "configuration_id", "kind", "service_objective", "edition",
                                         "hardware", "instance_pool"))  # fmt: skip


def refresh_schedules(
    source: ScheduleSource,
    cache: ScheduleStore,
    *,
    watched: Iterable[str],
    subscriptions: Iterable[str],
    also: Iterable[str] = (),
    now: datetime,
) -> RefreshReport:
    """Read what the rules need and cache what changed. ``also``: more configuration ids
    (those recent runs referred to)."""
    report = RefreshReport()
    watched_ids = {w.strip() for w in watched if w.strip()}
    wanted: dict[str, str] = {w.lower(): w for w in watched_ids}
    for cid in also:
        if cid.strip():
            wanted.setdefault(cid.strip().lower(), cid.strip())
    subscriptions = [s for s in subscriptions if s.strip()]
    before = cache.placements()
    previous = before or PlacementSnapshot()
    snapshot = PlacementSnapshot(region_zones=dict(previous.region_zones))

    # -- who follows which configuration -----------------------------------------------------
    try:
        found = source.assignments_in(subscriptions)
    except Exception as exc:  # not readable now: keep what was cached, say so
        report.errors.append(f"assignments of {', '.join(subscriptions)}: {_error_text(exc)}")
        snapshot.assignments = list(previous.assignments)
        snapshot.scopes = list(previous.scopes)
        found = []
    direct = [a for a in found if a.scope is None]
    scopes = [a for a in found if a.scope is not None]
    snapshot.assignments.extend(direct)
    report.assignments = len(found)
    for a in scopes:
        assert a.scope is not None
        report.dynamic_scopes += 1
        snapshot.scopes.append(a.scope.to_json())
        for note in a.scope.notes:
            log.info("dynamic scope %s: %s", a.scope.assignment_id, note)
        try:  # a dynamic scope: its machines, as Resource Graph selects them now
            members = source.scope_members(a.scope)
        except Exception as exc:  # keep its members as cached
            report.errors.append(f"dynamic scope {a.scope.assignment_id}: {_error_text(exc)}")
            via = a.scope.assignment_id.lower()
            members = [m.resource_id for m in previous.assignments if m.via.lower() == via]
        snapshot.assignments.extend(Assignment(m, a.configuration_id, via=a.scope.assignment_id) for m in members)
        report.scoped_machines += len(members)
    for a in snapshot.assignments:
        wanted.setdefault(a.configuration_id.lower(), a.configuration_id)

    # -- SQL resources ---------------------------------------------------------------------------
    try:
        snapshot.sql_resources = source.sql_resources_in(subscriptions)
    except Exception as exc:
        report.errors.append(f"SQL resources of {', '.join(subscriptions)}: {_error_text(exc)}")
        snapshot.sql_resources = list(previous.sql_resources)
    report.sql_resources = len(snapshot.sql_resources)
    for r in snapshot.sql_resources:
        if r.configuration_id and not r.configuration_id.lower().endswith(SQL_DEFAULT_SUFFIX):
            wanted.setdefault(r.configuration_id.lower(), r.configuration_id)

    # -- every region's time zone, for SQL_Default: one subscription's list is enough ---------
    for sub in subscriptions:
        try:
            zones = source.region_zones(sub)
        except Exception as exc:
            report.errors.append(f"regions of {sub}: {_error_text(exc)}")
            continue
        snapshot.region_zones = dict(zones)
        break
    report.regions = len(snapshot.region_zones)

    # -- the configurations' windows ----------------------------------------------------------
    sync = ConfigurationSync(watched={w.lower() for w in watched_ids})
    known: dict[str, ConfigurationWindow] = {}
    try:
        known = {w.configuration_id.lower(): w for w in source.configurations_in(subscriptions)}
    except Exception as exc:  # each wanted one is then read on its own
        report.errors.append(f"configurations of {', '.join(subscriptions)}: {_error_text(exc)}")
    for low, cid in sorted(wanted.items()):
        window = known.get(low)
        if window is None:  # a public (SQL) configuration, or one outside the subscriptions
            try:
                window = source.configuration(cid)
            except Exception as exc:
                report.errors.append(f"configuration {cid}: {_error_text(exc)}")
                sync.errors[cid] = _error_text(exc)
                continue
        sync.windows.append(window)
    report.configurations = len(sync.windows)
    report.changed_configurations = {c.lower() for c in cache.sync_configurations(sync, now)}

    # -- what changed, for whom -----------------------------------------------------------------
    old_machines, new_machines = previous.by_machine(), snapshot.by_machine()
    for rid in old_machines.keys() | new_machines.keys():
        cfgs = new_machines.get(rid, set())
        if old_machines.get(rid) != cfgs or cfgs & report.changed_configurations:
            report.changed_resources.add(rid)
    old_sql = {r.resource_id.lower(): _sql_key(r) for r in previous.sql_resources}
    for r in snapshot.sql_resources:
        rid = r.resource_id.lower()
        if old_sql.pop(rid, None) != _sql_key(r) or r.configuration_id.lower() in report.changed_configurations:
            report.changed_resources.add(rid)
    report.changed_resources.update(old_sql)  # gone
    if snapshot.region_zones != previous.region_zones:  # SQL_Default follows the region's zone
        report.changed_resources.update(
            r.resource_id.lower()
            for r in snapshot.sql_resources
            if previous.region_zones.get(region_key(r.location)) != snapshot.region_zones.get(region_key(r.location))
        )
    report.placements_written = cache.put_placements(snapshot, now)
    for e in report.errors:
        log.warning("schedule refresh: %s", e)
    return report
