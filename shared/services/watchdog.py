"""Use cases: the watchdog (rules only time can settle) and alerting after an event.

:func:`run_watchdog` refreshes the cached maintenance schedules when they are stale,
gathers the recorded facts of the look-back period (maintenance runs, SQL notices and
health signals from the outcome store, the cycles' per-VM results and findings, VM
heartbeats from Log Analytics), evaluates every rule at ``now``, records the alerts that
open, resolve or reopen, and publishes every pending transition. Event-settled rules are
swept too: should an event handler have died between recording and alerting, the next
watchdog run raises the alert all the same (the alert's identity keeps it single).

:func:`alert_after_event` is the event handlers' part: the rules the recorded event can
settle, over that event's run, notice or resource only, then publishing.

Both are idempotent and safe to run concurrently: alerts are created by conditional
inserts, changed under ETags and published under claims (the alert store port, ``shared/services/ports/alerting.py``).
"""

from __future__ import annotations

import logging
import re
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from shared.domain.alerts import (
    EVENT_SETTLED,
    Alert,
    AlertKey,
    AlertKind,
    AlertPolicy,
    Facts,
    HealthFact,
    RunFacts,
    SqlNoticeFacts,
    Verdict,
    VmCycleFacts,
    alert_event,
    evaluate,
    maintenance_activities,
    mentions_reboot,
)
from shared.domain.calendar import cycle_at
from shared.domain.events import MaintenanceResult, run_result
from shared.domain.factbase import FactBase, StoredRun, months_between, select, watched_cycles
from shared.domain.fleet import MachineKind, machine_kind
from shared.domain.outcomes import notice_resources
from shared.services.ports import run_scope
from shared.services.ports.alerting import (
    AlertPublisher,
    AlertStorePort,
    Change,
    ChangeFeedPort,
    CycleReader,
    FactBasePort,
    HeartbeatReader,
    OutcomeReader,
)
from shared.services.ports.schedules import CachedSchedules, ScheduleSource, ScheduleStore, SqlResourceRef
from shared.services.schedules import refresh_schedules

log = logging.getLogger(__name__)

# Heartbeats are looked up for maintenance that finished this recently.
HEARTBEAT_HORIZON = timedelta(days=2)


@dataclass
class Alerting:
    """Everything alerting needs; optional parts are simply not consulted when absent."""

    outcomes: OutcomeReader
    alerts: AlertStorePort
    publisher: AlertPublisher | None = None
    schedules: ScheduleStore | None = None
    schedule_source: ScheduleSource | None = None  # ARM; None offline (replay without --live)
    heartbeats: HeartbeatReader | None = None
    cycles: CycleReader | None = None
    watched: tuple[str, ...] = ()  # WATCHED_MAINTENANCE_CONFIGURATIONS
    subscriptions: tuple[str, ...] = ()  # TARGET_SUBSCRIPTION_IDS
    factbase: FactBasePort | None = None  # the incremental watchdog's facts between runs
    changes: ChangeFeedPort | None = None  # what changed since the last run
    full: bool = False  # WATCHDOG_FULL: read everything on every run
    rebuild_every: timedelta = timedelta(hours=24)  # WATCHDOG_REBUILD_HOURS
    # Recomputes the report summaries of (cycle id, resource ids): shared.runtime.refresh_summaries
    summaries: Callable[[str, set[str] | None], None] | None = None
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}")


@dataclass
class WatchdogReport:
    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    reopened: list[Alert] = field(default_factory=list)
    published: int = 0
    publish_failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    facts: FactBaseRun | None = None

    def record(self, changes: Iterable[Change]) -> None:
        for c in changes:
            if not c.transitioned:
                continue
            kind = c.after.transitions[-1].kind.value
            {"opened": self.opened, "resolved": self.resolved, "reopened": self.reopened}[kind].append(c.after)

    def to_json(self) -> dict[str, Any]:
        return {
            "opened": [a.to_json() for a in self.opened],
            "resolved": [a.to_json() for a in self.resolved],
            "reopened": [a.to_json() for a in self.reopened],
            "published": self.published,
            "publish_failures": self.publish_failures,
            "problems": self.problems,
            **({"facts": self.facts.to_json()} if self.facts is not None else {}),
        }


