"""The report drawn from stored summaries is the report drawn from the sources: the inputs cut
into per-group and per-cycle slices, stored as JSON, and joined again build the same report,
at every ``now``, on the bundled month and on random worlds."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.alerts import AlertKind
from shared.domain.calendar import CalendarPolicy, YearMonth, cycle_for_month
from shared.domain.report import ReportInputs, SqlResource, VmResult, build_report
from shared.domain.report.summary import (
    alert_periods,
    cycle_periods,
    cycle_slice_from_json,
    cycle_slice_to_json,
    group_slice_from_json,
    group_slice_to_json,
    join_slices,
    report_notes,
    slice_inputs,
)
from tests.support.report_data import CYCLE, DATA, NOW, OPS, PROD, alert, inputs, sample_events, vm_id

SUBS = (PROD, DATA, OPS, "0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d")
GROUPS = ("rg-web-prod", "rg-sqlvm-prod", "rg-batch", "RG-Mixed-Case", "rg-patching")


def with_notes(i: ReportInputs) -> ReportInputs:
    """The inputs as the sources' reader makes them: with the notes of what it read."""
    notes = report_notes(
        i.cycle,
        runs=i.runs,
        vms=i.vms,
        alerts_read=i.alerts is not None,
        run_machines=i.run_machines,
        assigned=i.assigned_machines,
    )
    return replace(i, notes=notes)


def through_summaries(i: ReportInputs) -> ReportInputs:
    """Sliced, stored as JSON (as the summaries table holds them), read back and joined."""
    cycle_slice, groups = slice_inputs(i)
    stored_cycle = json.loads(json.dumps(cycle_slice_to_json(cycle_slice)))
    stored_groups = {k: json.loads(json.dumps(group_slice_to_json(g))) for k, g in groups.items()}
    return join_slices(
        i.cycle,
        i.now,
        cycle_slice_from_json(stored_cycle),
        {k: group_slice_from_json(g) for k, g in stored_groups.items()},
        overrun_grace=i.overrun_grace,
    )


def test_the_bundled_month_reports_the_same_through_its_summaries_at_every_hour() -> None:
    base = with_notes(inputs(grace=timedelta(minutes=60)))
    assert build_report(base).groups, "the sample month has timelines"
    for hours in range(-24, 24 * 35, 7):
        i = replace(base, now=CYCLE.release_utc + timedelta(hours=hours))
        assert build_report(through_summaries(i)).to_json() == build_report(i).to_json(), hours


def test_unread_stores_are_still_said_through_the_summaries() -> None:
    for raw in (inputs(vms=None), inputs(alerts=[]), inputs(vms=[])):
        i = with_notes(replace(raw, alerts=None) if raw.vms is None else raw)
        assert build_report(through_summaries(i)).to_json() == build_report(i).to_json()


def test_an_alert_is_indexed_under_every_month_a_cycle_finds_it_by() -> None:
    rid = vm_id("rg-web-prod", "vm-web-01")
    run = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Maintenance/maintenanceConfigurations/c/providers/microsoft.maintenance/applyupdates/20261017000000"
    by_cycle = alert(AlertKind.PATCH_FAILED, rid, "2026-10", "2026-11-02T10:00:00Z", "late")
    by_run = alert(AlertKind.PATCH_FAILED, rid, run, "2026-11-12T10:00:00Z", "after the next release")
    by_time = alert(AlertKind.UNEXPECTED_REBOOT, rid, "something-else", "2026-11-05T10:00:00Z", "in the cycle")
    periods = set(cycle_periods(CYCLE))
    assert periods == {"2026-10", "2026-11"}  # release Oct 13 (+ offset) to the next release in November
    for a in (by_cycle, by_run, by_time):
        assert alert_periods(a) & periods, a.key
    december = cycle_for_month(YearMonth(2026, 12), CalendarPolicy())
    assert not alert_periods(by_run) & set(cycle_periods(december))


# -- random worlds --------------------------------------------------------------------------------

EVENTS = sample_events()
BASE = inputs()
STATES = ("queued", "running", "succeeded", "completed-with-warnings", "failed", "not-assessable")
KINDS = list(AlertKind)


