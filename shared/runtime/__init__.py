"""Composition root of the services: adapters built from settings, once per process, and
handed to the use cases as their ports (:mod:`shared.services.ports`). This module wires the
patch cycle, the follow-ups queue and the report; :mod:`shared.runtime.alerting` wires alerting.

Functions and the command line get their :class:`~shared.services.assessment.Deps` here;
tests build their own (explicit credential, loopback ARM, Azurite, shortened delays).
Heavy SDKs are imported only when a dependency is first built.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.config import Settings, settings

if TYPE_CHECKING:
    from shared.adapters.storage import StorageTarget
    from shared.services.assessment import Deps

_lock = threading.Lock()
_built: list[tuple[Settings, Deps]] = []


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_deps(cfg: Settings, *, credential: Any = None, **policy_overrides: Any) -> Deps:
    from shared.adapters.arm import ArmAdapter
    from shared.adapters.cycle_store import CycleStore
    from shared.adapters.queues import StorageQueue
    from shared.adapters.schedules import ScheduleCache
    from shared.services.assessment import QUEUE_NAME, CyclePolicy, Deps

    store = CycleStore.from_settings(cfg)
    arm = ArmAdapter.from_settings(cfg, credential)
    graph = None
    if cfg["ASSESSMENT_FROM_RESOURCE_GRAPH"]:
        from shared.adapters.resource_graph import AssessmentGraph

        graph = AssessmentGraph(arm)
    return Deps(
        store=store,
        arm=arm,
        queue=StorageQueue(queue_target(cfg), QUEUE_NAME),
        policy=CyclePolicy.from_settings(cfg, **policy_overrides),
        placements=ScheduleCache(store.target, store.prefix),
        assessment_graph=graph,
    )


def queue_target(cfg: Settings, env: Mapping[str, str] | None = None) -> StorageTarget:
    """The account of the queue triggers' connection (``AzureWebJobsStorage``)."""
    from shared.adapters.storage import app_storage_target

    return app_storage_target(cfg, env)


_follow_ups: list[tuple[Settings, Any]] = []


def follow_up_queue() -> Any:
    """The queue the event functions hand follow-ups to (``follow_up_worker`` consumes it)."""
    from shared.adapters.queues import StorageQueue
    from shared.services.follow_ups import QUEUE_NAME

    cfg = settings()
    with _lock:
        if not _follow_ups or _follow_ups[0][0] is not cfg:
            _follow_ups[:] = [(cfg, StorageQueue(queue_target(cfg), QUEUE_NAME))]
        return _follow_ups[0][1]


def hand_over(action: dict[str, Any]) -> None:
    follow_up_queue().send(action)


def deps() -> Deps:
    """The process's dependencies for the configured settings (clients and pacer shared)."""
    cfg = settings()
    with _lock:
        if not _built or _built[0][0] is not cfg:
            _built[:] = [(cfg, build_deps(cfg))]
        return _built[0][1]


def install(cfg: Settings, built: Deps) -> None:
    """Use ``built`` for ``cfg`` in this process (tests: a loopback ARM, shortened delays)."""
    with _lock:
        _built[:] = [(cfg, built)]