# -- from recorded outcomes to rule inputs ------------------------------------------------


def run_facts(run: Any, resource_ids: Sequence[str] = (), *, gate_cancelled: bool = False) -> RunFacts:
    """A ``RunOutcome`` of the outcome store as the rules read it (``gate_cancelled``: the
    cycle store holds this app's gate cancelling the run)."""
    return RunFacts(
        run_id=run.correlation_id,
        configuration_id=run.configuration_id,
        start_utc=run.window_start,
        end_utc=run.window_end,
        pre_at=run.pre_event_time if run.pre_seen else None,
        post_at=run.post_event_time if run.post_seen else None,
        post_status=run.status_raw,
        resource_ids=tuple(resource_ids),
        gate_cancelled=gate_cancelled,
        subscriptions=tuple(run.subscriptions),
    )


def health_facts(history: Iterable[Any]) -> list[HealthFact]:
    """``HealthChange`` entries (any signal) as the rules read them."""
    out = []
    for c in history:
        state = c.availability.value if c.availability is not None else ""
        out.append(
            HealthFact(c.resource_id, c.occurred, state, reboot=mentions_reboot(c.detail), reason=c.detail or "")
        )
    return out


def notice_candidates(notice: Any, resources: Iterable[SqlResourceRef]) -> tuple[str, ...]:
    """The known SQL resources a Service Health notice may concern (ids, sorted)."""
    return tuple(sorted(r.resource_id for r in notice_resources(notice, resources)))


def notice_facts(notice: Any, resources: Iterable[SqlResourceRef]) -> SqlNoticeFacts:
    stages: dict[str, datetime] = {}
    for stage, at in notice.stages:
        name = stage.value if hasattr(stage, "value") else str(stage)
        stages[name] = min(at, stages.get(name, at))
    return SqlNoticeFacts(
        tracking_id=notice.tracking_id,
        resource_ids=notice_candidates(notice, resources),
        stages=stages,
        impact_start=notice.impact_start,
        impact_end=notice.impact_mitigation,
        subscriptions=tuple(notice.subscriptions),
    )


# -- gathering -------------------------------------------------------------------------


def _schedules(deps: Alerting, now: datetime, report: WatchdogReport, also: Iterable[str] = ()) -> CachedSchedules:
    if deps.schedules is None:
        return CachedSchedules()
    if deps.schedule_source is not None and deps.schedules.claim_refresh(now):
        refreshed = refresh_schedules(
            deps.schedule_source,
            deps.schedules,
            watched=deps.watched,
            subscriptions=deps.subscriptions,
            also=also,
            now=now,
        )
        report.problems.extend(refreshed.errors)
    cached = deps.schedules.load(deps.watched)
    report.problems.extend(cached.problems)
    return cached


def _stored_run(deps: Alerting, run: Any) -> StoredRun:
    """A recorded run as the fact base keeps it: its VMs (once the post event is in) and
    whether this app's gate cancelled it, read where they can change a verdict."""
    vms = deps.cycles.run_vms(run.correlation_id) if deps.cycles is not None and run.post_seen else []
    return StoredRun(run.run_start, run_facts(run, vms, gate_cancelled=_gated(deps, run)))


def _gated(deps: Alerting, run: Any) -> bool:
    """Whether this app's gate cancelled the run (only asked where it can change a verdict:
    a run with no post event, or one that reports a cancellation)."""
    if deps.cycles is None or not run.pre_seen:
        return False
    if run.post_seen and run_result(run.status_raw or "") is not MaintenanceResult.CANCELLED:
        return False
    return deps.cycles.gate_cancelled(run.correlation_id)


def _run_facts(deps: Alerting, runs: Sequence[Any]) -> tuple[RunFacts, ...]:
    return tuple(_stored_run(deps, r).facts for r in runs)


def _load_month(deps: Alerting, base: FactBase, month: str) -> None:
    for run in deps.outcomes.list_runs(month):
        base.put_run(run.correlation_id, _stored_run(deps, run))
    base.months.add(month)


