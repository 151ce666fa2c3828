"""The outcome store and the report/watchdog match a Service Health notice to a region the
same way, however the region is written (display name, ARM name, ``_`` or ``-``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from shared.adapters.outcome_store import TableOutcomeStore
from shared.domain.outcomes import notice_resources
from shared.services.ingest import IngestPolicy, ingest_payload
from tests.support.events import sample, store_for

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)
NOTICE = "30-sql-notice-K9PX-planned.alert.json"  # impactedRegions: East US 2, Central US; SQL Database
SUB = "/subscriptions/d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52"
FORMS = ("East US 2", "eastus2", "EASTUS2", "east_us_2", "east-us-2", "East-US-2")


@dataclass(frozen=True)
class Sql:
    resource_id: str
    location: str
    kind: str = "database"


@pytest.fixture
def store(storage_connection: str, unique_prefix: str) -> Iterator[TableOutcomeStore]:
    s = store_for(storage_connection, unique_prefix)
    yield s
    s.drop_tables()


def test_store_and_report_agree_on_every_form_of_a_region(store: TableOutcomeStore) -> None:
    ingest_payload(json.dumps(sample(NOTICE)), source=NOTICE, store=store, policy=IngestPolicy(), now=NOW)
    (notice,) = store.list_notices()
    for form in FORMS:
        assert [n.tracking_id for n in store.list_notices(region=form)] == ["K9PX-3Z8"], form
        database = Sql(f"{SUB}/resourceGroups/rg/providers/Microsoft.Sql/servers/s/databases/{form}", form)
        assert notice_resources(notice, [database]) == [database], form
    elsewhere = Sql(f"{SUB}/resourceGroups/rg/providers/Microsoft.Sql/servers/s/databases/w", "West Europe")
    assert store.list_notices(region="West Europe") == []
    assert notice_resources(notice, [elsewhere]) == []
