"""Composition root of alerting: its ports (:mod:`shared.services.ports.alerting`) wired to
the configured outside world: the outcome and alert tables, the cached schedules and ARM to
refresh them, Log Analytics, the patch cycle's store and the Event Grid topic.
``live=False`` (``replay`` without ``--live``) calls no Azure API: schedules come from the
cache only, heartbeats are not queried, and nothing is published (alerts stay pending for
the functions to publish; :func:`would_publish` lists them)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from shared.config import Settings, settings
from shared.domain.alerts import AlertPolicy
from shared.services.ports.alerting import CycleReader
from shared.services.watchdog import Alerting, WatchdogReport, alert_after_event, run_watchdog

log = logging.getLogger(__name__)


def alert_policy(cfg: Settings) -> AlertPolicy:
    return AlertPolicy(
        calendar=cfg.calendar,
        maintenance_grace=timedelta(minutes=int(cfg["MAINTENANCE_GRACE_MINUTES"])),
        health_grace=timedelta(minutes=int(cfg["HEALTH_GRACE_MINUTES"])),
    )


def cycle_reader(cfg: Settings) -> CycleReader | None:
    """The patch cycle's per-VM results and findings, when that store is available."""
    from shared.adapters.cycle_facts import CycleFacts

    try:
        return CycleFacts.from_settings(cfg)
    except ImportError:  # the patch cycle's store is not part of this deployment
        return None


def alerting_from_settings(cfg: Settings, *, live: bool = True, publisher: Any = None, **overrides: Any) -> Alerting:
    from shared.adapters.alert_store import AlertStore
    from shared.adapters.health import HeartbeatSource
    from shared.adapters.outcome_store import FUNCTION_CLIENT_OPTIONS, outcome_store, outcomes_target
    from shared.adapters.publisher import EventGridAlertPublisher
    from shared.adapters.schedules import ScheduleCache

    target = outcomes_target(cfg)
    prefix = cfg["OUTCOMES_TABLE_PREFIX"]
    if publisher is None and live:
        if cfg["ALERTS_TOPIC_ENDPOINT"]:
            publisher = EventGridAlertPublisher.from_settings(cfg)
        else:
            log.warning("ALERTS_TOPIC_ENDPOINT is not set: alerts are recorded and stay pending until it is")
    schedule_source = None
    heartbeats = None
    if live:
        from shared.adapters.identity import credential, endpoints
        from shared.adapters.schedules import ScheduleReader

        schedule_source = ScheduleReader(credential(), endpoints(cfg).arm)
        heartbeats = HeartbeatSource.from_settings(cfg)
    outcomes = overrides.get("outcomes") or outcome_store(cfg)
    deps: dict[str, Any] = {
        "outcomes": outcomes,
        "alerts": AlertStore(target, prefix, FUNCTION_CLIENT_OPTIONS, quarantine=outcomes.record_quarantined),
        "publisher": publisher,
        "schedules": ScheduleCache(target, prefix, FUNCTION_CLIENT_OPTIONS, cfg.sql_eligibility),
        "schedule_source": schedule_source,
        "heartbeats": heartbeats,
        "cycles": cycle_reader(cfg),
        "watched": tuple(cfg["WATCHED_MAINTENANCE_CONFIGURATIONS"]),
        "subscriptions": tuple(cfg["TARGET_SUBSCRIPTION_IDS"]),
        "full": cfg["WATCHDOG_FULL"],
        "rebuild_every": timedelta(hours=cfg["WATCHDOG_REBUILD_HOURS"]),
    }
    deps.update(overrides)
    if deps.get("cycles") is not None and hasattr(deps["outcomes"], "changes"):
        from shared.adapters.factbase_store import FactBaseStore

        store = deps["outcomes"]
        deps.setdefault("changes", store.changes)
        deps.setdefault("factbase", FactBaseStore(store.target, store.prefix, store.client_options))
        deps.setdefault("summaries", partial(_refresh_summaries, cfg, (store.target, store.prefix)))
    return Alerting(**deps)


def _refresh_summaries(cfg: Settings, at: Any, cycle_id: str, resources: set[str] | None) -> None:
    """The watchdog's summary refresh: the groups of ``resources`` (None: the whole cycle)."""
    from shared.domain.report.summary import groups_of
    from shared.runtime import refresh_summaries

    groups = None if resources is None else groups_of(resources)
    refresh_summaries(cycle_id, groups, cfg=cfg, only_if_complete=True, at=at)


_lock = threading.Lock()
_built: list[tuple[Settings, Alerting]] = []


def utc_now() -> datetime:
    return datetime.now(UTC)


def alerting() -> Alerting:
    """The process's alerting for the configured settings (clients reused across invocations)."""
    cfg = settings()
    with _lock:
        if not _built or _built[0][0] is not cfg:
            _built[:] = [(cfg, alerting_from_settings(cfg))]
        return _built[0][1]


def watchdog() -> WatchdogReport:
    """One watchdog pass with the configured adapters, at the clock's ``now``."""
    return run_watchdog(alerting(), alert_policy(settings()), now=utc_now())


def after_event(event: Any) -> WatchdogReport | None:
    """The event functions' hook: alert on what a recorded event settles. Alerting never fails
    the recording (the event is stored; the next watchdog sweeps what was missed here)."""
    try:
        return alert_after_event(alerting(), event, alert_policy(settings()), now=utc_now())
    except Exception:
        log.exception("alerting after %s failed; the watchdog will catch up", type(event).__name__)
        return None


def would_publish(deps: Alerting) -> list[dict[str, Any]]:
    """The CloudEvents the pending transitions would be published as (nothing is sent)."""
    from shared.domain.alerts import alert_event

    return [alert_event(s.alert, t) for s in deps.alerts.pending() for t in s.alert.pending]


def alerting_for_store(cfg: Settings, store: Any, *, live: bool = False, **overrides: Any) -> Alerting:
    """Alerting over the tables of an outcome store (its account and prefix): ``replay`` and ``demo``."""
    from shared.adapters.alert_store import AlertStore
    from shared.adapters.cycle_facts import CycleFacts
    from shared.adapters.cycle_store import CycleStore
    from shared.adapters.schedules import ScheduleCache

    parts: dict[str, Any] = {
        "outcomes": store,
        "alerts": AlertStore(store.target, store.prefix, quarantine=store.record_quarantined),
        "schedules": ScheduleCache(store.target, store.prefix, eligibility=cfg.sql_eligibility),
        "cycles": CycleFacts(CycleStore(store.target, store.prefix)),
    }
    parts.update(overrides)
    return alerting_from_settings(cfg, live=live, **parts)
