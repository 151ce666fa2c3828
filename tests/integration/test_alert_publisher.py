"""The real EventGridPublisherClient against a loopback topic: CloudEvents 1.0, bearer token
by default, the topic key when configured, and failures that raise (nothing half-sent)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.publisher import EventGridAlertPublisher, PublishError
from shared.config import load_settings
from shared.domain.alerts import AlertKey, AlertKind, Verdict, alert_event, apply_verdict
from tests.support.eventgrid_topic import EventGridTopic
from tests.support.loopback import StaticTokenCredential

DB = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Sql/servers/s/databases/d"
NOW = datetime(2026, 4, 21, 19, 5, tzinfo=UTC)


@pytest.fixture
def topic() -> Iterator[EventGridTopic]:
    with EventGridTopic() as server, server.trust():
        yield server


def events() -> list[dict]:
    key = AlertKey(AlertKind.MAINTENANCE_OUTSIDE_WINDOW, DB, "TRK-1")
    opened = apply_verdict(None, Verdict(key, True, "began 15:00 EDT", NOW, {"tracking_id": "TRK-1"}), NOW)
    assert opened is not None
    resolved = apply_verdict(opened, Verdict(key, False, "window corrected"), NOW + timedelta(hours=1))
    assert resolved is not None
    return [alert_event(resolved, t) for t in resolved.transitions]


def test_alerts_arrive_as_cloud_events_with_a_bearer_token(topic: EventGridTopic) -> None:
    cred = StaticTokenCredential()
    EventGridAlertPublisher(topic.endpoint, credential=cred).publish(events())
    (request,) = topic.recorded("POST", "/api/events")
    assert request.headers["Authorization"] == "Bearer loopback-token" and cred.calls >= 1
    assert request.headers["Content-Type"].startswith("application/cloudevents-batch+json")
    opened, resolved = topic.delivered
    assert opened["specversion"] == "1.0" and opened["source"] == "/patch-watch/alerts"
    assert opened["type"] == "PatchWatch.Alert.MaintenanceOutsideWindow.Opened"
    assert resolved["type"] == "PatchWatch.Alert.MaintenanceOutsideWindow.Resolved"
    assert opened["subject"] == DB and opened["time"].startswith("2026-04-21T19:05:00")
    assert opened["data"]["message"] == "began 15:00 EDT" and opened["data"]["details"] == {"tracking_id": "TRK-1"}
    assert opened["id"] == events()[0]["id"]  # rebuilt later, same id: receivers can deduplicate


def test_topic_key_is_used_when_configured() -> None:
    with EventGridTopic(key="topic-key-1") as server, server.trust():
        cfg = load_settings({"ALERTS_TOPIC_ENDPOINT": server.endpoint, "ALERTS_TOPIC_KEY": "topic-key-1"})
        EventGridAlertPublisher.from_settings(cfg).publish(events())
        (request,) = server.recorded("POST")
    assert request.headers["Aeg-Sas-Key"] == "topic-key-1" and "Authorization" not in request.headers
    assert len(server.delivered) == 2


def test_a_refused_publish_raises_and_delivers_nothing(topic: EventGridTopic) -> None:
    topic.fail_always(503)
    publisher = EventGridAlertPublisher(topic.endpoint, credential=StaticTokenCredential(), retry_total=0)
    with pytest.raises(PublishError, match="refused 2 alert event"):
        publisher.publish(events())
    assert topic.delivered == []


def test_no_endpoint_is_a_clear_error() -> None:
    with pytest.raises(PublishError, match="ALERTS_TOPIC_ENDPOINT"):
        EventGridAlertPublisher.from_settings(load_settings({}))
