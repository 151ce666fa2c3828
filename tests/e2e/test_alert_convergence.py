"""Property, on the real stores (Azurite tables, the loopback ARM's schedules, the event
path and the watchdog as the functions run them): random sets of events delivered in random
order with watchdog runs at random instants in between leave, after a final watchdog run at
T, exactly the open alerts of delivering everything first and running the watchdog once at
T. A modest example count keeps it to seconds; ``tests/unit/test_alert_convergence.py``
explores many more examples over the pure rules."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.cycle_store import CycleStore, run_scope
from shared.adapters.outcome_store import outcome_store
from shared.domain.alerts import AlertState
from tests.e2e.alerting_world import CFG, SUB, World, t
from tests.support.alert_events import iso, maintenance, run_id, sql_notice
from tests.support.azurite import Azurite

pytestmark = pytest.mark.azurite

T = t("2026-05-31T00:00:00Z")
RUN = (t("2026-05-09T00:00:00Z"), t("2026-05-09T03:55:00Z"))  # Saturday 02:00-05:55 CEST
IMPACT = (t("2026-05-12T02:30:00Z"), t("2026-05-12T10:00:00Z"))  # Monday 22:30 EDT, orders' weekday window
MOVED = (t("2026-05-19T02:30:00Z"), t("2026-05-19T10:00:00Z"))
DEADLINES = [t("2026-05-09T04:55:00Z"), t("2026-05-15T11:00:00Z"), t("2026-05-22T11:00:00Z")]


def new_world(servers: Any, azurite: Azurite) -> World:
    topic, logs, arm, databases = servers
    w = World.create(azurite.connection_string, "t" + uuid.uuid4().hex[:10], topic, logs, arm, databases)
    w.watchdog("2026-05-01T00:00:00Z")  # reads the schedules, starts watching
    return w


@st.composite
def plans(draw: Any) -> tuple[list[tuple[datetime, str, Any]], list[tuple[datetime, str, Any]]]:
    """(steps in time order, every fact): a step is (instant, "event" | "gate" | "watchdog", body)."""
    facts: list[tuple[datetime, str, Any]] = [
        (t("2026-05-08T23:25:00Z"), "event", maintenance("pre", CFG, *RUN, t("2026-05-08T23:25:00Z"), subscription=SUB))
    ]
    status = draw(st.sampled_from([None, "Succeeded", "NoUpdatesPending", "Failed", "Canceled", "Mystery"]))
    if status is not None:
        sent = draw(st.sampled_from([t("2026-05-09T01:10:00Z"), t("2026-05-09T07:00:00Z")]))
        facts.append((sent, "event", maintenance("post", CFG, *RUN, sent, subscription=SUB, status=status)))
    if draw(st.booleans()):
        facts.append((t("2026-05-08T23:40:00Z"), "gate", None))
    stages = {
        "Planned": (t("2026-05-10T12:00:00Z"), IMPACT),
        "InProgress": (t("2026-05-12T02:31:00Z"), IMPACT),
        "Complete": (draw(st.sampled_from([t("2026-05-14T09:00:00Z"), t("2026-05-20T09:00:00Z")])), IMPACT),
        "Canceled": (t("2026-05-15T13:00:00Z"), IMPACT),
        "Rescheduled": (t("2026-05-15T13:00:00Z"), MOVED),
    }
    for stage in sorted(draw(st.sets(st.sampled_from(sorted(stages)), min_size=1))):
        sent, window = stages[stage]
        facts.append((sent, "event", sql_notice("TRK-E2E", stage, sent, *window, subscription=SUB, region="East US")))
    delays = st.sampled_from([timedelta(0), timedelta(hours=6), timedelta(days=3)])
    steps = [(min(at + draw(delays), T), kind, body) for at, kind, body in facts]
    moments = st.sampled_from(DEADLINES) | st.sampled_from([at + timedelta(days=1) for at, _, _ in facts])
    steps += [(min(i, T), "watchdog", None) for i in draw(st.lists(moments, min_size=1, max_size=3))]
    order = draw(st.permutations(range(len(steps))))
    return sorted((steps[i] for i in order), key=lambda s: s[0]), facts


def record_gate(world: World) -> None:
    """This app's gate cancelled the run (what ``gate_run`` writes)."""
    store = outcome_store(world.cfg)
    cycles = CycleStore(store.target, store.prefix)
    cycles.ensure_tables()
    rid = run_id(CFG, RUN[0])
    cycles.upsert(
        "cycles", {"PartitionKey": "run", "RowKey": run_scope(rid), "CorrelationId": rid, "GateCancelled": True}
    )


def apply(world: World, at: datetime, kind: str, body: Any) -> None:
    if kind == "event":
        world.deliver(body, at=iso(at))
    elif kind == "gate":
        record_gate(world)
    else:
        world.watchdog(iso(at))


def open_keys(world: World) -> set[tuple[str, str, str]]:
    return {a.key.normalized for a in world.alerts() if a.state is AlertState.OPEN}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans())
def test_open_alerts_are_a_function_of_the_facts_on_the_real_stores(servers: Any, azurite: Azurite, plan: Any) -> None:
    steps, facts = plan
    incremental = new_world(servers, azurite)
    for at, kind, body in steps:
        apply(incremental, at, kind, body)
    incremental.watchdog(iso(T))

    reference = new_world(servers, azurite)
    for _, kind, body in facts:
        apply(reference, T, kind, body)
    reference.watchdog(iso(T))
    assert open_keys(incremental) == open_keys(reference)