def _load_cycle(deps: Alerting, base: FactBase, cycle_id: str) -> None:
    if deps.cycles is not None:
        for v in deps.cycles.vm_facts([cycle_id]):
            base.put_vm(cycle_id, v.vm_id.lower(), v)
    base.cycles.add(cycle_id)


def _cover(deps: Alerting, base: FactBase, since: datetime, now: datetime, cycles: Sequence[str]) -> None:
    """Load whole what a run at ``now`` reads and the base does not hold yet (a new month, a new cycle)."""
    for month in months_between(since - timedelta(days=1), now + timedelta(days=1)):
        if month not in base.months:
            _load_month(deps, base, month)
    for cycle_id in cycles:
        if cycle_id not in base.cycles:
            _load_cycle(deps, base, cycle_id)


def build_fact_base(deps: Alerting, policy: AlertPolicy, now: datetime) -> FactBase:
    """Every fact a run at ``now`` reads, from the tables (the full path)."""
    since = now - policy.lookback
    base = FactBase(horizon=since, built_at=now)
    for notice in deps.outcomes.list_notices(since=since):
        base.put_notice(notice.tracking_id, notice)
    for resource in deps.outcomes.list_resource_health(since=since):
        base.put_health(resource.resource_id, tuple(health_facts(resource.history)))
    _cover(deps, base, since, now, watched_cycles(now, policy.calendar))
    return base


MARK_READERS = 8  # scopes re-read at once (each is one or two point reads)


def apply_marks(
    deps: Alerting,
    base: FactBase,
    marks: Iterable[Any],
    touched: dict[str, set[str]] | None = None,
    *,
    calendar: Any = None,
    now: datetime | None = None,
) -> int:
    """Re-read the scopes the change feed names (a few at a time); the number re-read.
    ``touched`` collects, per cycle id, the resources whose facts changed (for the report's
    summaries); a notice touches its cycle alone."""
    marks = list(marks)
    by_scope = {run_scope(cid): cid for cid in base.runs} if any(m.scope == "runscope" for m in marks) else {}
    reads: dict[tuple[str, ...], Callable[[], Any]] = {}
    for m in marks:
        if m.scope in ("run", "runscope"):
            cid = m.a if m.scope == "run" else by_scope.get(m.a)
            if cid is None:
                continue  # a run not recorded yet: its own event will bring it
            reads[("run", cid)] = partial(_read_run, deps, cid)
        elif m.scope == "notice":
            reads[("notice", m.a)] = partial(deps.outcomes.get_notice, m.a)
        elif m.scope == "health":
            reads[("health", m.a)] = partial(_read_health, deps, m.a, base.horizon)
        elif m.scope == "vm":
            if m.a not in base.cycles or deps.cycles is None:
                continue  # loaded whole when a run first reads that cycle
            reads[("vm", m.a, m.b)] = partial(deps.cycles.vm_fact, m.a, m.b)
        else:
            log.warning("watchdog: change mark of unknown scope %r ignored", m.scope)
    if not reads:
        return 0
    with ThreadPoolExecutor(max_workers=min(MARK_READERS, len(reads))) as pool:
        values = list(pool.map(lambda read: read(), reads.values()))
    changed = touched if touched is not None else {}

    def touch(at: datetime | None, *resources: str) -> None:
        if at is not None and calendar is not None:
            changed.setdefault(cycle_at(at, calendar).id, set()).update(resources)

    for target, value in zip(reads, values, strict=True):
        if target[0] == "run":
            base.put_run(target[1], value)
            if value is not None:
                touch(value.run_start, value.facts.configuration_id, *value.facts.resource_ids)
        elif target[0] == "notice":
            base.put_notice(target[1], value)
            if value is not None:
                touch(value.impact_start)
        elif target[0] == "health":
            base.put_health(target[1], value)
            touch(now, target[1])
        else:
            base.put_vm(target[1], target[2], value)
            changed.setdefault(target[1], set()).add(target[2])
    return len(reads)


def _read_health(deps: Alerting, rid: str, since: datetime) -> tuple[HealthFact, ...]:
    return tuple(health_facts(deps.outcomes.health_history(rid, since=since)))


