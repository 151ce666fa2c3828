"""Every rule together: the facts the watchdog (or an event handler) gathers, and
:func:`evaluate`, which runs the rules asked for and merges their verdicts into one per
identity. A kind judged by two families (a run and a SQL notice can both overrun) is
composed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..schedule import MaintenanceSchedule
from .cycle import (
    baseline_missed,
    deadline_missed,
    schedule_ineffective,
    unplanned_baseline_suspected,
    vm_not_assessable,
    vms_failed,
)
from .facts import (
    AlertPolicy,
    HealthFact,
    Heartbeats,
    ResourceWindow,
    RunFacts,
    SqlNoticeFacts,
    VmCycleFacts,
    WatchedConfiguration,
)
from .health import maintenance_activities, unexpected_reboot, unhealthy_after_maintenance
from .model import AlertKind, Verdict, merge_verdicts
from .runs import maintenance_run_outcome, maintenance_window_missed, runs_failed, runs_outside_window, runs_overran
from .sql_notices import maintenance_unconfirmed, notices_outside_window, notices_overran


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


def patch_failed(runs: Iterable[RunFacts], vms: Iterable[VmCycleFacts], now: datetime) -> list[Verdict]:
    """``patch-failed``: per run (:func:`.runs.runs_failed`) and per VM and cycle
    (:func:`.cycle.vms_failed`)."""
    return runs_failed(runs, now) + vms_failed(vms, now)


def maintenance_overran(
    runs: Iterable[RunFacts],
    notices: Iterable[SqlNoticeFacts],
    sql_windows: Mapping[str, ResourceWindow],
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """``maintenance-overran``: per run (:func:`.runs.runs_overran`) and per SQL notice
    (:func:`.sql_notices.notices_overran`)."""
    return runs_overran(runs, policy, now) + notices_overran(notices, sql_windows, policy, now)


def maintenance_outside_window(
    runs: Iterable[RunFacts],
    *,
    configurations: Mapping[str, MaintenanceSchedule],
    notices: Iterable[SqlNoticeFacts],
    sql_windows: Mapping[str, ResourceWindow],
    policy: AlertPolicy,
    now: datetime,
) -> list[Verdict]:
    """``maintenance-outside-window``: per run (:func:`.runs.runs_outside_window`) and per SQL
    notice (:func:`.sql_notices.notices_outside_window`)."""
    return runs_outside_window(runs, configurations, policy, now) + notices_outside_window(
        notices, sql_windows, policy, now
    )


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
    if {AlertKind.MAINTENANCE_CANCELLED, AlertKind.MAINTENANCE_OUTCOME_UNKNOWN} & wanted:
        verdicts += [v for v in maintenance_run_outcome(facts.runs, now) if v.key.kind in wanted]
    if AlertKind.VM_NOT_ASSESSABLE in wanted:
        verdicts += vm_not_assessable(facts.vms, policy, now)
    if AlertKind.MAINTENANCE_OVERRAN in wanted:
        verdicts += maintenance_overran(facts.runs, facts.notices, facts.sql_windows, policy, now)
    if AlertKind.MAINTENANCE_UNCONFIRMED in wanted:
        verdicts += maintenance_unconfirmed(facts.notices, facts.sql_windows, policy, now)
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
