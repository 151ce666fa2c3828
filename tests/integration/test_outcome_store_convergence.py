"""Property, on a real Azurite: any interleaving and duplication of a month's deliveries
leaves the store in the same state (every row, every folded outcome) as the same
deliveries made once, in order."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.outcome_store import TableOutcomeStore
from shared.services.ingest import IngestPolicy, ingest_payload
from tests.support.azurite import Azurite
from tests.support.events import sample, store_for

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)
# One delivery = one posted body. Runs (pre/post, both schemas), health changes and an
# annotation, a resource-health alert, a notice's stages, and two refusals.
DELIVERIES = [
    "04-web-sat-pre.eventgrid.json",
    "05-health-web-01-recovered.eventgrid.json",
    "06-health-web-01-rebooted.eventgrid.json",
    "07-web-sat-post.eventgrid.json",
    "09-sqlhosts-pre.cloudevent.json",
    "10-health-sqlvm.cloudevent.json",
    "11-resourcehealth-sqlvm-02.alert.json",
    "12-sqlhosts-post-failed.cloudevent.json",
    "13-malformed-post-without-status.eventgrid.json",
    "14-sql-notice-R3KT-planned.alert.json",
    "16-sql-notice-R3KT-complete.alert.json",
    "17-sql-notice-R3KT-inprogress.alert.json",
    "22-malformed-unknown-event-type.eventgrid.json",
]
BODIES = {name: json.dumps(sample(name)) for name in DELIVERIES}
RESOURCES = [
    "/subscriptions/b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03/resourceGroups/rg-web-prod/providers/Microsoft.Compute/virtualMachines/vm-web-01",
    "/subscriptions/b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03/resourceGroups/rg-sqlvm-prod/providers/Microsoft.Compute/virtualMachines/vm-sqlvm-01",
    "/subscriptions/b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03/resourceGroups/rg-sqlvm-prod/providers/Microsoft.Compute/virtualMachines/vm-sqlvm-02",
]


def deliver(store: TableOutcomeStore, names: list[str]) -> None:
    for name in names:
        # the source names the delivery, as Event Grid's retries would not: rejections are keyed by content
        ingest_payload(BODIES[name], source=name, store=store, policy=IngestPolicy(), now=NOW)


def state(store: TableOutcomeStore) -> dict[str, Any]:
    return {
        "rows": store.snapshot(),
        "runs": store.list_runs("2026-10"),
        "health": [store.resource_health(r) for r in RESOURCES],
        "latest": [store.latest_health(r) for r in RESOURCES],
        "notices": store.list_notices(),
        "rejections": store.list_rejections("2026-10"),
    }


@pytest.fixture(scope="module")
def in_order(azurite: Azurite) -> dict[str, Any]:
    store = store_for(azurite.connection_string, "t" + uuid.uuid4().hex[:10])
    deliver(store, DELIVERIES)
    expected = state(store)
    store.drop_tables()
    assert len(expected["runs"]) == 2 and len(expected["rejections"]) == 2
    return expected


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    order=st.permutations(DELIVERIES),
    repeats=st.lists(st.sampled_from(DELIVERIES), max_size=6),
    positions=st.lists(st.integers(min_value=0), min_size=6, max_size=6),
)
def test_any_interleaving_and_duplication_converges_to_the_in_order_state(
    azurite: Azurite, in_order: dict[str, Any], order: list[str], repeats: list[str], positions: list[int]
) -> None:
    deliveries = list(order)
    for name, pos in zip(repeats, positions, strict=False):
        deliveries.insert(pos % (len(deliveries) + 1), name)
    store = store_for(azurite.connection_string, "t" + uuid.uuid4().hex[:10])
    try:
        deliver(store, deliveries)
        assert state(store) == in_order
    finally:
        store.drop_tables()
