"""Property: the incremental watchdog (its fact base kept up to date by the change feed)
records exactly what a watchdog that reads every table on every run records, on the real
stores, whatever the facts, their order and the instants the watchdog looks.

Two worlds receive the same steps: maintenance pre/post events, this app's gate, SQL notice
stages, Resource Health signals of the run's VMs, the run's verification rows and the
cycle's per-VM results (written through the cycle store, as the functions write them),
and watchdog runs at random instants. One world's watchdog is incremental (the default),
the other's reads everything (``WATCHDOG_FULL=true``). After every watchdog run both hold
the same alerts: same identities, states and transitions.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shared.adapters.cycle_store import CycleStore, run_scope
from shared.adapters.outcome_store import outcome_store
from shared.domain.alerts import evaluate
from shared.domain.hotpatch import Finding
from shared.services.cycle_deps import row_key
from shared.services.watchdog import WatchdogReport, gather
from tests.e2e.alerting_world import CFG, SUB, VM1, VM2, World, t
from tests.e2e.test_alert_convergence import DEADLINES, IMPACT, MOVED, RUN, T
from tests.support.alert_events import availability, iso, maintenance, run_id, sql_notice
from tests.support.azurite import Azurite

pytestmark = pytest.mark.azurite


def world(servers: Any, azurite: Azurite, **extra: str) -> World:
    topic, logs, arm, databases = servers
    return World.create(azurite.connection_string, "t" + uuid.uuid4().hex[:10], topic, logs, arm, databases, **extra)


def cycle_store(w: World) -> CycleStore:
    store = outcome_store(w.cfg)
    cycles = CycleStore(store.target, store.prefix)
    cycles.ensure_tables()
    return cycles


def write(w: World, at: datetime, kind: str, body: Any) -> None:
    rid = run_id(CFG, RUN[0])
    if kind == "event":
        w.deliver(body, at=iso(at))
    elif kind == "gate":
        cycle_store(w).upsert(
            "cycles", {"PartitionKey": "run", "RowKey": run_scope(rid), "CorrelationId": rid, "GateCancelled": True}
        )
    elif kind == "verified":  # the run's verification found these VMs
        rows = [
            {
                "PartitionKey": run_scope(rid),
                "RowKey": row_key(vm),
                "ResourceId": vm,
                "RunId": rid,
                "State": "succeeded",
            }
            for vm in body
        ]
        cycle_store(w).batch_upsert("cyclevms", rows)
    elif kind == "result":  # the cycle's assessment of a VM (and its finding, open or resolved)
        vm, state = body
        entity = {
            "PartitionKey": "2026-05",
            "RowKey": row_key(vm),
            "ResourceId": vm,
            "State": state,
            "FinishedUtc": iso(at),
            "Reason": "" if state == "succeeded" else "assessment failed: InternalError",
            "Result": json.dumps({"critical_and_security": 0, "reboot_pending": False}),
        }
        cycles = cycle_store(w)
        cycles.upsert("cyclevms", entity)
        finding = Finding("vm-not-assessable", vm, "2026-05", "warning", "not assessable: VM deallocated", iso(at))
        cycles.put_findings([replace(finding, state="open" if state == "failed" else "resolved")])
    else:
        w.watchdog(iso(at))


@st.composite
def plans(draw: Any) -> list[tuple[datetime, str, Any]]:
    """Steps in time order: (instant, kind, body)."""
    pre_at = t("2026-05-08T23:25:00Z")
    steps: list[tuple[datetime, str, Any]] = [
        (pre_at, "event", maintenance("pre", CFG, *RUN, pre_at, subscription=SUB))
    ]
    status = draw(st.sampled_from(["Succeeded", "Succeeded", "Failed", "Canceled", None]))
    if status is not None:
        sent = draw(st.sampled_from([t("2026-05-09T01:10:00Z"), t("2026-05-09T07:00:00Z")]))
        steps.append((sent, "event", maintenance("post", CFG, *RUN, sent, subscription=SUB, status=status)))
    if draw(st.booleans()):
        steps.append((t("2026-05-08T23:40:00Z"), "gate", None))
    steps.append((t("2026-05-09T02:00:00Z"), "verified", [VM1, VM2]))
    for vm in draw(st.sets(st.sampled_from([VM1, VM2]), min_size=1)):
        down = draw(st.sampled_from([t("2026-05-09T08:00:00Z"), t("2026-05-09T12:00:00Z")]))
        steps.append((down, "event", availability(vm, down, "Available", "Unavailable")))
        if draw(st.booleans()):
            up = down + draw(st.sampled_from([timedelta(minutes=10), timedelta(days=2)]))
            steps.append((up, "event", availability(vm, up, "Unavailable", "Available")))
    for vm in draw(st.sets(st.sampled_from([VM1, VM2]))):
        at = draw(st.sampled_from([t("2026-05-13T06:00:00Z"), t("2026-05-16T06:00:00Z")]))
        steps.append((at, "result", (vm, draw(st.sampled_from(["failed", "succeeded"])))))
        if draw(st.booleans()):
            steps.append((at + timedelta(days=2), "result", (vm, "succeeded")))
    stages = {
        "Planned": (t("2026-05-10T12:00:00Z"), IMPACT),
        "InProgress": (t("2026-05-12T02:31:00Z"), IMPACT),
        "Complete": (t("2026-05-14T09:00:00Z"), IMPACT),
        "Rescheduled": (t("2026-05-15T13:00:00Z"), MOVED),
    }
    for stage in sorted(draw(st.sets(st.sampled_from(sorted(stages))))):
        sent, window = stages[stage]
        steps.append((sent, "event", sql_notice("TRK-INC", stage, sent, *window, subscription=SUB, region="East US")))
    delays = st.sampled_from([timedelta(0), timedelta(hours=6), timedelta(days=3)])
    steps = [(min(at + draw(delays), T), kind, body) for at, kind, body in steps]
    moments = st.sampled_from(DEADLINES) | st.sampled_from([at + timedelta(hours=2) for at, _, _ in steps])
    steps += [(min(i, T), "watchdog", None) for i in draw(st.lists(moments, min_size=2, max_size=5))]
    steps.append((T, "watchdog", None))
    order = draw(st.permutations(range(len(steps))))
    return sorted((steps[i] for i in order), key=lambda s: s[0])


def verdicts(w: World, at: datetime, *, full: bool) -> list[tuple[Any, ...]]:
    """What every rule says at ``at`` over ``w``'s store: from its fact base, or from every table."""
    facts = gather(w.deps(), w.policy, at, WatchdogReport(), full=full)
    return sorted((v.key.normalized, v.firing, v.message) for v in evaluate(facts, w.policy, at))


