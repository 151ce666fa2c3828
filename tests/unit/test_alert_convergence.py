"""Property: alert state is a function of the facts, not of timing.

Random sets of events (a maintenance run's pre and post events with any status, this app's
gate record, a SQL notice's stages including a late Complete, a cancellation and a
rescheduling, health signals), delivered in random order with random delays, with watchdog
evaluations at random instants in between: after a final evaluation at T the *open* alerts
are exactly those of delivering everything first and evaluating once at T. (Alerts that a
late delivery opened and its arrival resolved stay in the history as resolved: that is the
point - none stays open.)

Pure: the rules and the alert state machine over facts folded from decoded published
samples. ``tests/e2e/test_alert_convergence.py`` runs the same property on the real stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.schedules import SqlResourceRef
from shared.domain.alerts import (
    Alert,
    AlertKey,
    AlertPolicy,
    AlertState,
    Facts,
    WatchedConfiguration,
    apply_verdict,
    evaluate,
)
from shared.domain.events import (
    HealthEvent,
    MaintenanceEvent,
    ResourceHealthAlert,
    SqlMaintenanceNotice,
    decode_event,
)
from shared.domain.outcomes import fold_notices, fold_runs, health_history
from shared.domain.schedule import MaintenanceSchedule
from shared.domain.sql_catalog import catalog_schedule
from shared.services.watchdog import health_facts, notice_facts, run_facts
from tests.support.alert_events import availability, maintenance, resource_health_alert, sql_notice

SUB = "5b4b650e-28b9-4790-b3ab-ddbd88d727c4"
CFG = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Maintenance/maintenanceConfigurations/sat-0200"
VM1 = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-web-01"
DB = f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Sql/servers/sql-east/databases/orders"
SATURDAY = MaintenanceSchedule.from_config("Week Saturday", "2026-01-03 02:00", "03:55", "W. Europe Standard Time")
POLICY = AlertPolicy()
T = datetime(2026, 5, 31, tzinfo=UTC)  # the final evaluation: May 2026 is a hotpatch month


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# Saturday 9 May 2026 02:00-05:55 CEST = 00:00-03:55 UTC.
RUN = (t("2026-05-09T00:00:00Z"), t("2026-05-09T03:55:00Z"))
# Monday 11 May 22:30 EDT = 12 May 02:30 UTC, inside the East US weekday window.
IMPACT = (t("2026-05-12T02:30:00Z"), t("2026-05-12T10:00:00Z"))
MOVED = (t("2026-05-19T02:30:00Z"), t("2026-05-19T10:00:00Z"))

DELTAS = (timedelta(0), timedelta(minutes=1), timedelta(minutes=61), timedelta(hours=6), timedelta(days=1))
DEADLINES = (
    RUN[1] + POLICY.maintenance_grace,  # the run's overrun
    t("2026-05-15T10:00:00Z") + POLICY.maintenance_grace,  # the end of the weekday chain from 11 May
    t("2026-05-22T10:00:00Z") + POLICY.maintenance_grace,  # ... from the rescheduled 18 May
)
ANYTIME = [RUN[0] + timedelta(hours=h) for h in range(0, 22 * 24, 7)]
POST_STATUSES = ["Succeeded", "Completed", "NoUpdatesPending", "Failed", "Cancelled", "RetryLater", "Mystery"]


@dataclass(frozen=True)
class Fact:
    """One thing that can be delivered: an event (posted body) or the gate's record."""

    name: str
    at: datetime  # when it happened (its own timestamp)
    body: dict[str, Any] | None = None  # None: the gate's record


def fact_pool(draw: Any) -> list[Fact]:
    pool = [
        Fact(
            "pre", t("2026-05-08T23:25:00Z"), maintenance("pre", CFG, *RUN, t("2026-05-08T23:25:00Z"), subscription=SUB)
        )
    ]
    status = draw(st.sampled_from([None, *POST_STATUSES]))
    if status is not None:
        sent = draw(st.sampled_from([t("2026-05-09T01:10:00Z"), t("2026-05-09T07:00:00Z")]))  # in time, or late
        pool.append(Fact("post", sent, maintenance("post", CFG, *RUN, sent, subscription=SUB, status=status)))
    if draw(st.booleans()):
        pool.append(Fact("gate", t("2026-05-08T23:40:00Z")))
    stages: dict[str, tuple[datetime, tuple[datetime, datetime]]] = {
        "Planned": (t("2026-05-10T12:00:00Z"), IMPACT),
        "InProgress": (t("2026-05-12T02:31:00Z"), IMPACT),
        "Complete": (draw(st.sampled_from([t("2026-05-14T09:00:00Z"), t("2026-05-20T09:00:00Z")])), IMPACT),
        "Canceled": (t("2026-05-15T13:00:00Z"), IMPACT),
        "Rescheduled": (t("2026-05-15T13:00:00Z"), MOVED),
    }
    for stage in draw(st.sets(st.sampled_from(sorted(stages)))):
        sent, (start, end) = stages[stage]
        body = sql_notice("TRK-PROP", stage, sent, start, end, subscription=SUB, region="East US")
        pool.append(Fact(f"notice-{stage}", sent, body))
    down = t("2026-05-09T01:30:00Z")
    if draw(st.booleans()):
        pool.append(Fact("down", down, availability(VM1, down, "Available", "Unavailable")))
        up = draw(st.sampled_from([None, t("2026-05-09T04:10:00Z"), t("2026-05-10T12:00:00Z")]))
        if up is not None:
            pool.append(Fact("up", up, availability(VM1, up, "Unavailable", "Available")))
    if draw(st.booleans()):
        rebooted = t("2026-05-13T15:00:00Z")
        pool.append(Fact("reboot", rebooted, resource_health_alert(VM1, rebooted, title="Rebooted by user")))
    return pool


