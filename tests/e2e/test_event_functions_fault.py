"""Fault: the storage goes away in the middle of a stream of deliveries. The function
raises (so Event Grid delivers again), nothing is half-written, and once the storage is
back, redelivering everything leaves every event recorded exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.outcome_store import TableOutcomeStore
from shared.domain.outcomes import StoreUnavailableError
from tests.support import app as app_support
from tests.support.azurite import Azurite, running_azurite
from tests.support.events import app_settings, sample, store_for, trigger_event

pytestmark = pytest.mark.azurite

STREAM = [
    ("maintenance_events", "04-web-sat-pre.eventgrid.json"),
    ("health_events", "06-health-web-01-rebooted.eventgrid.json"),
    ("health_events", "05-health-web-01-recovered.eventgrid.json"),
    ("maintenance_events", "07-web-sat-post.eventgrid.json"),
    ("maintenance_events", "13-malformed-post-without-status.eventgrid.json"),
    ("maintenance_events", "09-sqlhosts-pre.cloudevent.json"),
    ("health_events", "10-health-sqlvm.cloudevent.json"),
    ("maintenance_events", "12-sqlhosts-post-failed.cloudevent.json"),
    ("health_events", "21-health-web-02-host-repair.eventgrid.json"),
]
# One delivery per event, as the worker invokes the function once per array element.
DELIVERIES = [(fn, name, i) for fn, name in STREAM for i in range(len(sample(name)))]
STOP_AT = 5


@pytest.fixture
def own_azurite() -> Iterator[Azurite]:
    """A dedicated Azurite: this test stops and restarts it."""
    with running_azurite() as az:
        yield az


def deliver(delivery: tuple[str, str, int]) -> None:
    fn, name, index = delivery
    app_support.handler(fn)(trigger_event(sample(name)[index]))


def rows(store: TableOutcomeStore) -> dict[str, list[dict[str, Any]]]:
    """Every row, minus the receipt time (the functions read the clock)."""
    return {
        table: [{k: v for k, v in row.items() if k != "ReceivedAt"} for row in table_rows]
        for table, table_rows in store.snapshot().items()
    }


def test_storage_outage_mid_stream_raises_then_redelivery_records_each_event_once(
    monkeypatch: pytest.MonkeyPatch, own_azurite: Azurite
) -> None:
    # what the stream records when nothing goes wrong
    with app_settings(monkeypatch, own_azurite.connection_string, "reference"):
        for delivery in DELIVERIES:
            deliver(delivery)
        expected = rows(store_for(own_azurite.connection_string, "reference"))
    assert sum(len(r) for t, r in expected.items() if t != "ids") == len(DELIVERIES)  # ids: one per health event

    with app_settings(monkeypatch, own_azurite.connection_string, "faulty"):
        store = store_for(own_azurite.connection_string, "faulty")
        for delivery in DELIVERIES[:STOP_AT]:
            deliver(delivery)
        own_azurite.stop()
        failed = []
        for delivery in DELIVERIES[STOP_AT:]:
            with pytest.raises(StoreUnavailableError):
                deliver(delivery)
            failed.append(delivery)
        assert len(failed) == len(DELIVERIES) - STOP_AT
        own_azurite.start()  # same ports, same data
        assert sum(len(r) for t, r in rows(store).items() if t != "ids") == STOP_AT  # nothing half-written meanwhile
        # Event Grid redelivers what failed, and at least once may mean the rest again too
        for delivery in failed + DELIVERIES:
            deliver(delivery)
        assert rows(store) == expected
        (web, sqlhosts) = store.list_runs("2026-10")
        assert (web.status.value, sqlhosts.status.value) == ("succeeded", "failed")
