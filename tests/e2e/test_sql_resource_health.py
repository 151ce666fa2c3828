"""SQL health end to end, as deployed: the Resource Health activity-log rule
(infra/modules/subscriptionEvents.bicep) fires for an Azure SQL database, the action group
posts the common alert schema to the registered ``action_group_alerts`` function, and after
a SQL maintenance notice the watchdog opens exactly one unhealthy-after-maintenance alert,
which resolves when Resource Health reports the database available again.

The alerts start from Microsoft's published Resource Health sample
(tests/fixtures/published/events/azure-monitor-common-alert.resourcehealth.test-action.json,
the same file as shared/fixtures/events) with our database, times and rule name; the
recovery is the same sample at the rule's ``Resolved`` stage."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from shared.adapters.outcome_store import outcome_store
from shared.config import settings
from shared.domain.alerts import AlertState
from shared.domain.events import Availability
from shared.runtime import alerting
from tests.e2e.alerting_world import CFG, SUB, build_arm, t, trust_all
from tests.support.alert_events import resource_health_alert, sql_notice
from tests.support.app import handler
from tests.support.arm_schedules import ScheduleArm
from tests.support.azurite import Azurite
from tests.support.cycle_env import Clock
from tests.support.eventgrid_topic import EventGridTopic
from tests.support.events import post
from tests.support.loopback import StaticTokenCredential

pytestmark = pytest.mark.azurite

ENV = "patchwatch-prod"
RULE = f"alert-{ENV}-sql-resource-health"  # the rule's name in subscriptionEvents.bicep


@pytest.fixture
def deployed(
    monkeypatch: pytest.MonkeyPatch, azurite: Azurite, unique_prefix: str
) -> Iterator[tuple[EventGridTopic, Clock, dict[str, str]]]:
    with EventGridTopic(key="topic-key") as topic, ScheduleArm() as arm:
        databases = build_arm(arm)
        env = {
            "AzureWebJobsStorage": azurite.connection_string,
            "OUTCOMES_TABLE_PREFIX": unique_prefix,
            "ALERTS_TOPIC_ENDPOINT": topic.endpoint,
            "ALERTS_TOPIC_KEY": "topic-key",
            "ARM_ENDPOINT": arm.url,
            "WATCHED_MAINTENANCE_CONFIGURATIONS": CFG,
            "TARGET_SUBSCRIPTION_IDS": SUB,
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        settings.cache_clear()
        credential = StaticTokenCredential()
        monkeypatch.setattr("shared.adapters.identity.credential", lambda: credential)
        clock = Clock(t("2026-04-20T00:00:00Z"))
        monkeypatch.setattr(alerting, "utc_now", clock)
        monkeypatch.setattr("shared.runtime.utc_now", clock)
        with trust_all(topic, arm):
            yield topic, clock, databases
        settings.cache_clear()


def from_our_rule(body: dict[str, Any], *, resolved: bool = False) -> dict[str, Any]:
    """The published sample as our deployed rule sends it (its name, not the test action's);
    ``resolved``: the Resource Health event's Resolved stage (healthy again)."""
    body = copy.deepcopy(body)
    essentials, context = body["data"]["essentials"], body["data"]["alertContext"]
    essentials["alertRule"] = RULE
    essentials["description"] = "Resource Health of Azure SQL databases and managed instances in this subscription"
    essentials["originAlertId"] = f"{context['eventDataId']}_{RULE}"
    if resolved:
        context["operationName"] = "Microsoft.Resourcehealth/healthevent/Resolved/action"
        context["status"] = "Resolved"
        context["properties"]["type"] = None
        context["properties"]["cause"] = "PlatformInitiated"
    return body


def webhook(body: dict[str, Any]) -> dict[str, Any]:
    response = handler("action_group_alerts")(post(body))
    assert response.status_code == 202, response.get_body()
    return dict(json.loads(response.get_body()))


def watchdog(clock: Clock, at: str) -> None:
    clock.now = t(at)
    handler("watchdog_timer")(TimerRequest(past_due=False))


def test_a_sql_database_unhealthy_after_its_maintenance_alerts_once_and_clears_when_healthy(deployed) -> None:
    topic, clock, databases = deployed
    orders = databases["orders"]
    # TRK-9: Wednesday 22 April 22:30 EDT to Thursday 05:00 EDT (09:00 UTC), East US.
    start, end = t("2026-04-23T02:30:00Z"), t("2026-04-23T09:00:00Z")
    notices = [
        sql_notice("TRK-9", stage, t(sent), start, end, subscription=SUB, region="East US")
        for stage, sent in (("InProgress", "2026-04-23T02:31:00Z"), ("Complete", "2026-04-23T09:00:00Z"))
    ]
    clock.now = t("2026-04-23T09:01:00Z")
    for notice in notices:
        assert webhook(notice)["accepted"] == 1

    # Resource Health: the database went unavailable during the maintenance and stays so.
    down = from_our_rule(
        resource_health_alert(orders, t("2026-04-23T08:40:00Z"), title="Unavailable", current="Unavailable")
    )
    clock.now = t("2026-04-23T08:45:00Z")
    assert webhook(down) == {"accepted": 1, "duplicate": 0}
    assert webhook(down) == {"accepted": 0, "duplicate": 1}  # the action group retries
    health = outcome_store().resource_health(orders)
    assert health is not None and health.availability is Availability.UNAVAILABLE

    watchdog(clock, "2026-04-23T09:29:00Z")  # Complete + 30 min of grace not yet passed
    assert [e["type"] for e in topic.delivered if "Unhealthy" in e["type"]] == []
    watchdog(clock, "2026-04-23T09:30:00Z")
    watchdog(clock, "2026-04-23T09:45:00Z")  # a later look changes nothing
    opened = [e for e in topic.delivered if e["type"] == "PatchWatch.Alert.UnhealthyAfterMaintenance.Opened"]
    assert len(opened) == 1
    assert opened[0]["subject"] == orders and opened[0]["data"]["cycleOrRun"] == "TRK-9"
    assert opened[0]["data"]["severity"] == "critical"

    # Health returns: the rule's Resolved stage reaches the webhook and the alert clears.
    back = from_our_rule(
        resource_health_alert(
            orders, t("2026-04-23T10:00:00Z"), title="Available", current="Available", previous="Unavailable"
        ),
        resolved=True,
    )
    clock.now = t("2026-04-23T10:01:00Z")
    assert webhook(back)["accepted"] == 1
    watchdog(clock, "2026-04-23T10:15:00Z")
    unhealthy = [e["type"] for e in topic.delivered if "Unhealthy" in e["type"]]
    assert unhealthy == [
        "PatchWatch.Alert.UnhealthyAfterMaintenance.Opened",
        "PatchWatch.Alert.UnhealthyAfterMaintenance.Resolved",
    ]
    states = [
        s.alert.state
        for s in alerting.alerting_from_settings(settings()).alerts.all()
        if s.alert.key.resource_id == orders
    ]
    assert states and AlertState.OPEN not in states
