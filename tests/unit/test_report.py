"""The compliance report's model and its HTML/SVG rendering, over the bundled October 2026
decoded and folded by the app's own code."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from shared.domain.alerts import AlertKind, AlertState
from shared.domain.events import Availability, HealthEvent
from shared.domain.outcomes import RunStatus, fold_health
from shared.domain.report import (
    ComplianceReport,
    GroupKey,
    ReportInputs,
    SqlResource,
    Standing,
    VmResult,
    build_report,
    dips_of,
)
from shared.presentation.report_html import render_html
from shared.presentation.svg import timeline_svg
from tests.support.report_data import CYCLE, NOW, PROD, alert, inputs, sample_events, t, vm_id

SQLHOSTS_RUN = (
    "/subscriptions/6f1c9e2a-8d4b-4a7e-b3f2-9c0d5e7a1b48/resourceGroups/rg-patching/providers/"
    "Microsoft.Maintenance/maintenanceConfigurations/mc-eus-sqlhosts-pt4/providers/microsoft.maintenance/"
    "applyupdates/20261018020000"
)


def test_the_summary_counts_what_was_recorded_for_the_cycle() -> None:
    s = build_report(inputs()).summary

    assert (s.vms, s.assessed, s.compliant, s.pending, s.failed, s.not_assessable, s.awaiting) == (7, 4, 3, 1, 1, 1, 1)
    # Oct 14 hotpatch, Oct 17 and 24 web-sat, Oct 21 sea-app succeeded; Oct 18 sqlhosts failed; Oct 31 has no post yet.
    assert dict(s.runs) == {"succeeded": 4, "failed": 1, "scheduled": 1}
    assert s.dips == 4
    assert s.still_unhealthy == ("vm-sqlvm-02",)  # Unavailable since Oct 18, never recovered in the samples
    assert s.notices == 3
    # September's alert is not this cycle's.
    assert s.alerts_by_kind == {
        "patch-failed": {"open": 1, "resolved": 0},
        "unexpected-reboot": {"open": 0, "resolved": 1},
        "unhealthy-after-maintenance": {"open": 1, "resolved": 0},
    }


def test_a_pending_reboot_is_its_own_count_never_compliant() -> None:
    base = inputs()
    assert base.vms is not None
    web01 = base.vms[0]
    assert web01.standing is Standing.COMPLIANT
    rebooting = replace(base, vms=(replace(web01, reboot_pending=True), *base.vms[1:]))
    report = build_report(rebooting)
    s = report.summary
    assert (s.compliant, s.reboot_pending, s.pending) == (2, 1, 1)
    assert s.to_json()["reboot_pending"] == 1
    assert replace(web01, reboot_pending=True, critical_security_pending=2).standing is Standing.PENDING
    late = build_report(replace(rebooting, now=CYCLE.install_deadline_utc + timedelta(hours=1)))
    assert "1 VM(s) past the deadline with a reboot pending" in render_html(late)


def test_an_overrun_is_a_post_event_or_its_absence_past_the_window_and_the_grace() -> None:
    with_grace = build_report(inputs(grace=timedelta(minutes=60)))
    assert with_grace.summary.runs_overran == 1  # Oct 31: no post event by 05:00 for a window ending 04:00
    assert [r.window_start.day for r in with_grace.runs if r.overran] == [31]
    # Without grace, the Oct 18 post event three minutes after the window's end counts too.
    strict = build_report(inputs(grace=timedelta(0)))
    assert sorted(r.window_start.day for r in strict.runs if r.overran) == [18, 31]
    # Before the Oct 31 window ended, that run was simply not finished.
    early = build_report(inputs(now=t("2026-10-31T03:00:00Z")))
    assert not any(r.overran for r in early.runs)


def test_no_cycle_results_and_no_alert_store_are_said_as_such_not_counted_as_zero() -> None:
    report = build_report(replace(inputs(), vms=None, alerts=None))
    assert report.summary.vms is None
    assert report.summary.alerts_by_kind is None
    page = render_html(report)
    assert "No patch-cycle results could be read." in page
    assert "The alert store could not be read." in page


def test_every_resource_group_gets_a_timeline_with_its_resources_dips_and_alerts() -> None:
    report = build_report(inputs())
    groups = {g.resource_group: g for g in report.groups}

    assert set(groups) == {"rg-web-prod", "rg-sqlvm-prod", "rg-batch"}
    assert report.groups[0].resource_group == "rg-sqlvm-prod"  # open alerts, a failure, still unavailable
    sqlvm = {lane.name: lane for lane in groups["rg-sqlvm-prod"].lanes}
    assert sqlvm["vm-sqlvm-01"].standing is Standing.FAILED
    assert [(a.kind, a.state) for a in sqlvm["vm-sqlvm-02"].alerts] == [
        ("unhealthy-after-maintenance", AlertState.OPEN)
    ]
    (dip,) = sqlvm["vm-sqlvm-02"].dips
    # The Resource Health alert (millisecond precision) and the event report the same onset.
    assert (dip.state, dip.start, dip.end) == (Availability.UNAVAILABLE, t("2026-10-18T02:37:45.112Z"), None)
    web = {lane.name: lane for lane in groups["rg-web-prod"].lanes}
    assert [(d.start, d.end) for d in web["vm-web-01"].dips] == [
        (t("2026-10-17T00:41:03.0981712Z"), t("2026-10-17T00:47:12.4031156Z"))
    ]
    assert web["vm-web-01"].annotations  # the reboot annotation
    assert web["vm-web-02"].standing is Standing.PENDING
    assert {lane.name for lane in groups["rg-batch"].lanes} == {"vm-batch-04", "vm-batch-05", "vm-batch-06"}

    page = render_html(report)
    assert page.count('<svg class="pw-timeline"') == len(report.groups) + 1  # and the cycle overview
    for g in report.groups:
        svg = timeline_svg(g, report)
        for lane in g.lanes:
            assert f">{lane.name}</text>" in svg
        for lane in g.lanes:
            for a in lane.alerts:
                assert f'data-kind="{a.kind}"' in svg


def test_runs_go_to_the_groups_of_their_machines_or_are_marked_inferred_for_their_subscription() -> None:
    machines = {SQLHOSTS_RUN.lower(): [vm_id("rg-sqlvm-prod", "vm-sqlvm-01"), vm_id("rg-sqlvm-prod", "vm-sqlvm-02")]}
    report = build_report(inputs(run_machines=machines))
    groups = {g.resource_group: g for g in report.groups}

    sqlhosts = [r for r in groups["rg-sqlvm-prod"].runs if r.configuration == "mc-eus-sqlhosts-pt4"]
    assert [(r.inferred, r.machines, r.status) for r in sqlhosts] == [
        (False, ("vm-sqlvm-01", "vm-sqlvm-02"), RunStatus.FAILED)
    ]
    assert not [r for r in groups["rg-web-prod"].runs if r.configuration == "mc-eus-sqlhosts-pt4"]
    # The others' machines are not known: every group of the targeted subscription shows them, flagged.
    web = [r for r in groups["rg-web-prod"].runs]
    assert web and all(r.inferred for r in web)
    assert all(GroupKey.of(vm_id("rg-web-prod", "x")).subscription_id == PROD.lower() for _ in web)
    # The overview has each run once.
    assert len(report.runs) == 6
    assert sum(1 for r in report.runs if not r.inferred) == 1


def test_a_recovery_whose_onset_was_not_seen_is_a_dip_with_an_unknown_start() -> None:
    recovered = [
        e
        for e in sample_events()
        if isinstance(e, HealthEvent)
        and e.resource_id.endswith("vm-web-01")
        and e.availability is Availability.AVAILABLE
    ]
    (dip,) = dips_of(fold_health(recovered))
    assert (dip.state, dip.start, dip.end) == (Availability.UNAVAILABLE, None, t("2026-10-17T00:47:12.4031156Z"))


def test_alerts_of_the_cycle_come_by_cycle_id_by_run_id_or_by_when_they_opened() -> None:
    vm = vm_id("rg-web-prod", "vm-web-01")
    alerts = [
        alert(AlertKind.MAINTENANCE_OVERRAN, vm, SQLHOSTS_RUN.upper(), "2026-10-18T07:00:00Z", "by run id"),
        alert(AlertKind.DEADLINE_MISSED, vm, "2026-10", "2026-11-12T17:15:00Z", "after the next release, still ours"),
        alert(AlertKind.PATCH_FAILED, vm, "2026-11", "2026-11-11T08:00:00Z", "November's"),
        alert(AlertKind.UNEXPECTED_REBOOT, vm, "something-else", "2026-10-20T08:00:00Z", "opened in the cycle"),
        alert(AlertKind.UNEXPECTED_REBOOT, vm, "something-other", "2026-09-20T08:00:00Z", "opened before it"),
    ]
    report = build_report(inputs(alerts=alerts, now=t("2026-11-13T00:00:00Z")))
    assert report.summary.alerts_by_kind == {
        "deadline-missed": {"open": 1, "resolved": 0},
        "maintenance-overran": {"open": 1, "resolved": 0},
        "unexpected-reboot": {"open": 1, "resolved": 0},
    }


def test_the_page_is_self_contained_and_well_formed() -> None:
    page = render_html(build_report(inputs()))

    class Refs(HTMLParser):
        found: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            for name, value in attrs:
                svg_namespace = name == "xmlns" and value == "http://www.w3.org/2000/svg"
                external = name in ("src", "href", "xlink:href", "srcset", "action") or (value or "").startswith("http")
                if external and not svg_namespace:
                    self.found.append(f"{tag} {name}={value}")
            if tag in ("script", "link", "iframe", "img", "object", "embed"):
                self.found.append(tag)

    refs = Refs()
    refs.feed(page)
    assert refs.found == []
    assert "@import" not in page and "url(http" not in page
    assert "<style>" in page and 'charset="utf-8"' in page
    svgs = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    assert len(svgs) >= 3  # the legend, the overview, a timeline per group
    for svg in svgs:
        ET.fromstring(svg)  # well-formed XML: every text and attribute was escaped
    assert "All times are <b>UTC</b>" in page
    assert "Patch Tuesday release <b>Tue 13 Oct 17:00 UTC</b>" in page
    assert "install deadline <b>Thu 12 Nov 17:00 UTC</b>" in page


def test_text_from_events_and_stores_is_escaped_everywhere() -> None:
    hostile = '"><script>alert(1)</script><svg onload=alert(2)>'
    evil_vm = vm_id("rg-web-prod", f"vm-{hostile}")
    vms = [VmResult(evil_vm, "failed", reason=f"error {hostile}")]
    alerts = [alert(AlertKind.PATCH_FAILED, evil_vm, "2026-10", "2026-10-14T08:00:00Z", f"failed: {hostile}")]
    data = inputs(vms=vms, alerts=alerts)
    run = replace(data.runs[0], configuration_id=data.runs[0].configuration_id + '-<i onmouseover="x">&amp;')
    report = build_report(replace(data, runs=[run, *data.runs[1:]]))
    page = render_html(report)

    assert "<script" not in page
    assert "onload=" not in page.replace("onload=alert(2)&gt;", "")
    assert "<i onmouseover" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "-&lt;i onmouseover=&quot;x&quot;&gt;&amp;amp;" in page
    for svg in re.findall(r"<svg .*?</svg>", page, flags=re.S):
        ET.fromstring(svg)


def test_a_cycle_with_nothing_recorded_still_renders_and_says_so() -> None:
    empty = build_report(replace(inputs(), runs=[], health=[], notices=[], vms=[], alerts=[]))
    assert empty.groups == ()
    page = render_html(empty)
    assert f"Nothing recorded for {empty.cycle.id}" in page
    assert "No maintenance run and no SQL maintenance notice recorded in this cycle." in page
    assert "Nothing needs attention" in page
    assert empty.cycle == CYCLE and empty.now == NOW


SQL_SUB = "d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52"
DB_ORDERS = f"/subscriptions/{SQL_SUB}/resourceGroups/rg-data-eus/providers/Microsoft.Sql/servers/sql-eus-01/databases/db-orders"
EASTUS_DB_1 = (
    f"/subscriptions/{SQL_SUB}/providers/Microsoft.Maintenance/publicMaintenanceConfigurations/SQL_EastUS_DB_1"
)


def _with_sql_lane() -> tuple[ReportInputs, ComplianceReport]:
    base = inputs()
    outside = alert(
        AlertKind.MAINTENANCE_OUTSIDE_WINDOW, DB_ORDERS, "2026-10", "2026-10-21T15:00:00Z", "outside the window"
    )
    sql = SqlResource(DB_ORDERS, "eastus", "database", EASTUS_DB_1)
    with_sql = replace(base, sql_resources=[sql], alerts=[*(base.alerts or ()), outside])
    return with_sql, build_report(with_sql)


def test_a_sql_lane_draws_its_own_weekday_windows_in_eastern_local_time() -> None:
    _, report = _with_sql_lane()
    (lane,) = [lane for g in report.groups for lane in g.lanes if lane.resource_id == DB_ORDERS]
    starts = [s for s, _ in lane.windows]
    assert starts, "no window drawn for the database"
    eastern = ZoneInfo("America/New_York")
    for start, end in lane.windows:
        local = start.astimezone(eastern)
        assert (local.hour, local.minute) == (22, 0)  # SQL_EastUS_DB_1: 22:00 local, starting Monday to Thursday
        assert local.weekday() in (0, 1, 2, 3)
        assert end.astimezone(eastern).hour == 6
    # Across the end of US daylight saving (1 Nov 2026) the same local hour is another UTC hour.
    assert {s.hour for s in starts} == {2, 3}


def test_run_windows_are_drawn_only_on_the_lanes_they_concern() -> None:
    _, report = _with_sql_lane()
    page = render_html(report)
    (group,) = [g for g in report.groups if g.resource_group == "rg-data-eus"]
    drawn = timeline_svg(group, report)
    assert 'class="pw-sql-window" data-lane="db-orders"' in drawn
    assert 'class="pw-band"' not in drawn  # no Update Manager run concerns a database
    assert 'class="pw-sql-window"' in page


def test_sql_resources_that_cannot_choose_a_window_and_those_that_could_are_listed() -> None:
    from shared.domain.report import SqlResource

    base = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.Sql/"
    chosen = "/subscriptions/x/providers/Microsoft.Maintenance/publicMaintenanceConfigurations/SQL_WestEurope_DB_1"
    sql = [
        SqlResource(base + "servers/s/databases/basic", "westeurope", "database", chosen, False, ("service objective Basic cannot choose a window",)),
        SqlResource(base + "servers/s/databases/lazy", "westeurope", "database", ""),
        SqlResource(base + "servers/s/databases/defaulted", "westeurope", "database", "SQL_Default"),
        SqlResource(base + "servers/s/databases/chosen", "westeurope", "database", chosen),
    ]  # fmt: skip
    report = build_report(replace(inputs(), sql_resources=sql))
    choice = report.to_json()["sql_window_choice"]
    assert choice["cannot_choose"] == [
        {"id": base + "servers/s/databases/basic", "reasons": ["service objective Basic cannot choose a window"]}
    ]
    assert choice["could_choose"] == [base + "servers/s/databases/defaulted", base + "servers/s/databases/lazy"]
    assert "Could choose a window but still on the default policy (SQL_Default): defaulted, lazy." in report.notes
    assert any(n.startswith("Cannot choose a window, judged against SQL_Default only: basic") for n in report.notes)
