"""The cycle timer through the registered function: once, late, again, and never lost."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from shared.domain.calendar import CalendarPolicy, YearMonth, cycle_for_month
from shared.services.cycle import summary
from tests.support.arm_server import ArmSimulator, make_fleet
from tests.support.cycle_env import cycle_env

pytestmark = pytest.mark.azurite

MAY = YearMonth(2026, 5)
CYCLE = "2026-05"


def graph_queries(sim: ArmSimulator) -> int:
    return len(sim.server.recorded("POST", "/providers/Microsoft.ResourceGraph/resources"))


def test_two_instances_ticking_together_start_the_cycle_once(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(12)
    scheduled = cycle_for_month(MAY, load_policy()).scheduled_utc
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=scheduled + timedelta(minutes=5)) as env,
    ):
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def instance() -> None:
            try:
                barrier.wait()
                env.tick()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=instance) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        queued = env.host.pending()
        discovered = graph_queries(sim)
        env.drain(workers=2)
        state = summary(env.deps, CYCLE)
    assert not errors
    assert discovered == 1  # only the instance that claimed the cycle discovered the fleet
    assert queued == 12  # one message per VM, not two
    assert state["round"] == 0
    assert state["states"] == {"succeeded": 12}
    assert [sim.accepted_for(v) for v in fleet] == [1] * 12


def test_a_tick_after_three_days_of_downtime_catches_up_exactly_once(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(5)
    scheduled = cycle_for_month(MAY, load_policy(offset=1)).scheduled_utc  # the day after Patch Tuesday
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(
            monkeypatch,
            storage_connection,
            unique_prefix,
            sim,
            now=scheduled - timedelta(hours=20),
            PATCH_OFFSET_DAYS="1",
        ) as env,
    ):
        env.tick()  # the last tick before the host went down: May released but not scheduled yet, April over
        assert env.store.cycle(CYCLE) is None
        assert graph_queries(sim) == 0
        env.clock.now = scheduled + timedelta(days=3, minutes=5)  # three days later the host is back
        env.tick(past_due=True)
        env.drain()
        env.clock.advance(hours=1)
        env.tick()  # the next regular tick: nothing left to catch up
        env.drain()
        state = summary(env.deps, CYCLE)
        row = env.store.cycle(CYCLE)
    assert state["round"] == 0
    assert state["states"] == {"succeeded": 5}
    assert [sim.accepted_for(v) for v in fleet] == [1] * 5
    assert graph_queries(sim) == 1
    assert row is not None
    assert row["RoundStartedUtc"].startswith((scheduled + timedelta(days=3)).strftime("%Y-%m-%dT%H"))


def test_the_cycle_waits_for_its_scheduled_moment(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(3)
    release = cycle_for_month(MAY, load_policy(offset=2)).release_utc
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(
            monkeypatch, storage_connection, unique_prefix, sim, now=release + timedelta(hours=1), PATCH_OFFSET_DAYS="2"
        ) as env,
    ):
        env.tick()  # released, but scheduled two days later
        before = env.store.cycle(CYCLE)
        env.clock.advance(days=2)
        env.tick()
        env.drain()
        state = summary(env.deps, CYCLE)
    assert before is None
    assert state["states"] == {"succeeded": 3}
    assert graph_queries(sim) == 1


def test_the_cycle_is_assessed_again_every_few_days(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(4)
    scheduled = cycle_for_month(MAY, load_policy()).scheduled_utc
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(
            monkeypatch,
            storage_connection,
            unique_prefix,
            sim,
            now=scheduled + timedelta(minutes=5),
            REASSESS_EVERY_DAYS="2",
        ) as env,
    ):
        env.tick()
        env.drain()
        env.clock.advance(days=1, hours=23)
        env.tick()  # not yet
        env.drain()
        after_first = [sim.accepted_for(v) for v in fleet]
        env.clock.advance(hours=1)
        env.tick()
        env.tick()  # the same hour again: the round is claimed already
        env.drain()
        state = summary(env.deps, CYCLE)
    assert after_first == [1] * 4
    assert [sim.accepted_for(v) for v in fleet] == [2] * 4
    assert state["round"] == 1
    assert state["states"] == {"succeeded": 4}


def test_a_lost_message_is_found_by_the_sweep(
    monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str
) -> None:
    fleet = make_fleet(3)
    scheduled = cycle_for_month(MAY, load_policy()).scheduled_utc
    with (
        ArmSimulator(fleet) as sim,
        cycle_env(monkeypatch, storage_connection, unique_prefix, sim, now=scheduled + timedelta(minutes=5)) as env,
    ):
        env.tick()
        env.host.main.clear_messages()  # the queue lost them (or a crash did)
        env.clock.advance(hours=1)
        env.tick()
        still_queued = env.host.pending()
        env.clock.advance(hours=2)
        env.tick()  # quiet for longer than QueuePolicy.stale_after: re-enqueued
        env.drain()
        state = summary(env.deps, CYCLE)
    assert still_queued == 0
    assert state["states"] == {"succeeded": 3}
    assert [sim.accepted_for(v) for v in fleet] == [1] * 3


def load_policy(offset: int = 0) -> CalendarPolicy:
    return CalendarPolicy(offset_days=offset)


def test_schedule_is_the_setting_read_when_the_app_is_indexed() -> None:
    from tests.support.app import bindings

    (timer,) = bindings("patch_cycle_timer")
    assert timer["type"] == "timerTrigger"
    assert timer["schedule"] == "0 5 * * * *"
    assert timer["useMonitor"] is True
    (queue,) = bindings("assessment_worker")
    assert (queue["type"], queue["queueName"], queue["connection"]) == (
        "queueTrigger",
        "assessments",
        "AzureWebJobsStorage",
    )
    (poison,) = bindings("assessment_poison")
    assert poison["queueName"] == "assessments-poison"