def _read_run(deps: Alerting, cid: str) -> StoredRun | None:
    run = deps.outcomes.get_run(cid)
    return _stored_run(deps, run) if run is not None else None


@dataclass
class FactBaseRun:
    """How this run came by its facts (``watchdog --json`` shows it)."""

    mode: str = "full"  # full | incremental | rebuilt
    reason: str = ""
    marks: int = 0
    saved: bool = False
    touched: dict[str, set[str]] = field(default_factory=dict)  # cycle id -> resources whose facts changed

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "reason": self.reason, "marks": self.marks, "saved": self.saved}


def fact_base(deps: Alerting, policy: AlertPolicy, now: datetime, report: WatchdogReport, *, full: bool) -> FactBase:
    """The facts for a run at ``now``: the stored base brought up to date with the change feed
    (incremental), rebuilt from the tables when it cannot be used, or read whole (``full``)."""
    since = now - policy.lookback
    cycles = watched_cycles(now, policy.calendar)
    if full or deps.factbase is None or deps.changes is None:
        report.facts = FactBaseRun("full", "asked for" if full else "no fact base configured")
        return build_fact_base(deps, policy, now)
    marks = deps.changes.pending()  # before any read: a change after this is a mark for next time
    loaded, why = deps.factbase.load()
    base = loaded.base if loaded is not None and not why else None
    if base is not None and since < base.horizon:
        why = f"the look-back ({since:%Y-%m-%d %H:%M}) reaches before the fact base ({base.horizon:%Y-%m-%d %H:%M})"
    elif base is not None and now - base.built_at >= deps.rebuild_every:
        why = f"rebuilt every {deps.rebuild_every} (last {base.built_at:%Y-%m-%d %H:%M})"
    if base is None or why:
        base = build_fact_base(deps, policy, now)
        report.facts = FactBaseRun("rebuilt", why, len(marks))
        rebuilt = True
    else:
        report.facts = FactBaseRun("incremental")
        report.facts.marks = apply_marks(deps, base, marks, report.facts.touched, calendar=policy.calendar, now=now)
        _cover(deps, base, since, now, cycles)
        rebuilt = False
    base.prune(since, cycles)
    try:  # the base is this run's to use either way: a save that fails only costs the next run a rebuild
        report.facts.saved = deps.factbase.save(base, loaded, full=rebuilt) if rebuilt or base.dirty else True
        if report.facts.saved:
            deps.changes.consume(marks)
    except Exception as exc:
        report.facts.saved = False
        report.problems.append(f"the fact base was not saved (the marks stay for the next run): {exc}")
    return base


def gather(deps: Alerting, policy: AlertPolicy, now: datetime, report: WatchdogReport, *, full: bool = False) -> Facts:
    """Every recorded fact of the look-back period, as rule inputs: from the fact base kept
    up to date by the change feed, or read whole from the tables (``full``, or no base)."""
    since = now - policy.lookback
    base = fact_base(deps, policy, now, report, full=full or deps.full)
    chosen = select(base, since=since, now=now, cycles=watched_cycles(now, policy.calendar))
    cached = _schedules(deps, now, report, also={r.configuration_id for r in chosen.runs})
    runs = chosen.runs
    notices = tuple(notice_facts(n, cached.sql_resources) for n in chosen.notices)
    vms = chosen.vms
    facts = Facts(
        runs=runs,
        notices=notices,
        vms=vms,
        health=chosen.health,
        watched=tuple(cached.watched),
        configurations=cached.configurations,
        sql_windows=cached.sql_windows,
        vm_schedules=cached.vm_schedules,
        hotpatch_vms=tuple(sorted({v.vm_id for v in vms if v.hotpatch})),
    )
    if deps.heartbeats is not None:
        acts = [a for a in maintenance_activities(runs, (), now) if a.happened and a.end >= now - HEARTBEAT_HORIZON]
        vm_ids = sorted(  # Azure VMs and Arc-enabled servers send heartbeats under their own ids
            {a.resource_id.lower() for a in acts if "/microsoft.compute/" in a.resource_id.lower()}
            | {a.resource_id.lower() for a in acts if machine_kind(a.resource_id) is MachineKind.ARC}
        )
        if vm_ids:
            start = min(a.start for a in acts) - timedelta(days=1)
            try:
                beats = deps.heartbeats.heartbeats(vm_ids, start, now)
            except Exception as exc:  # Log Analytics down: judge health by Resource Health alone
                report.problems.append(f"heartbeat query failed: {str(exc).splitlines()[0] if str(exc) else exc!r}")
            else:
                facts = Facts(**{**facts.__dict__, "heartbeats": beats})
    return facts