def execute_actions(actions: Any, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Carry out ingestion follow-ups (``verify-run``, ``gate-run``) with the configured
    adapters: the entry point for the event functions and ``replay --live``. Raises on
    transient faults, so the event is delivered again (executed actions are not repeated)."""
    from shared.adapters.outcome_store import outcome_store
    from shared.services.maintenance import execute_actions as execute

    cfg = settings()
    return execute(deps(), list(actions), now=now or utc_now(), health=outcome_store(cfg))


def report_from_store(
    target: StorageTarget,
    prefix: str,
    policy: Any,
    month: Any,
    now: datetime,
    *,
    overrun_grace: Any = None,
    eligibility: Any = None,
) -> Any:
    """The compliance report of ``month`` from the tables under ``prefix`` at ``target``;
    ``eligibility``: SQL_EXCLUDED_* as an EligibilityPolicy (None: the documented defaults).
    Raises ``StoreUnavailableError`` (after one quick try) when the storage is down."""
    from datetime import timedelta

    from shared.adapters.outcome_store import PROBE_CLIENT_OPTIONS
    from shared.adapters.report_summaries import SummaryTable
    from shared.domain.calendar import cycle_for_month
    from shared.services.report import summarised_report

    stored = SummaryTable(target, prefix, PROBE_CLIENT_OPTIONS).read(str(month))  # one quick try, and the summaries
    sources = report_sources(target, prefix, eligibility)
    grace = timedelta(0) if overrun_grace is None else overrun_grace
    cycle = cycle_for_month(month, policy)
    table = SummaryTable(target, prefix)
    return summarised_report(sources, table, cycle, now, clock=utc_now(), overrun_grace=grace, stored=stored)


def report_sources(target: StorageTarget, prefix: str, eligibility: Any = None) -> Any:
    """What the report reads (outcomes, the patch cycle's results, alerts, placements) at ``target``."""
    from shared.adapters.outcome_store import TableOutcomeStore
    from shared.adapters.report_sources import sources_for
    from shared.services.report import ReportSources

    cycles, alerts, placements = sources_for(target, prefix)
    placements.eligibility = eligibility
    return ReportSources(TableOutcomeStore(target, prefix), cycles, alerts, placements)


def refresh_summaries(
    cycle_id: str,
    groups: set[str] | None,
    *,
    cfg: Settings | None = None,
    only_if_complete: bool = False,
    at: tuple[StorageTarget, str] | None = None,
) -> bool:
    """Recompute the stored report summaries of cycle ``cycle_id`` (``YYYY-MM``): its own row,
    and those of ``groups`` (``{subscription}/{resource group}`` names, or ids of resources in
    them: :func:`shared.domain.report.summary.groups_of`; None: every group). The watchdog
    calls it with the groups whose facts changed, for the cycles they belong to.

    ``only_if_complete``: refresh named groups only when the cycle already has a complete set
    of summaries of this version (a cycle row). Otherwise a partial set would look fresh and
    the report would leave the other groups out; the report computes a missing set itself.
    False when nothing was written for that reason. ``at``: (target, prefix) of the store, when
    it is not the configured one (``replay`` and ``demo`` over a store of their own)."""
    from shared.adapters.outcome_store import outcomes_target
    from shared.adapters.report_summaries import SummaryTable
    from shared.domain.calendar import YearMonth, cycle_for_month
    from shared.domain.report.summary import CYCLE_ROW, SUMMARY_VERSION
    from shared.services.report import refresh_summaries as refresh

    cfg = cfg or settings()
    target, prefix = at if at is not None else (outcomes_target(cfg), cfg["OUTCOMES_TABLE_PREFIX"])
    cycle = cycle_for_month(YearMonth.parse(cycle_id), cfg.calendar)
    sources = report_sources(target, prefix, cfg.sql_eligibility)
    table = SummaryTable(target, prefix)
    previous = table.read(cycle.id, only=CYCLE_ROW)
    head = previous.get(CYCLE_ROW)
    if only_if_complete and groups is not None and (head is None or head.version != SUMMARY_VERSION):
        return False
    refresh(sources, table, cycle, groups, clock=utc_now(), previous=previous)
    return True


def load_report(cfg: Settings, month: Any, now: datetime) -> Any:
    """The report of ``month`` from the configured stores (``OUTCOMES_STORAGE``, else the app's
    account; tables under ``OUTCOMES_TABLE_PREFIX``): what ``report`` prints and
    ``GET /api/report`` serves."""
    from datetime import timedelta

    from shared.adapters.outcome_store import outcomes_target

    grace = timedelta(minutes=int(cfg["MAINTENANCE_GRACE_MINUTES"]))
    return report_from_store(
        outcomes_target(cfg),
        cfg["OUTCOMES_TABLE_PREFIX"],
        cfg.calendar,
        month,
        now,
        overrun_grace=grace,
        eligibility=cfg.sql_eligibility,
    )
