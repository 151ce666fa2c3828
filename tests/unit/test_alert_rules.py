"""Alert rules: each fires in the case it exists for and stays silent in the neighbouring
case that must not alert. Pure: no storage, no clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.alerts import (
    AlertKind,
    AlertPolicy,
    Facts,
    HealthFact,
    Heartbeats,
    ResourceWindow,
    RunFacts,
    SqlNoticeFacts,
    VmCycleFacts,
    WatchedConfiguration,
    evaluate,
    mentions_reboot,
)
from shared.domain.calendar import CalendarPolicy, YearMonth
from shared.domain.schedule import MaintenanceSchedule
from shared.domain.sql_catalog import catalog_schedule

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app"
CFG = f"{RG}/providers/Microsoft.Maintenance/maintenanceConfigurations/weekly-saturday"
VM1 = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm-web-01"
VM2 = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm-web-02"
DB_WEEKDAY = f"{RG}/providers/Microsoft.Sql/servers/sql1/databases/orders"
DB_WEEKEND = f"{RG}/providers/Microsoft.Sql/servers/sql1/databases/reports"
# Saturday 02:00 Amsterdam time, 3 h 55 min.
SATURDAY = MaintenanceSchedule.from_config("Week Saturday", "2026-01-03 02:00", "03:55", "W. Europe Standard Time")
POLICY = AlertPolicy()


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def run(start: str, end: str, pre: str | None, post: str | None = None, status: str | None = None, **kw) -> RunFacts:
    stamp = t(start).strftime("%Y%m%d%H%M%S")
    return RunFacts(
        run_id=f"{CFG}/providers/microsoft.maintenance/applyupdates/{stamp}",
        configuration_id=CFG,
        start_utc=t(start),
        end_utc=t(end),
        pre_at=t(pre) if pre else None,
        post_at=t(post) if post else None,
        post_status=status,
        **kw,
    )


def verdicts(facts: Facts, now: str, kind: AlertKind, policy: AlertPolicy = POLICY) -> dict[str, bool]:
    """{resource|cycle_or_run: firing} of one kind."""
    return {f"{v.key.resource_id}|{v.key.cycle_or_run}": v.firing for v in evaluate(facts, policy, t(now), [kind])}


def firing(facts: Facts, now: str, kind: AlertKind, policy: AlertPolicy = POLICY) -> list[str]:
    return sorted(k for k, f in verdicts(facts, now, kind, policy).items() if f)


# Saturday 18 April 2026, 02:00-05:55 CEST = 00:00-03:55 UTC.
APRIL_RUN = ("2026-04-18T00:00:00Z", "2026-04-18T03:55:00Z", "2026-04-17T23:25:00Z")


# -- patch-failed -----------------------------------------------------------------------


def test_patch_failed_on_a_post_event_that_is_not_success() -> None:
    facts = Facts(runs=(run(*APRIL_RUN, post="2026-04-18T01:10:00Z", status="Failed"),))
    v = evaluate(facts, POLICY, t("2026-04-18T01:11:00Z"), [AlertKind.PATCH_FAILED])
    assert [x.firing for x in v] == [True]
    assert "'Failed'" in v[0].message and v[0].key.resource_id == CFG
    assert v[0].details["status"] == "Failed"


RUN_KINDS = [
    AlertKind.PATCH_FAILED,
    AlertKind.MAINTENANCE_CANCELLED,
    AlertKind.MAINTENANCE_OUTCOME_UNKNOWN,
    AlertKind.MAINTENANCE_OVERRAN,
]


def run_alerts(r: RunFacts, now: str) -> set[str]:
    """The run alert kinds firing at ``now``."""
    return {v.key.kind.value for v in evaluate(Facts(runs=(r,)), POLICY, t(now), RUN_KINDS) if v.firing}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # every value of UpdateStatus (Maintenance models.tsp), the docs' "Succeeded", other spellings
        ("Succeeded", set()),
        ("Completed", set()),
        ("NoUpdatesPending", set()),
        ("Pending", set()),
        ("InProgress", set()),
        ("RetryNow", set()),
        ("RetryLater", set()),
        ("Failed", {"patch-failed"}),
        ("RetryFailed", {"patch-failed"}),
        ("TimedOut", {"patch-failed"}),
        ("Cancel", {"maintenance-cancelled"}),
        ("Cancelled", {"maintenance-cancelled"}),
        ("Canceled", {"maintenance-cancelled"}),
        ("cancelled", {"maintenance-cancelled"}),
        ("PartialSuccess", {"maintenance-outcome-unknown"}),
    ],
)
def test_each_post_status_raises_what_it_means(status: str, expected: set[str]) -> None:
    r = run(*APRIL_RUN, post="2026-04-18T01:10:00Z", status=status)
    assert run_alerts(r, "2026-04-18T06:00:00Z") == expected  # well past the window's end and grace
    severities = {v.severity.value for v in evaluate(Facts(runs=(r,)), POLICY, t("2026-04-18T06:00:00Z")) if v.firing}
    assert severities <= ({"error"} if "patch-failed" in expected else {"warning"})


def test_an_unknown_status_is_quoted_verbatim() -> None:
    facts = Facts(runs=(run(*APRIL_RUN, post="2026-04-18T01:10:00Z", status="PartialSuccess"),))
    (v,) = evaluate(facts, POLICY, t("2026-04-18T02:00:00Z"), [AlertKind.MAINTENANCE_OUTCOME_UNKNOWN])
    assert v.firing and "'PartialSuccess'" in v.message and v.severity.value == "warning"


def test_a_run_the_gate_cancelled_raises_nothing_with_or_without_a_post_event() -> None:
    gated_post = run(*APRIL_RUN, post="2026-04-18T00:05:00Z", status="Cancelled", gate_cancelled=True)
    assert run_alerts(gated_post, "2026-04-18T06:00:00Z") == set()
    gated_silent = run(*APRIL_RUN, gate_cancelled=True)  # no post event ever came
    assert run_alerts(gated_silent, "2026-04-18T06:00:00Z") == set()
    assert verdicts(Facts(runs=(gated_silent,)), "2026-04-18T06:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == {
        f"{CFG}|{gated_silent.run_id}": False
    }
    # the same silence without the gate's record is an overrun
    assert run_alerts(run(*APRIL_RUN), "2026-04-18T06:00:00Z") == {"maintenance-overran"}


def test_a_run_whose_scope_matched_no_machine_never_overruns() -> None:
    empty = run(*APRIL_RUN, subscriptions=())
    assert run_alerts(empty, "2026-04-18T06:00:00Z") == set()
    unknown_scope = run(*APRIL_RUN, subscriptions=None)
    assert run_alerts(unknown_scope, "2026-04-18T06:00:00Z") == {"maintenance-overran"}


def test_succeeded_post_is_clear_and_a_future_post_is_not_seen_yet() -> None:
    ok = Facts(runs=(run(*APRIL_RUN, post="2026-04-18T01:10:00Z", status="Succeeded"),))
    assert list(verdicts(ok, "2026-04-18T02:00:00Z", AlertKind.PATCH_FAILED).values()) == [False]
    failed = Facts(runs=(run(*APRIL_RUN, post="2026-04-18T01:10:00Z", status="Failed"),))
    assert verdicts(failed, "2026-04-18T01:00:00Z", AlertKind.PATCH_FAILED) == {}


def test_vm_assessment_failure_fires_until_a_later_success() -> None:
    failed = VmCycleFacts(VM1, "2026-04", status="failed", status_at=t("2026-04-15T08:00:00Z"), reason="VMAgentDown")
    assert firing(Facts(vms=(failed,)), "2026-04-15T09:00:00Z", AlertKind.PATCH_FAILED) == [f"{VM1}|2026-04"]
    recovered = VmCycleFacts(
        VM1,
        "2026-04",
        status="succeeded",
        status_at=t("2026-04-18T08:00:00Z"),
        assessed_ok_at=t("2026-04-18T08:00:00Z"),
        install_failed_at=None,
    )
    assert verdicts(Facts(vms=(recovered,)), "2026-04-18T09:00:00Z", AlertKind.PATCH_FAILED) == {
        f"{VM1}|2026-04": False
    }


def test_recorded_patch_failed_finding_fires() -> None:
    vm = VmCycleFacts(
        VM1,
        "2026-04",
        status="succeeded",
        status_at=t("2026-04-15T08:00:00Z"),
        findings={"patch-failed": (t("2026-04-16T08:00:00Z"), "installation of vm-web-01 failed: KB5031234")},
    )
    (v,) = evaluate(Facts(vms=(vm,)), POLICY, t("2026-04-16T09:00:00Z"), [AlertKind.PATCH_FAILED])
    assert v.firing and "KB5031234" in v.message


# -- vm-not-assessable ------------------------------------------------------------------


def test_not_assessable_fires_only_once_the_whole_cycle_passed() -> None:
    vm = VmCycleFacts(
        VM1, "2026-04", status="not-assessable", status_at=t("2026-04-15T00:00:00Z"), reason="deallocated"
    )
    # April's cycle ends at May's release, 12 May 2026 17:00 UTC.
    assert verdicts(Facts(vms=(vm,)), "2026-05-12T16:59:00Z", AlertKind.VM_NOT_ASSESSABLE) == {}
    assert firing(Facts(vms=(vm,)), "2026-05-12T17:00:00Z", AlertKind.VM_NOT_ASSESSABLE) == [f"{VM1}|2026-04"]


def test_not_assessable_then_assessed_is_clear() -> None:
    vm = VmCycleFacts(
        VM1,
        "2026-04",
        status="succeeded",
        status_at=t("2026-04-20T00:00:00Z"),
        assessed_ok_at=t("2026-04-20T00:00:00Z"),
    )
    assert verdicts(Facts(vms=(vm,)), "2026-05-13T00:00:00Z", AlertKind.VM_NOT_ASSESSABLE) == {f"{VM1}|2026-04": False}


# -- maintenance-overran ----------------------------------------------------------------


def test_overran_when_no_post_event_by_end_plus_grace() -> None:
    facts = Facts(runs=(run(*APRIL_RUN),))
    # end 03:55 + 60 min grace = 04:55
    assert verdicts(facts, "2026-04-18T04:54:59Z", AlertKind.MAINTENANCE_OVERRAN) == {}
    (v,) = evaluate(facts, POLICY, t("2026-04-18T04:55:00Z"), [AlertKind.MAINTENANCE_OVERRAN])
    assert v.firing and v.since == t("2026-04-18T04:55:00Z")


def test_post_event_one_minute_before_the_grace_ends_does_not_alert() -> None:
    facts = Facts(runs=(run(*APRIL_RUN, post="2026-04-18T04:54:00Z", status="Succeeded"),))
    assert firing(facts, "2026-04-18T05:30:00Z", AlertKind.MAINTENANCE_OVERRAN) == []
    assert firing(facts, "2026-04-18T04:53:00Z", AlertKind.MAINTENANCE_OVERRAN) == []


def test_late_post_event_clears_an_overrun() -> None:
    facts = Facts(runs=(run(*APRIL_RUN, post="2026-04-18T06:00:00Z", status="Succeeded"),))
    assert firing(facts, "2026-04-18T05:30:00Z", AlertKind.MAINTENANCE_OVERRAN) != []
    assert list(verdicts(facts, "2026-04-18T06:01:00Z", AlertKind.MAINTENANCE_OVERRAN).values()) == [False]


def test_run_without_pre_event_is_not_judged_as_overran() -> None:
    facts = Facts(runs=(run(APRIL_RUN[0], APRIL_RUN[1], None),))
    assert verdicts(facts, "2026-04-19T00:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == {}


EAST_US_WEEKDAY = catalog_schedule("SQL_EastUS_DB_1")
EAST_US_WEEKEND = catalog_schedule("SQL_EastUS_DB_2")
SQL_WINDOWS = {
    DB_WEEKDAY.lower(): ResourceWindow(DB_WEEKDAY, "SQL_EastUS_DB_1", EAST_US_WEEKDAY),
    DB_WEEKEND.lower(): ResourceWindow(DB_WEEKEND, "SQL_EastUS_DB_2", EAST_US_WEEKEND),
}


def notice(stages: dict[str, str], start: str, end: str | None = None, resources=(DB_WEEKDAY, DB_WEEKEND)):
    return SqlNoticeFacts(
        tracking_id="TRK-1",
        resource_ids=tuple(resources),
        stages={k: t(v) for k, v in stages.items()},
        impact_start=t(start),
        impact_end=t(end) if end else None,
        subscriptions=(SUB,),
    )


def test_sql_notice_overran_after_the_chain_of_weekday_windows() -> None:
    # Monday 20 April 2026 22:30 EDT = 21 April 02:30 UTC; the weekday chain runs Mon-Thu nights,
    # ending Friday 24 April 06:00 EDT = 10:00 UTC; + 60 min grace = 11:00 UTC.
    n = notice({"Planned": "2026-04-19T12:00:00Z", "InProgress": "2026-04-21T02:31:00Z"}, "2026-04-21T02:30:00Z")
    facts = Facts(notices=(n,), sql_windows=SQL_WINDOWS)
    assert firing(facts, "2026-04-23T12:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == []  # Thursday: still within
    assert firing(facts, "2026-04-24T10:59:00Z", AlertKind.MAINTENANCE_OVERRAN) == []
    assert firing(facts, "2026-04-24T11:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == [f"{DB_WEEKDAY}|TRK-1"]


def test_sql_notice_complete_within_the_chain_is_silent() -> None:
    n = notice(
        {"Planned": "2026-04-19T12:00:00Z", "InProgress": "2026-04-21T02:31:00Z", "Complete": "2026-04-23T09:00:00Z"},
        "2026-04-21T02:30:00Z",
    )
    facts = Facts(notices=(n,), sql_windows=SQL_WINDOWS)
    assert firing(facts, "2026-04-30T00:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == []
    assert verdicts(facts, "2026-04-30T00:00:00Z", AlertKind.MAINTENANCE_OVERRAN)[f"{DB_WEEKDAY}|TRK-1"] is False


def test_sql_dst_night_window_lasts_nine_hours_and_does_not_overrun() -> None:
    # US fall-back: Sunday 1 November 2026. The weekend chain Fri 30 Oct 22:00 EDT .. Mon 2 Nov
    # 06:00 EST ends at 11:00 UTC (not 10:00, as a fixed offset would say). Complete 11:30 UTC.
    n = notice(
        {"InProgress": "2026-10-31T02:05:00Z", "Complete": "2026-11-02T11:30:00Z"},
        "2026-10-31T02:05:00Z",
        resources=(DB_WEEKEND,),
    )
    facts = Facts(notices=(n,), sql_windows=SQL_WINDOWS)
    assert firing(facts, "2026-11-02T11:29:00Z", AlertKind.MAINTENANCE_OVERRAN) == []
    assert firing(facts, "2026-11-02T12:30:00Z", AlertKind.MAINTENANCE_OVERRAN) == []


def test_sql_notice_without_known_windows_uses_its_planned_impact_per_subscription() -> None:
    n = notice({"InProgress": "2026-04-21T02:31:00Z"}, "2026-04-21T02:30:00Z", "2026-04-21T10:00:00Z", resources=())
    facts = Facts(notices=(n,))
    assert firing(facts, "2026-04-21T10:59:00Z", AlertKind.MAINTENANCE_OVERRAN) == []
    assert firing(facts, "2026-04-21T11:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == [f"/subscriptions/{SUB}|TRK-1"]


def test_cancelled_sql_notice_never_overruns() -> None:
    n = notice({"Planned": "2026-04-19T12:00:00Z", "Canceled": "2026-04-20T12:00:00Z"}, "2026-04-21T02:30:00Z")
    facts = Facts(notices=(n,), sql_windows=SQL_WINDOWS)
    for kind in (AlertKind.MAINTENANCE_OVERRAN, AlertKind.MAINTENANCE_UNCONFIRMED):
        assert firing(facts, "2026-05-01T00:00:00Z", kind) == []


@pytest.mark.parametrize("stage", ["Canceled", "Rescheduled"])
def test_a_notice_withdrawn_after_its_window_passed_clears_the_overrun(stage: str) -> None:
    """The issue's stuck alert: overran opened at Friday 11:00, then the notice is withdrawn."""
    stages = {"Planned": "2026-04-19T12:00:00Z", "InProgress": "2026-04-21T02:31:00Z"}
    opened = Facts(notices=(notice(stages, "2026-04-21T02:30:00Z"),), sql_windows=SQL_WINDOWS)
    assert firing(opened, "2026-04-24T12:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == [f"{DB_WEEKDAY}|TRK-1"]
    later = Facts(
        notices=(notice({**stages, stage: "2026-04-24T13:00:00Z"}, "2026-04-21T02:30:00Z"),), sql_windows=SQL_WINDOWS
    )
    assert verdicts(later, "2026-04-24T14:00:00Z", AlertKind.MAINTENANCE_OVERRAN)[f"{DB_WEEKDAY}|TRK-1"] is False


def test_a_planned_notice_alone_is_not_confirmed_started_and_never_an_overrun() -> None:
    n = notice({"Planned": "2026-04-19T12:00:00Z"}, "2026-04-21T02:30:00Z")
    facts = Facts(notices=(n,), sql_windows=SQL_WINDOWS)
    assert firing(facts, "2026-04-30T00:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == []
    assert firing(facts, "2026-04-24T10:59:00Z", AlertKind.MAINTENANCE_UNCONFIRMED) == []  # chain not over yet
    (v,) = [
        v for v in evaluate(facts, POLICY, t("2026-04-24T11:00:00Z"), [AlertKind.MAINTENANCE_UNCONFIRMED]) if v.firing
    ]
    assert v.key.resource_id == DB_WEEKDAY and v.severity.value == "warning"
    assert "not confirmed started" in v.message and "began" not in v.message
    # a Complete that comes days late settles it
    done = notice({"Planned": "2026-04-19T12:00:00Z", "Complete": "2026-04-27T09:00:00Z"}, "2026-04-21T02:30:00Z")
    assert (
        firing(
            Facts(notices=(done,), sql_windows=SQL_WINDOWS), "2026-04-27T10:00:00Z", AlertKind.MAINTENANCE_UNCONFIRMED
        )
        == []
    )


def test_a_managed_instance_weekend_chain_continues_in_next_weeks_windows() -> None:
    """Windows Fri-Sun 22:00-06:00: maintenance begun on Sunday night may continue on the next
    Friday, five days on (it may span adjacent windows), so no overrun before then."""
    mi = f"{RG}/providers/Microsoft.Sql/managedInstances/mi-east"
    windows = {mi.lower(): ResourceWindow(mi, "SQL_EastUS_MI_2", EAST_US_WEEKEND)}
    # Sunday 26 April 2026 22:30 EDT = Monday 27 April 02:30 UTC
    n = notice({"InProgress": "2026-04-27T02:31:00Z"}, "2026-04-27T02:30:00Z", resources=(mi,))
    facts = Facts(notices=(n,), sql_windows=windows)
    assert firing(facts, "2026-04-28T12:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == []  # Tuesday: the gap
    # the chain: Sun 26, Fri 1 May, Sat 2, Sun 3 May; the last ends Mon 4 May 06:00 EDT = 10:00 UTC
    assert firing(facts, "2026-05-04T10:59:00Z", AlertKind.MAINTENANCE_OVERRAN) == []
    assert firing(facts, "2026-05-04T11:00:00Z", AlertKind.MAINTENANCE_OVERRAN) == [f"{mi}|TRK-1"]


# -- maintenance-outside-window ---------------------------------------------------------


def test_update_manager_run_starting_outside_its_window() -> None:
    late = run("2026-04-18T06:30:00Z", "2026-04-18T10:25:00Z", "2026-04-18T05:55:00Z")
    facts = Facts(runs=(late,), configurations={CFG.lower(): SATURDAY})
    (v,) = evaluate(facts, POLICY, t("2026-04-18T07:00:00Z"), [AlertKind.MAINTENANCE_OUTSIDE_WINDOW])
    assert v.firing
    assert "08:30 CEST" in v.message  # judged and shown in the configuration's local time


def test_run_at_its_window_start_is_inside_and_unknown_configuration_is_not_judged() -> None:
    facts = Facts(runs=(run(*APRIL_RUN),), configurations={CFG.lower(): SATURDAY})
    assert list(verdicts(facts, "2026-04-18T01:00:00Z", AlertKind.MAINTENANCE_OUTSIDE_WINDOW).values()) == [False]
    assert verdicts(Facts(runs=(run(*APRIL_RUN),)), "2026-04-18T01:00:00Z", AlertKind.MAINTENANCE_OUTSIDE_WINDOW) == {}


def test_sql_maintenance_starting_outside_every_candidate_window() -> None:
    # Tuesday 21 April 2026 15:00 EDT: no weekday or weekend window is open.
    n = notice({"InProgress": "2026-04-21T19:00:00Z"}, "2026-04-21T19:00:00Z")
    facts = Facts(notices=(n,), sql_windows=SQL_WINDOWS)
    got = firing(facts, "2026-04-21T19:05:00Z", AlertKind.MAINTENANCE_OUTSIDE_WINDOW)
    assert got == sorted([f"{DB_WEEKDAY}|TRK-1", f"{DB_WEEKEND}|TRK-1"])
    (v, _) = [
        v
        for v in evaluate(facts, POLICY, t("2026-04-21T19:05:00Z"), [AlertKind.MAINTENANCE_OUTSIDE_WINDOW])
        if v.firing
    ]
    assert "15:00 EDT" in v.message


def test_sql_notice_inside_one_candidates_window_is_attributed_to_it() -> None:
    # Tuesday 22:30 EDT: inside the weekday window; the weekend database is not blamed.
    n = notice({"InProgress": "2026-04-22T02:30:00Z"}, "2026-04-22T02:30:00Z")
    facts = Facts(notices=(n,), sql_windows=SQL_WINDOWS)
    assert firing(facts, "2026-04-22T03:00:00Z", AlertKind.MAINTENANCE_OUTSIDE_WINDOW) == []
    assert verdicts(facts, "2026-04-22T03:00:00Z", AlertKind.MAINTENANCE_OUTSIDE_WINDOW)[f"{DB_WEEKDAY}|TRK-1"] is False


def test_sql_dst_night_start_inside_the_nine_hour_window_is_not_outside() -> None:
    # Sunday 1 Nov 2026 05:30 EST = 10:30 UTC: inside Saturday's 22:00 EDT - 06:00 EST window.
    n = notice({"InProgress": "2026-11-01T10:30:00Z"}, "2026-11-01T10:30:00Z", resources=(DB_WEEKEND,))
    facts = Facts(notices=(n,), sql_windows=SQL_WINDOWS)
    assert firing(facts, "2026-11-01T11:00:00Z", AlertKind.MAINTENANCE_OUTSIDE_WINDOW) == []
    assert verdicts(facts, "2026-11-01T11:00:00Z", AlertKind.MAINTENANCE_OUTSIDE_WINDOW)[f"{DB_WEEKEND}|TRK-1"] is False


# -- maintenance-window-missed ----------------------------------------------------------

WATCHED = WatchedConfiguration(CFG, SATURDAY, watched_since=t("2026-04-05T00:00:00Z"))


def test_watched_window_without_any_event_is_missed() -> None:
    facts = Facts(watched=(WATCHED,))
    # Saturday 11 April window 00:00-03:55 UTC (+60 min) and 18 April's.
    assert firing(facts, "2026-04-11T04:54:00Z", AlertKind.MAINTENANCE_WINDOW_MISSED) == []
    assert firing(facts, "2026-04-11T04:55:00Z", AlertKind.MAINTENANCE_WINDOW_MISSED) == [f"{CFG}|2026-04-11T00:00:00Z"]
    assert len(firing(facts, "2026-04-19T00:00:00Z", AlertKind.MAINTENANCE_WINDOW_MISSED)) == 2


def test_window_with_a_run_is_not_missed_and_windows_before_watching_are_not_judged() -> None:
    facts = Facts(watched=(WatchedConfiguration(CFG, SATURDAY, t("2026-04-15T00:00:00Z")),), runs=(run(*APRIL_RUN),))
    assert verdicts(facts, "2026-04-19T00:00:00Z", AlertKind.MAINTENANCE_WINDOW_MISSED) == {
        f"{CFG}|2026-04-18T00:00:00Z": False
    }


def test_configuration_without_event_subscription_is_not_watched() -> None:
    facts = Facts(configurations={CFG.lower(): SATURDAY})  # known, but not watched
    assert verdicts(facts, "2026-04-19T00:00:00Z", AlertKind.MAINTENANCE_WINDOW_MISSED) == {}


def test_dst_night_window_is_not_missed_when_its_run_came() -> None:
    # Daily 02:30 Amsterdam: on 29 March 2026 02:30 does not exist; the window opens 03:30 CEST = 01:30 UTC.
    daily = MaintenanceSchedule.from_config("Day", "2026-03-01 02:30", "02:00", "W. Europe Standard Time")
    cfg = WatchedConfiguration(CFG, daily, t("2026-03-28T12:00:00Z"))
    dst_run = run(
        "2026-03-29T01:30:00Z", "2026-03-29T03:30:00Z", "2026-03-29T00:55:00Z", "2026-03-29T02:10:00Z", "Succeeded"
    )
    facts = Facts(watched=(cfg,), runs=(dst_run,), configurations={CFG.lower(): daily})
    assert firing(facts, "2026-03-29T12:00:00Z", AlertKind.MAINTENANCE_WINDOW_MISSED) == []
    assert firing(facts, "2026-03-29T12:00:00Z", AlertKind.MAINTENANCE_OUTSIDE_WINDOW) == []


# -- deadline-missed, baseline-missed, unplanned-baseline-suspected ----------------------


def assessed(vm: str, cycle: str, at: str, *, hotpatch: bool = True, pending: int = 0, reboot: int = 0, **kw):
    return VmCycleFacts(
        vm,
        cycle,
        hotpatch=hotpatch,
        status="succeeded",
        status_at=t(at),
        assessed_ok_at=t(at),
        critical_security_pending=pending,
        reboot_security_pending=reboot,
        **kw,
    )


def test_deadline_missed_only_after_the_deadline_and_with_patches_pending() -> None:
    # May 2026: release 12 May 17:00 UTC, deadline 30 x 24 h later: 11 June 17:00 UTC.
    vm = assessed(VM1, "2026-05", "2026-06-11T18:00:00Z", pending=2)
    assert firing(Facts(vms=(vm,)), "2026-06-11T16:59:00Z", AlertKind.DEADLINE_MISSED) == []
    assert firing(Facts(vms=(vm,)), "2026-06-11T18:30:00Z", AlertKind.DEADLINE_MISSED) == [f"{VM1}|2026-05"]
    # an assessment from before the deadline does not show what is still pending after it
    early = assessed(VM1, "2026-05", "2026-05-20T08:00:00Z", pending=2)
    assert verdicts(Facts(vms=(early,)), "2026-06-11T18:30:00Z", AlertKind.DEADLINE_MISSED) == {}
    done = assessed(VM1, "2026-05", "2026-06-12T18:00:00Z", pending=0)
    assert verdicts(Facts(vms=(done,)), "2026-06-12T18:30:00Z", AlertKind.DEADLINE_MISSED) == {f"{VM1}|2026-05": False}


def test_baseline_missed_by_a_hotpatch_vm_in_a_baseline_month() -> None:
    # April is a planned baseline: deadline 14 May 2026 17:00 UTC.
    vm = assessed(VM1, "2026-04", "2026-05-14T18:00:00Z", reboot=1, pending=1)
    assert firing(Facts(vms=(vm,)), "2026-05-14T18:30:00Z", AlertKind.BASELINE_MISSED) == [f"{VM1}|2026-04"]
    assert firing(Facts(vms=(vm,)), "2026-05-14T16:00:00Z", AlertKind.BASELINE_MISSED) == []
    not_hotpatch = assessed(VM1, "2026-04", "2026-05-14T18:00:00Z", hotpatch=False, reboot=1, pending=1)
    assert verdicts(Facts(vms=(not_hotpatch,)), "2026-05-14T18:30:00Z", AlertKind.BASELINE_MISSED) == {}


def test_baseline_missed_finding_from_the_cycle_fires_in_a_hotpatch_month() -> None:
    vm = assessed(
        VM1,
        "2026-05",
        "2026-05-13T08:00:00Z",
        findings={"baseline-missed": (t("2026-05-13T08:00:00Z"), "KB5055523 from April still pending")},
    )
    (v,) = evaluate(Facts(vms=(vm,)), POLICY, t("2026-05-13T09:00:00Z"), [AlertKind.BASELINE_MISSED])
    assert v.firing and "KB5055523" in v.message


def test_unplanned_baseline_suspected_once_per_subscription_and_cycle() -> None:
    vms = (
        assessed(VM1, "2026-05", "2026-05-13T08:00:00Z", reboot=1),
        assessed(VM2, "2026-05", "2026-05-13T09:00:00Z", reboot=2),
    )
    got = evaluate(Facts(vms=vms), POLICY, t("2026-05-13T10:00:00Z"), [AlertKind.UNPLANNED_BASELINE_SUSPECTED])
    assert [(v.key.resource_id, v.key.cycle_or_run, v.firing) for v in got] == [
        (f"/subscriptions/{SUB}", "2026-05", True)
    ]
    assert "vm-web-01, vm-web-02" in got[0].message


def test_unplanned_baseline_declared_in_configuration_is_expected_not_suspected() -> None:
    vms = (assessed(VM1, "2026-05", "2026-05-13T08:00:00Z", reboot=1),)
    policy = AlertPolicy(calendar=CalendarPolicy(unplanned_baselines=frozenset({YearMonth(2026, 5)})))
    assert firing(Facts(vms=vms), "2026-05-13T10:00:00Z", AlertKind.UNPLANNED_BASELINE_SUSPECTED, policy) == []
    # and in a planned baseline month a reboot-requiring patch is the baseline itself
    april = (assessed(VM1, "2026-04", "2026-04-15T08:00:00Z", reboot=1),)
    assert firing(Facts(vms=april), "2026-04-15T10:00:00Z", AlertKind.UNPLANNED_BASELINE_SUSPECTED) == []


# -- unhealthy-after-maintenance --------------------------------------------------------


def vm_run(post: str = "2026-04-18T01:30:00Z") -> RunFacts:
    return run(*APRIL_RUN, post=post, status="Succeeded", resource_ids=(VM1,))


def health(state: str, at: str, resource: str = VM1, **kw) -> HealthFact:
    return HealthFact(resource, t(at), state, **kw)


def test_unhealthy_after_maintenance_not_recovered_within_the_grace() -> None:
    facts = Facts(runs=(vm_run(),), health=(health("Unavailable", "2026-04-18T00:40:00Z"),))
    # run finished 01:30 (post) + 30 min health grace = 02:00
    assert firing(facts, "2026-04-18T01:59:00Z", AlertKind.UNHEALTHY_AFTER_MAINTENANCE) == []
    (v,) = evaluate(facts, POLICY, t("2026-04-18T02:00:00Z"), [AlertKind.UNHEALTHY_AFTER_MAINTENANCE])
    assert v.firing and "Unavailable" in v.message and v.key.resource_id == VM1


def test_recovered_one_minute_before_the_health_grace_ends_is_healthy() -> None:
    facts = Facts(
        runs=(vm_run(),),
        health=(health("Unavailable", "2026-04-18T00:40:00Z"), health("Available", "2026-04-18T01:59:00Z")),
    )
    assert list(verdicts(facts, "2026-04-18T03:00:00Z", AlertKind.UNHEALTHY_AFTER_MAINTENANCE).values()) == [False]


def test_degraded_after_maintenance_counts_and_unrelated_old_outage_does_not() -> None:
    degraded = Facts(runs=(vm_run(),), health=(health("Degraded", "2026-04-18T02:10:00Z"),))
    assert firing(degraded, "2026-04-18T02:40:00Z", AlertKind.UNHEALTHY_AFTER_MAINTENANCE) != []
    before = Facts(runs=(vm_run(),), health=(health("Unavailable", "2026-04-10T00:00:00Z"),))
    assert firing(before, "2026-04-18T03:00:00Z", AlertKind.UNHEALTHY_AFTER_MAINTENANCE) == []


def test_no_heartbeat_after_maintenance_from_a_vm_that_sent_them_before() -> None:
    beats = Heartbeats(
        first={VM1.lower(): t("2026-04-17T12:00:00Z")},
        last={VM1.lower(): t("2026-04-18T00:05:00Z")},
        queried=frozenset({VM1.lower()}),
    )
    facts = Facts(runs=(vm_run(),), heartbeats=beats)
    (v,) = evaluate(facts, POLICY, t("2026-04-18T03:00:00Z"), [AlertKind.UNHEALTHY_AFTER_MAINTENANCE])
    assert v.firing and "no heartbeat" in v.message


def test_partial_heartbeat_answer_is_not_evidence_of_absence() -> None:
    partial = Heartbeats(first={}, last={}, complete=False, queried=frozenset({VM1.lower()}))
    facts = Facts(runs=(vm_run(),), heartbeats=partial)
    assert verdicts(facts, "2026-04-18T03:00:00Z", AlertKind.UNHEALTHY_AFTER_MAINTENANCE) == {}
    back = Heartbeats(
        first={VM1.lower(): t("2026-04-17T12:00:00Z")},
        last={VM1.lower(): t("2026-04-18T02:50:00Z")},
        complete=False,
        queried=frozenset({VM1.lower()}),
    )
    facts = Facts(runs=(vm_run(),), heartbeats=back)
    assert list(verdicts(facts, "2026-04-18T03:00:00Z", AlertKind.UNHEALTHY_AFTER_MAINTENANCE).values()) == [False]


def test_vm_that_never_sent_heartbeats_is_not_expected_to() -> None:
    none = Heartbeats(queried=frozenset({VM1.lower()}))
    assert (
        verdicts(
            Facts(runs=(vm_run(),), heartbeats=none), "2026-04-18T03:00:00Z", AlertKind.UNHEALTHY_AFTER_MAINTENANCE
        )
        == {}
    )


# -- unexpected-reboot ------------------------------------------------------------------


def reboot(at: str, resource: str = VM1) -> HealthFact:
    return HealthFact(resource, t(at), "", reboot=True, reason="VirtualMachineRestarted")


HOTPATCH_VM = (assessed(VM1, "2026-05", "2026-05-13T08:00:00Z"),)


def test_hotpatch_vm_restarting_outside_its_windows_in_a_hotpatch_month() -> None:
    # Wednesday 20 May 2026 (May is a hotpatch month), no window open.
    facts = Facts(vms=HOTPATCH_VM, health=(reboot("2026-05-20T14:00:00Z"),), vm_schedules={VM1.lower(): (SATURDAY,)})
    (v,) = evaluate(facts, POLICY, t("2026-05-20T15:00:00Z"), [AlertKind.UNEXPECTED_REBOOT])
    assert v.firing and v.key.cycle_or_run == "2026-05" and "2026-05-20T14:00:00Z" in v.message


def test_reboot_inside_the_window_is_expected() -> None:
    # Saturday 23 May 2026 02:30 CEST = 00:30 UTC, inside the Saturday window.
    facts = Facts(vms=HOTPATCH_VM, health=(reboot("2026-05-23T00:30:00Z"),), vm_schedules={VM1.lower(): (SATURDAY,)})
    assert verdicts(facts, "2026-05-23T06:00:00Z", AlertKind.UNEXPECTED_REBOOT) == {f"{VM1}|2026-05": False}


def test_reboot_during_a_run_the_vm_took_part_in_is_expected() -> None:
    r = run("2026-05-20T13:30:00Z", "2026-05-20T15:00:00Z", "2026-05-20T13:00:00Z", resource_ids=(VM1,))
    facts = Facts(vms=HOTPATCH_VM, health=(reboot("2026-05-20T14:00:00Z"),), runs=(r,))
    assert verdicts(facts, "2026-05-20T15:00:00Z", AlertKind.UNEXPECTED_REBOOT) == {f"{VM1}|2026-05": False}


def test_baseline_month_reboot_is_expected() -> None:
    # 20 April 2026 lies in April's cycle (planned baseline).
    vms = (assessed(VM1, "2026-04", "2026-04-15T08:00:00Z"),)
    facts = Facts(vms=vms, health=(reboot("2026-04-20T14:00:00Z"),))
    assert verdicts(facts, "2026-04-20T15:00:00Z", AlertKind.UNEXPECTED_REBOOT) == {}


def test_reboot_of_a_vm_not_enrolled_in_hotpatch_is_not_judged() -> None:
    vms = (assessed(VM1, "2026-05", "2026-05-13T08:00:00Z", hotpatch=False),)
    facts = Facts(vms=vms, health=(reboot("2026-05-20T14:00:00Z"),))
    assert verdicts(facts, "2026-05-20T15:00:00Z", AlertKind.UNEXPECTED_REBOOT) == {}


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("VirtualMachineRestarted",), True),
        (("Rebooted by user",), True),
        (("VirtualMachineStorageOffline", None), False),
    ],
)
def test_reboot_is_recognised_from_resource_health_wording(texts: tuple, expected: bool) -> None:
    assert mentions_reboot(*texts) is expected