# -- recording and publishing ---------------------------------------------------------------


def record(
    deps: Alerting, verdicts: Sequence[Verdict], now: datetime, report: WatchdogReport, *, scan: bool = True
) -> list[Change]:
    """Apply verdicts. ``scan``: read the open alerts once (the watchdog's many verdicts);
    otherwise one point read per verdict (an event's few)."""
    known = deps.alerts.open_alerts() if scan else None
    changes = deps.alerts.apply(verdicts, now, known_open=known)
    report.record(changes)
    return changes


def publish_pending(
    deps: Alerting, now: datetime, report: WatchdogReport, keys: Iterable[AlertKey] | None = None
) -> None:
    """Publish every unpublished transition (of ``keys``, or all), each alert under a claim.
    A failure leaves the alert pending for the next run; a success is marked and never sent again."""
    if deps.publisher is None:
        return
    if keys is None:
        candidates = deps.alerts.pending()
    else:
        found = (deps.alerts.get(k) for k in dict.fromkeys(keys))
        candidates = [s for s in found if s is not None and s.alert.pending]
    for stored in candidates:
        if stored.claimed(now) and stored.claimed_by != deps.owner:
            continue
        claimed = deps.alerts.claim(stored, deps.owner, now)
        if claimed is None:
            continue  # another watchdog (or event handler) has it
        transitions = claimed.alert.pending
        events = [alert_event(claimed.alert, t) for t in transitions]
        try:
            deps.publisher.publish(events)
        except Exception as exc:
            deps.alerts.release(claimed)
            report.publish_failures.append(f"{claimed.alert.key.kind.value} {claimed.alert.key.resource_id}: {exc}")
            log.error("alert %s stays pending: %s", claimed.alert.key.alert_id, exc)
            continue
        deps.alerts.mark_published(claimed, transitions[-1].sequence)
        report.published += len(events)


def run_watchdog(deps: Alerting, policy: AlertPolicy, *, now: datetime) -> WatchdogReport:
    """One watchdog pass at ``now``."""
    report = WatchdogReport()
    facts = gather(deps, policy, now, report)
    record(deps, evaluate(facts, policy, now), now, report)
    publish_pending(deps, now, report)
    refresh_summaries(deps, policy, now, report)
    for p in report.problems:
        log.warning("watchdog: %s", p)
    return report


def refresh_summaries(deps: Alerting, policy: AlertPolicy, now: datetime, report: WatchdogReport) -> None:
    """Bring the report's stored summaries up to date with what this run saw change: per cycle,
    the resource groups of the facts re-read and of the alerts that changed (only where the
    cycle already has a complete set: the report computes a missing one itself). A rebuilt base
    does not say what changed: the current cycle's summaries are recomputed whole."""
    if deps.summaries is None or report.facts is None or report.facts.mode == "full":
        return
    if report.facts.mode == "rebuilt":  # what changed is not known: the current cycle, whole
        current = cycle_at(now, policy.calendar).id
        try:
            deps.summaries(current, None)
        except Exception as exc:
            report.problems.append(f"report summaries of {current} not refreshed: {exc}")
        return
    touched = {c: set(r) for c, r in report.facts.touched.items()}
    for alert in report.opened + report.resolved + report.reopened:
        cycle = (
            alert.key.cycle_or_run if _MONTH.fullmatch(alert.key.cycle_or_run) else cycle_at(now, policy.calendar).id
        )
        touched.setdefault(cycle, set()).add(alert.key.resource_id)
    for cycle_id, resources in sorted(touched.items()):
        try:
            deps.summaries(cycle_id, {r for r in resources if r.lower().startswith("/subscriptions/")})
        except Exception as exc:  # the report recomputes stale summaries itself; the alerts went out
            report.problems.append(f"report summaries of {cycle_id} not refreshed: {exc}")