def alerts(w: World) -> list[tuple[Any, ...]]:
    return sorted(
        (a.key.normalized, a.state.value, tuple((x.kind.value, x.at) for x in a.transitions)) for a in w.alerts()
    )


def compare(servers: Any, azurite: Azurite, plan: list[tuple[datetime, str, Any]]) -> set[str]:
    """Both worlds through ``plan``, compared after every watchdog run; the alert kinds raised."""
    incremental = world(servers, azurite, WATCHDOG_REBUILD_HOURS="720")  # the safety net would hide the path
    full = world(servers, azurite, WATCHDOG_FULL="true")
    modes = []
    for w in (incremental, full):
        w.watchdog("2026-05-01T00:00:00Z")  # reads the schedules, starts watching (and builds the base)
    for at, kind, body in plan:
        if kind == "watchdog":
            modes.append(incremental.watchdog(iso(at)).facts)
            full.watchdog(iso(at))
            assert alerts(incremental) == alerts(full), f"after the watchdog at {iso(at)}"
            assert verdicts(incremental, at, full=False) == verdicts(incremental, at, full=True), "on one store"
        else:
            for w in (incremental, full):
                write(w, at, kind, body)
    assert {m.mode for m in modes if m is not None} <= {"incremental", "rebuilt"}
    assert any(m is not None and m.mode == "incremental" for m in modes)
    return {a.key.kind.value for a in incremental.alerts()}


@settings(
    max_examples=8, deadline=None, phases=[Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=plans())
def test_incremental_and_full_watchdogs_record_the_same_alerts(servers: Any, azurite: Azurite, plan: Any) -> None:
    compare(servers, azurite, plan)


def test_a_run_that_overran_and_a_vm_left_down_alert_the_same_either_way(servers: Any, azurite: Azurite) -> None:
    """One fixed world that raises both time-settled families: a run whose post event comes
    after its window and grace (overran, then resolved), and a VM down after it and not back."""
    pre, post, down = t("2026-05-08T23:25:00Z"), t("2026-05-09T07:00:00Z"), t("2026-05-09T08:00:00Z")
    plan = [
        (pre, "event", maintenance("pre", CFG, *RUN, pre, subscription=SUB)),
        (t("2026-05-09T02:00:00Z"), "verified", [VM1, VM2]),
        (t("2026-05-09T05:30:00Z"), "watchdog", None),
        (post, "event", maintenance("post", CFG, *RUN, post, subscription=SUB, status="Succeeded")),
        (down, "event", availability(VM1, down, "Available", "Unavailable")),
        (t("2026-05-09T12:00:00Z"), "watchdog", None),
        (T, "watchdog", None),
    ]
    kinds = compare(servers, azurite, plan)
    assert {"maintenance-overran", "unhealthy-after-maintenance"} <= kinds, kinds