@st.composite
def schedules(draw: Any) -> tuple[list[tuple[datetime, Fact | None]], list[Fact]]:
    """Deliveries (each at or after its fact's time, in random order) and watchdog instants."""
    pool = fact_pool(draw)
    delays = st.sampled_from([timedelta(0), timedelta(minutes=10), timedelta(hours=6), timedelta(days=3)])
    steps: list[tuple[datetime, Fact | None]] = [(min(f.at + draw(delays), T), f) for f in pool]
    # watchdog instants near the moments that matter (each fact, each deadline), and anywhere
    nearby = sorted({f.at + d for f in pool for d in DELTAS} | set(DEADLINES))
    moments = st.sampled_from(DEADLINES) | st.sampled_from(nearby) | st.sampled_from(ANYTIME)
    instants = draw(st.lists(moments, min_size=2, max_size=10))
    steps += [(min(i, T), None) for i in instants]
    order = draw(st.permutations(range(len(steps))))
    steps = sorted((steps[i] for i in order), key=lambda s: s[0])  # time order; ties in random order
    return steps, pool


def facts_of(delivered: list[Fact]) -> Facts:
    """What the watchdog gathers from the stores once ``delivered`` are recorded."""
    events = [decode_event(f.body) for f in delivered if f.body is not None]
    gated = any(f.body is None for f in delivered)
    runs = []
    for r in fold_runs([e for e in events if isinstance(e, MaintenanceEvent)]):
        members = (VM1,) if r.post_seen else ()  # the run's verification found its machine
        runs.append(run_facts(r, members, gate_cancelled=gated and r.pre_seen))
    sql = [SqlResourceRef(DB, "eastus", "SQL_EastUS_DB_1", "database")]
    notices = tuple(
        notice_facts(n, sql) for n in fold_notices([e for e in events if isinstance(e, SqlMaintenanceNotice)])
    )
    signals = [e for e in events if isinstance(e, HealthEvent | ResourceHealthAlert)]
    return Facts(
        runs=tuple(runs),
        notices=notices,
        health=tuple(health_facts(health_history(signals))) if signals else (),
        watched=(WatchedConfiguration(CFG, SATURDAY, t("2026-05-01T00:00:00Z")),),
        configurations={CFG.lower(): SATURDAY},
        sql_windows={DB.lower(): _window()},
        vm_schedules={VM1.lower(): (SATURDAY,)},
        hotpatch_vms=(VM1,),
    )


def _window() -> Any:
    from shared.domain.alerts import ResourceWindow

    return ResourceWindow(DB, "SQL_EastUS_DB_1", catalog_schedule("SQL_EastUS_DB_1"))


def watch(alerts: dict[AlertKey, Alert], delivered: list[Fact], now: datetime) -> None:
    for verdict in evaluate(facts_of(delivered), POLICY, now):
        after = apply_verdict(alerts.get(verdict.key), verdict, now)
        if after is not None:
            alerts[verdict.key] = after


def open_keys(alerts: dict[AlertKey, Alert]) -> set[tuple[str, str, str]]:
    return {k.normalized for k, a in alerts.items() if a.state is AlertState.OPEN}


@settings(max_examples=400, deadline=None)
@given(schedules())
def test_open_alerts_depend_on_the_facts_not_on_delivery_order_or_watchdog_timing(plan: Any) -> None:
    steps, pool = plan
    alerts: dict[AlertKey, Alert] = {}
    delivered: list[Fact] = []
    for at, fact in steps:
        if fact is None:
            watch(alerts, delivered, at)
        else:
            delivered.append(fact)
    watch(alerts, delivered, T)

    reference: dict[AlertKey, Alert] = {}
    watch(reference, pool, T)
    assert open_keys(alerts) == open_keys(reference)
