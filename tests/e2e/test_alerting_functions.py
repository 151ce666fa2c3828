"""The registered functions as the worker runs them: an event function alerts on what the
event settles (once, however often Event Grid redelivers), the watchdog timer publishes
what only time settles. The topic is reached with its access key."""

from __future__ import annotations

from collections.abc import Iterator

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from shared.config import ConfigError, read_one, settings
from shared.runtime import alerting
from tests.e2e.alerting_world import CFG, SUB, build_arm, t, trust_all
from tests.support.alert_events import maintenance
from tests.support.app import bindings, handler
from tests.support.arm_schedules import ScheduleArm
from tests.support.azurite import Azurite
from tests.support.cycle_env import Clock
from tests.support.eventgrid_topic import EventGridTopic
from tests.support.loopback import StaticTokenCredential

pytestmark = pytest.mark.azurite


@pytest.fixture
def app_env(
    monkeypatch: pytest.MonkeyPatch, azurite: Azurite, unique_prefix: str
) -> Iterator[tuple[EventGridTopic, Clock]]:
    with EventGridTopic(key="topic-key") as topic, ScheduleArm() as arm:
        build_arm(arm)
        env = {
            "AzureWebJobsStorage": azurite.connection_string,
            "OUTCOMES_TABLE_PREFIX": unique_prefix,
            "ALERTS_TOPIC_ENDPOINT": topic.endpoint,
            "ALERTS_TOPIC_KEY": "topic-key",
            "ARM_ENDPOINT": arm.url,
            "WATCHED_MAINTENANCE_CONFIGURATIONS": CFG,
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        settings.cache_clear()
        credential = StaticTokenCredential()  # Entra ID is not reachable from tests
        monkeypatch.setattr("shared.adapters.identity.credential", lambda: credential)
        clock = Clock(t("2026-04-01T00:00:00Z"))
        monkeypatch.setattr(alerting, "utc_now", clock)
        with trust_all(topic, arm):
            yield topic, clock
        settings.cache_clear()


def grid_event(envelope: dict) -> func.EventGridEvent:
    return func.EventGridEvent(
        id=envelope["id"],
        data=envelope["data"],
        topic=envelope["topic"],
        subject=envelope["subject"],
        event_type=envelope["eventType"],
        event_time=t(envelope["eventTime"]),
        data_version=envelope["dataVersion"],
    )


def test_watchdog_timer_binding_reads_its_schedule_with_the_default() -> None:
    (trigger,) = [b for b in bindings("watchdog_timer") if b["type"] == "timerTrigger"]
    assert trigger["schedule"] == "0 */15 * * * *"
    assert trigger["runOnStartup"] is False and trigger["useMonitor"] is True


def test_watchdog_schedule_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_SCHEDULE", "0 */5 * * * *")
    assert read_one("WATCHDOG_SCHEDULE") == "0 */5 * * * *"
    monkeypatch.setenv("WATCHDOG_SCHEDULE", "*/5 * * * *")
    with pytest.raises(ConfigError, match="WATCHDOG_SCHEDULE"):
        read_one("WATCHDOG_SCHEDULE")


def test_event_function_alerts_once_and_the_timer_publishes_what_time_settles(app_env) -> None:
    topic, clock = app_env
    timer = handler("watchdog_timer")
    timer(TimerRequest(past_due=False))  # starts watching the configuration
    assert topic.delivered == []

    apr4 = (t("2026-04-04T00:00:00Z"), t("2026-04-04T03:55:00Z"))
    post = grid_event(maintenance("post", CFG, *apr4, t("2026-04-04T01:30:00Z"), subscription=SUB, status="Failed"))
    clock.now = t("2026-04-04T01:31:00Z")
    for _ in range(3):  # Event Grid redelivers
        handler("maintenance_events")(post)
    assert [e["type"] for e in topic.delivered] == ["PatchWatch.Alert.PatchFailed.Opened"]
    (request,) = topic.recorded("POST")
    assert request.headers["Aeg-Sas-Key"] == "topic-key"

    clock.now = t("2026-04-11T05:00:00Z")  # 11 April's window passed without any event
    timer(TimerRequest(past_due=True))
    timer(TimerRequest(past_due=False))
    assert [e["type"] for e in topic.delivered] == [
        "PatchWatch.Alert.PatchFailed.Opened",
        "PatchWatch.Alert.MaintenanceWindowMissed.Opened",
    ]
    missed = topic.delivered[1]
    assert missed["subject"] == CFG and missed["data"]["cycleOrRun"] == "2026-04-11T00:00:00Z"
