"""Alerting end to end: published events (varied) recorded on Azurite, the watchdog and the
event path evaluating the rules, alerts published as CloudEvents to a loopback Event Grid
topic - each kind once, under duplicated and reordered deliveries and concurrent watchdog
runs, resolved when its condition clears, silent in the neighbouring case."""

from __future__ import annotations

import random

import pytest

from tests.e2e.alerting_world import CFG, SUB, UNWATCHED, World, t
from tests.support.alert_events import availability, maintenance, sql_notice
from tests.support.azurite import Azurite

pytestmark = pytest.mark.azurite


@pytest.fixture
def world(servers, azurite: Azurite, unique_prefix: str) -> World:
    topic, logs, arm, databases = servers
    topic.heal()
    topic.delivered.clear()
    logs.heartbeats.clear()
    w = World.create(azurite.connection_string, unique_prefix, topic, logs, arm, databases)
    w.watchdog("2026-04-01T00:00:00Z")  # first run: reads the schedules, starts watching
    return w


def shuffled_with_duplicates(events: list[dict], seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = events + [rnd.choice(events) for _ in range(len(events))]
    rnd.shuffle(out)
    return out


# Saturday 4 April 2026, 02:00-05:55 CEST = 00:00-03:55 UTC; pre 35 min before.
APR4 = (t("2026-04-04T00:00:00Z"), t("2026-04-04T03:55:00Z"))


def test_overrun_opens_once_resolves_on_a_late_post_and_the_failed_run_is_reported(world: World) -> None:
    pre = maintenance("pre", CFG, *APR4, t("2026-04-03T23:25:00Z"), subscription=SUB)
    world.deliver(pre, pre, at="2026-04-03T23:26:00Z")
    world.concurrent_watchdogs("2026-04-04T04:54:00Z")  # one minute before the grace ends: nothing
    assert world.open("maintenance-overran") == []
    world.concurrent_watchdogs("2026-04-04T04:55:00Z")
    world.concurrent_watchdogs("2026-04-04T05:10:00Z")
    (overran,) = world.open("maintenance-overran")
    assert overran.key.resource_id == CFG and overran.key.cycle_or_run.endswith("/applyupdates/20260404000000")
    assert world.delivered() == ["PatchWatch.Alert.MaintenanceOverran.Opened"]

    post = maintenance("post", CFG, *APR4, t("2026-04-04T05:20:00Z"), subscription=SUB, status="Failed")
    world.deliver(post, pre, post, at="2026-04-04T05:21:00Z")  # the late post, redelivered, among a stale pre
    world.concurrent_watchdogs("2026-04-04T05:30:00Z")
    assert world.open("maintenance-overran") == []
    (failed,) = world.open("patch-failed")
    assert "'Failed'" in failed.message
    assert sorted(world.delivered()) == [
        "PatchWatch.Alert.MaintenanceOverran.Opened",
        "PatchWatch.Alert.MaintenanceOverran.Resolved",
        "PatchWatch.Alert.PatchFailed.Opened",
    ]
    ids = world.topic.delivered_ids()
    assert len(ids) == len(set(ids)) == 3
    opened = world.topic.delivered[0]
    assert opened["subject"] == CFG and opened["data"]["cycleOrRun"] == overran.key.cycle_or_run
    assert opened["data"]["details"]["due"] == "2026-04-04T04:55:00Z"


def test_post_one_minute_before_the_grace_ends_never_alerts_whatever_the_order(world: World) -> None:
    pre = maintenance("pre", CFG, *APR4, t("2026-04-03T23:25:00Z"), subscription=SUB)
    post = maintenance("post", CFG, *APR4, t("2026-04-04T04:54:00Z"), subscription=SUB)
    world.deliver(*shuffled_with_duplicates([pre, post], seed=4), at="2026-04-04T04:54:30Z")
    world.concurrent_watchdogs("2026-04-04T05:00:00Z")
    world.watchdog("2026-04-05T00:00:00Z")
    assert world.alerts() == [] and world.delivered() == []


def test_missed_window_published_after_a_failed_publish_exactly_once_then_resolved_by_a_late_run(world: World) -> None:
    # Saturday 11 April: no event. 18 April: its run came (neighbour: not missed).
    apr18 = (t("2026-04-18T00:00:00Z"), t("2026-04-18T03:55:00Z"))
    world.deliver(
        maintenance("post", CFG, *apr18, t("2026-04-18T01:40:00Z"), subscription=SUB),
        maintenance("pre", CFG, *apr18, t("2026-04-17T23:25:00Z"), subscription=SUB),
        at="2026-04-18T01:41:00Z",
    )
    # and 4 April's window had its run
    world.deliver(
        maintenance("pre", CFG, *APR4, t("2026-04-03T23:25:00Z"), subscription=SUB), at="2026-04-03T23:26:00Z"
    )
    world.topic.fail_always(503)
    reports = world.concurrent_watchdogs("2026-04-11T05:00:00Z")
    assert world.delivered() == [] and sum(len(r.publish_failures) for r in reports) >= 1
    (missed,) = world.open("maintenance-window-missed")
    assert missed.key.cycle_or_run == "2026-04-11T00:00:00Z" and missed.published_sequence == 0
    world.watchdog("2026-04-11T05:15:00Z")  # still failing: still pending
    world.topic.heal()
    world.concurrent_watchdogs("2026-04-11T05:30:00Z")
    world.concurrent_watchdogs("2026-04-11T05:45:00Z")
    assert world.delivered("WindowMissed") == ["PatchWatch.Alert.MaintenanceWindowMissed.Opened"]
    world.watchdog("2026-04-19T00:00:00Z")
    assert [a.key.cycle_or_run for a in world.open("maintenance-window-missed")] == ["2026-04-11T00:00:00Z"]

    # The 11 April run did happen: its events were only delayed (Event Grid retries for a day).
    apr11 = (t("2026-04-11T00:00:00Z"), t("2026-04-11T03:55:00Z"))
    late = maintenance("pre", CFG, *apr11, t("2026-04-10T23:25:00Z"), subscription=SUB)
    world.deliver(late, late, at="2026-04-19T00:05:00Z")
    assert world.open("maintenance-window-missed") == []
    assert world.delivered("WindowMissed") == [
        "PatchWatch.Alert.MaintenanceWindowMissed.Opened",
        "PatchWatch.Alert.MaintenanceWindowMissed.Resolved",
    ]


def test_configuration_without_event_subscription_is_never_reported_missed(world: World) -> None:
    world.watchdog("2026-04-20T00:00:00Z")
    assert all(a.key.resource_id != UNWATCHED for a in world.alerts())
    assert {a.key.cycle_or_run for a in world.open("maintenance-window-missed")} == {
        "2026-04-04T00:00:00Z",
        "2026-04-11T00:00:00Z",
        "2026-04-18T00:00:00Z",
    }


def test_run_outside_its_window_alerts_once_in_local_time(world: World) -> None:
    # Saturday 25 April 08:30 CEST (06:30 UTC): the window was 02:00-05:55.
    late = (t("2026-04-25T06:30:00Z"), t("2026-04-25T10:25:00Z"))
    pre = maintenance("pre", CFG, *late, t("2026-04-25T05:55:00Z"), subscription=SUB)
    post = maintenance("post", CFG, *late, t("2026-04-25T07:15:00Z"), subscription=SUB)
    world.deliver(*shuffled_with_duplicates([pre, post], seed=25), at="2026-04-25T07:16:00Z")
    world.concurrent_watchdogs("2026-04-25T07:30:00Z")
    (outside,) = world.open("maintenance-outside-window")
    assert "08:30 CEST" in outside.message
    assert world.delivered("OutsideWindow") == ["PatchWatch.Alert.MaintenanceOutsideWindow.Opened"]


def test_sql_notice_outside_the_databases_window_and_overrun_resolved_by_complete(world: World) -> None:
    orders, reports = world.databases["orders"], world.databases["reports"]
    # TRK-1: Tuesday 21 April 15:00 EDT - in no window of either database.
    start, end = t("2026-04-21T19:00:00Z"), t("2026-04-22T03:00:00Z")
    notices = [
        sql_notice("TRK-1", stage, t(sent), start, end, subscription=SUB, region="East US")
        for stage, sent in (("Planned", "2026-04-19T12:00:00Z"), ("InProgress", "2026-04-21T19:01:00Z"))
    ]
    world.deliver(*shuffled_with_duplicates(notices, seed=21), at="2026-04-21T19:02:00Z")
    world.concurrent_watchdogs("2026-04-21T19:15:00Z")
    outside = world.open("maintenance-outside-window")
    assert sorted(a.key.resource_id for a in outside) == sorted([orders, reports])
    assert all("15:00 EDT" in a.message for a in outside)

    # TRK-2: Monday 27 April 22:30 EDT - inside the weekday window of "orders": attributed to it.
    start2, end2 = t("2026-04-28T02:30:00Z"), t("2026-04-28T10:00:00Z")
    progress = sql_notice(
        "TRK-2", "InProgress", t("2026-04-28T02:31:00Z"), start2, end2, subscription=SUB, region="East US"
    )
    world.deliver(progress, at="2026-04-28T02:32:00Z")
    world.watchdog("2026-04-28T03:00:00Z")
    assert {a.key.cycle_or_run for a in world.open("maintenance-outside-window")} == {"TRK-1"}
    # the weekday chain (Mon-Thu nights) ends Friday 1 May 06:00 EDT = 10:00 UTC; + 60 min
    world.concurrent_watchdogs("2026-05-01T10:59:00Z")
    assert [a for a in world.open("maintenance-overran") if a.key.cycle_or_run == "TRK-2"] == []
    world.concurrent_watchdogs("2026-05-01T11:00:00Z")
    (overran,) = [a for a in world.open("maintenance-overran") if a.key.cycle_or_run == "TRK-2"]
    assert overran.key.resource_id == orders
    complete = sql_notice(
        "TRK-2", "Complete", t("2026-05-01T13:00:00Z"), start2, end2, subscription=SUB, region="East US"
    )
    world.deliver(complete, complete, at="2026-05-01T13:01:00Z")
    assert [a for a in world.open("maintenance-overran") if a.key.cycle_or_run == "TRK-2"] == []
    assert world.delivered("MaintenanceOverran").count("PatchWatch.Alert.MaintenanceOverran.Opened") >= 1
    assert "PatchWatch.Alert.MaintenanceOverran.Resolved" in world.delivered("MaintenanceOverran")


def test_database_unhealthy_after_its_maintenance_until_it_recovers(world: World) -> None:
    orders = world.databases["orders"]
    # TRK-3: Wednesday 22 April 22:30 EDT to Thursday 05:00 EDT (09:00 UTC).
    start, end = t("2026-04-23T02:30:00Z"), t("2026-04-23T09:00:00Z")
    events = [
        sql_notice("TRK-3", "InProgress", t("2026-04-23T02:31:00Z"), start, end, subscription=SUB, region="East US"),
        sql_notice("TRK-3", "Complete", t("2026-04-23T09:00:00Z"), start, end, subscription=SUB, region="East US"),
        availability(orders, t("2026-04-23T08:30:00Z"), "Available", "Unavailable"),
    ]
    world.deliver(*shuffled_with_duplicates(events, seed=23), at="2026-04-23T09:05:00Z")
    world.concurrent_watchdogs("2026-04-23T09:29:00Z")  # Complete + 30 min not yet passed
    assert world.open("unhealthy-after-maintenance") == []
    world.concurrent_watchdogs("2026-04-23T09:30:00Z")
    (sick,) = world.open("unhealthy-after-maintenance")
    assert sick.key.resource_id == orders and sick.key.cycle_or_run == "TRK-3" and sick.severity.value == "critical"
    back = availability(orders, t("2026-04-23T10:00:00Z"), "Unavailable", "Available")
    world.deliver(back, back, at="2026-04-23T10:01:00Z")
    world.concurrent_watchdogs("2026-04-23T10:15:00Z")
    assert world.open("unhealthy-after-maintenance") == []
    assert world.delivered("Unhealthy") == [
        "PatchWatch.Alert.UnhealthyAfterMaintenance.Opened",
        "PatchWatch.Alert.UnhealthyAfterMaintenance.Resolved",
    ]
