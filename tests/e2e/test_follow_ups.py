"""Follow-ups handed from the event functions to the ``follow-ups`` queue, and what
becomes of messages that are malformed or that the host gives up on."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from azure.functions.queue import QueueMessage

from shared import runtime
from shared.adapters.outcome_store import TableOutcomeStore
from shared.adapters.storage import queue_client, resolve_target
from tests.support.app import bindings, handler
from tests.support.events import app_settings, one, sample, store_for, trigger_event

pytestmark = pytest.mark.azurite


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str) -> Iterator[TableOutcomeStore]:
    from azure.core.exceptions import ResourceNotFoundError

    with app_settings(monkeypatch, storage_connection, unique_prefix):
        with contextlib.suppress(ResourceNotFoundError):
            queue_client(resolve_target(storage_connection), "follow-ups").clear_messages()
        s = store_for(storage_connection, unique_prefix)
        yield s
        s.drop_tables()


def _queued(connection: str) -> list[dict]:
    q = queue_client(resolve_target(connection), "follow-ups")
    return [json.loads(m.content) for m in q.peek_messages(max_messages=32)]


def test_the_queue_functions_are_registered() -> None:
    assert [(b["type"], b["queueName"]) for b in bindings("follow_up_worker")] == [("queueTrigger", "follow-ups")]
    assert [(b["type"], b["queueName"]) for b in bindings("follow_up_poison")] == [
        ("queueTrigger", "follow-ups-poison")
    ]


def test_a_post_event_hands_its_verification_to_the_queue_once_per_delivery(
    store: TableOutcomeStore, storage_connection: str
) -> None:
    post = one(sample("12-sqlhosts-post-failed.cloudevent.json"))
    handler("maintenance_events")(trigger_event(post))
    (action,) = _queued(storage_connection)
    assert action["action"] == "verify-run"
    assert action["correlation_id"] == post["data"]["correlationId"]
    assert action["status"] == "failed"
    assert action["key"].startswith("verify-run|")
    # a redelivery hands it over again (the executor de-duplicates by key): nothing is lost after a crash
    handler("maintenance_events")(trigger_event(post))
    assert [a["key"] for a in _queued(storage_connection)] == [action["key"]] * 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON list"),
        (b'{"action": "reboot-everything", "key": "k", "correlation_id": "c"}', "'reboot-everything'"),
        (b'{"action": "verify-run", "correlation_id": "c"}', "key: missing"),
    ],
)
def test_a_malformed_follow_up_is_logged_and_dropped(
    store: TableOutcomeStore, caplog: pytest.LogCaptureFixture, body: bytes, reason: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="patchwatch.follow_ups"):
        handler("follow_up_worker")(QueueMessage(id="m1", body=body))  # returns: the host deletes it
    assert any(reason in r.getMessage() for r in caplog.records), caplog.text


def test_a_follow_up_the_host_gave_up_on_is_kept_as_a_rejection(
    store: TableOutcomeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 10, 18, 9, 0, tzinfo=UTC)
    monkeypatch.setattr(runtime, "utc_now", lambda: now)
    action = {"action": "verify-run", "key": "verify-run|x", "correlation_id": "/subscriptions/s/x/applyupdates/1"}
    handler("follow_up_poison")(QueueMessage(id="p1", body=json.dumps(action).encode()))
    handler("follow_up_poison")(QueueMessage(id="p1", body=json.dumps(action).encode()))  # redelivered: once
    (rejection,) = store.list_rejections("2026-10")
    assert rejection.field == "follow-up"
    assert rejection.problem == "verify-run for /subscriptions/s/x/applyupdates/1 failed after the queue's retries"
    assert json.loads(rejection.raw) == action