_MONTH = re.compile(r"\d{4}-\d{2}")


# -- after an event ----------------------------------------------------------------------


def _event_facts(
    deps: Alerting, event: Any, policy: AlertPolicy, now: datetime, report: WatchdogReport
) -> Facts | None:
    """The facts one recorded event can settle rules over, or None if it settles none."""
    kind = type(event).__name__
    cached = deps.schedules.load(deps.watched) if deps.schedules is not None else CachedSchedules()
    if kind == "MaintenanceEvent":
        run = deps.outcomes.get_run(event.correlation_id)
        if run is None:
            return None
        return Facts(runs=_run_facts(deps, [run]), configurations=cached.configurations, watched=tuple(cached.watched))
    if kind == "SqlMaintenanceNotice":
        notice = deps.outcomes.get_notice(event.tracking_id)
        if notice is None:
            return None
        return Facts(notices=(notice_facts(notice, cached.sql_resources),), sql_windows=cached.sql_windows)
    if kind in ("HealthEvent", "ResourceHealthAlert"):
        rid = event.resource_id
        history = deps.outcomes.health_history(rid, since=now - policy.lookback)
        facts = health_facts(history)
        if not any(f.reboot for f in facts):
            return None
        vms: tuple[VmCycleFacts, ...] = ()
        if deps.cycles is not None:
            cycle = cycle_at(event.occurred, policy.calendar)
            vms = tuple(v for v in deps.cycles.vm_facts([cycle.id]) if v.vm_id.lower() == rid.lower())
        near = deps.outcomes.runs_between(event.occurred - timedelta(days=2), event.occurred + timedelta(hours=1))
        runs = _run_facts(deps, near)
        return Facts(
            runs=runs,
            vms=vms,
            health=tuple(facts),
            vm_schedules={k: v for k, v in cached.vm_schedules.items() if k == rid.lower()},
            hotpatch_vms=tuple(v.vm_id for v in vms if v.hotpatch),
        )
    return None


def alert_after_event(deps: Alerting, event: Any, policy: AlertPolicy, *, now: datetime) -> WatchdogReport:
    """Evaluate what a just-recorded event settles (its run, notice or resource only), record
    and publish. Runs for duplicates too, so a redelivery after a crash still alerts."""
    report = WatchdogReport()
    facts = _event_facts(deps, event, policy, now, report)
    if facts is None:
        return report
    verdicts = evaluate(
        facts, policy, now, EVENT_SETTLED | {AlertKind.MAINTENANCE_OVERRAN, AlertKind.MAINTENANCE_UNCONFIRMED}
    )
    # With one run in view, "no run in this window" is not known: only the window this run
    # fills can be settled (cleared) here.
    verdicts += [v for v in evaluate(facts, policy, now, [AlertKind.MAINTENANCE_WINDOW_MISSED]) if not v.firing]
    changes = record(deps, verdicts, now, report, scan=False)
    publish_pending(deps, now, report, keys=[c.after.key for c in changes])
    return report


# -- a period, as if the watchdog had run all along ---------------------------------------


def simulate(deps: Alerting, policy: AlertPolicy, *, start: datetime, end: datetime, step: timedelta) -> WatchdogReport:
    """Evaluate the watchdog at every ``step`` from ``start`` to ``end`` over what is recorded,
    as if it had run all along (``make demo``). Facts are read once; each rule sees only
    what had happened by each instant, so alerts open and resolve when they would have."""
    from dataclasses import replace as _replace

    report = WatchdogReport()
    wide = _replace(policy, lookback=policy.lookback + (end - start))
    facts = gather(deps, wide, end, report)
    known = deps.alerts.open_alerts()
    instant = start
    while instant <= end:
        verdicts = evaluate(facts, policy, instant)
        changes = deps.alerts.apply(verdicts, instant, known_open=known)
        if changes:
            report.record(changes)
            known = deps.alerts.open_alerts()
            publish_pending(deps, instant, report)
        instant += step
    return report