@st.composite
def worlds(draw: st.DrawFn) -> ReportInputs:
    n = draw(st.integers(0, 14))
    ids = [vm_id(draw(st.sampled_from(GROUPS)), f"vm-{i:02d}", draw(st.sampled_from(SUBS))) for i in range(n)]
    ids = list(dict.fromkeys(ids))
    vms = [
        VmResult(
            rid,
            draw(st.sampled_from(STATES)),
            draw(st.one_of(st.none(), st.integers(0, 3))),
            draw(st.sampled_from(("", "HTTP 403", "deallocated"))),
            install_state=draw(st.sampled_from(("", "succeeded", "failed"))),
            reboot_pending=draw(st.booleans()),
            assessment_path=draw(st.sampled_from(("", "resource-graph", "assessPatches"))),
        )
        for rid in ids
    ]
    runs = draw(st.lists(st.sampled_from(list(BASE.runs)), unique_by=lambda r: r.correlation_id)) if BASE.runs else []
    health = draw(st.lists(st.sampled_from(list(BASE.health)), unique_by=lambda h: h.resource_id.lower()))
    notices = draw(st.lists(st.sampled_from(list(BASE.notices)), unique_by=lambda x: x.tracking_id))
    resources = ids + [h.resource_id for h in health] + [vm_id("rg-patching", "mc-x", OPS)]
    refs = [CYCLE.id, "2026-09", "2026-11", *(r.correlation_id for r in runs), "other"]
    alerts = []
    for k in range(draw(st.integers(0, 8))):
        opened = CYCLE.release_utc + timedelta(hours=draw(st.integers(-200, 900)))
        resolved = opened + timedelta(hours=draw(st.integers(1, 50))) if draw(st.booleans()) else None
        alerts.append(
            alert(
                draw(st.sampled_from(KINDS)),
                draw(st.sampled_from(resources)),
                draw(st.sampled_from(refs)),
                opened.isoformat(),
                f"message {k}",
                resolved=resolved.isoformat() if resolved else None,
            )
        )
    unique = {a.key: a for a in alerts}
    run_machines = {
        r.run_key: sorted(set(draw(st.lists(st.sampled_from(ids), max_size=4))), key=str.lower)
        for r in runs
        if ids and draw(st.booleans())
    }
    assigned = {
        r.configuration_id.lower(): list(dict.fromkeys(draw(st.lists(st.sampled_from(ids), min_size=1, max_size=4))))
        for r in runs
        if ids and draw(st.booleans())
    }
    sql = [
        SqlResource(
            f"/subscriptions/{draw(st.sampled_from(SUBS))}/resourceGroups/{draw(st.sampled_from(GROUPS))}"
            f"/providers/Microsoft.Sql/servers/s{i}/databases/d{i}",
            draw(st.sampled_from(("westeurope", "eastus", "West Europe"))),
            draw(st.sampled_from(("database", "managed_instance"))),
            draw(st.sampled_from(("", "SQL_Default", "SQL_WestEurope_DB_2"))),
            draw(st.booleans()),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    now = CYCLE.release_utc + timedelta(hours=draw(st.integers(-30, 24 * 40)))
    world = ReportInputs(
        cycle=CYCLE,
        now=now,
        runs=runs,
        health=health,
        notices=notices,
        vms=None if draw(st.integers(0, 9)) == 0 else vms,
        alerts=None
        if draw(st.integers(0, 9)) == 0
        else sorted(unique.values(), key=lambda a: (a.key.kind.value, a.key.alert_id)),
        run_machines=run_machines,
        assigned_machines=assigned,
        sql_resources=sorted(sql, key=lambda s: s.resource_id.lower()),
        overrun_grace=timedelta(minutes=draw(st.sampled_from((0, 60)))),
    )
    return with_notes(world)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_a_random_world_reports_the_same_through_its_summaries(world: ReportInputs) -> None:
    assert build_report(through_summaries(world)).to_json() == build_report(world).to_json()


def test_the_sample_reads_are_what_the_random_worlds_draw_from() -> None:
    assert BASE.runs and BASE.health and BASE.notices and EVENTS and NOW
