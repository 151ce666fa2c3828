"""Event throughput: 2,000 events through the recording service (decode, validate,
normalise, one conditional insert) into Azurite, against 2,000 plain single-entity
inserts into Azurite, in the same run.

The events are a month's mix: health changes (most of the volume), maintenance pre and
post events (Event Grid and CloudEvents) and SQL maintenance notices (common alert
schema), each posted as its own body. The two workloads alternate in blocks of 100 so
that noise on a shared machine hits both alike. Every HTTP request the store sends is
counted. A second pass delivers every event again (all duplicates).

Last line: ``{"bench": "event_throughput", "ratio": R, ...}`` with R = pipeline time /
plain insert time. Target: R <= 1.5.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.adapters.azurite import running_azurite  # noqa: E402
from shared.adapters.outcome_store import FUNCTION_CLIENT_OPTIONS, TableOutcomeStore  # noqa: E402
from shared.adapters.storage import resolve_target, table_service  # noqa: E402
from shared.services.ingest import IngestPolicy, Outcome, ingest_payload  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "2000"))
BLOCK = 100
SAMPLES = ROOT / "samples" / "events"
NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)


def _load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def make_events(n: int) -> list[bytes]:
    """``n`` distinct bodies: 70% health changes, 20% maintenance events, 10% notices."""
    health = _load("05-health-web-01-recovered.eventgrid.json")[0]
    pre = _load("04-web-sat-pre.eventgrid.json")[0]
    post_ce = _load("12-sqlhosts-post-failed.cloudevent.json")[0]
    notice = _load("14-sql-notice-R3KT-planned.alert.json")
    base = datetime(2026, 10, 1, tzinfo=UTC)
    out: list[bytes] = []
    for i in range(n):
        kind = i % 10
        if kind < 7:
            e = copy.deepcopy(health)
            e["id"] = str(uuid.uuid4())
            vm = f"/subscriptions/b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03/resourceGroups/rg-web-prod/providers/Microsoft.Compute/virtualMachines/vm-web-{i % 300:03d}"
            props = e["data"]["resourceInfo"]["properties"]
            props["targetResourceId"] = e["subject"] = vm
            props["occurredTime"] = (base + timedelta(seconds=37 * i)).isoformat().replace("+00:00", "Z")
            body: Any = [e]
        elif kind < 9:
            e = copy.deepcopy(pre if kind == 7 else post_ce)
            start = base + timedelta(hours=i)
            run_id = e["data"]["maintenanceConfigurationId"] + "/providers/microsoft.maintenance/applyupdates/"
            run_id += start.strftime("%Y%m%d%H%M%S")
            e["id"] = e["data"]["correlationId"] = run_id
            e["data"]["startDateTime"] = start.isoformat().replace("+00:00", "Z")
            e["data"]["endDateTime"] = (start + timedelta(hours=3)).isoformat().replace("+00:00", "Z")
            if "cancellationCutOffDateTime" in e["data"]:
                e["data"]["cancellationCutOffDateTime"] = (
                    (start - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
                )
            body = [e]
        else:
            body = copy.deepcopy(notice)
            body["data"]["alertContext"]["eventDataId"] = str(uuid.uuid4())
            body["data"]["alertContext"]["properties"]["trackingId"] = f"B{i:03d}-X{i % 7}Z"
        out.append(json.dumps(body).encode())
    return out


def main() -> None:
    events = make_events(EVENTS + BLOCK)
    warmup, events = events[:BLOCK], events[BLOCK:]
    requests = {"n": 0}

    def count(_request: Any) -> None:
        requests["n"] += 1

    with running_azurite() as az:
        target = resolve_target(az.connection_string)
        store = TableOutcomeStore(target, "bench", {**FUNCTION_CLIENT_OPTIONS, "raw_request_hook": count})
        store.ensure_tables()
        plain = table_service(target, **FUNCTION_CLIENT_OPTIONS).get_table_client("benchplain")
        plain.create_table()
        policy = IngestPolicy()

        def pipeline_block(bodies: list[bytes]) -> float:
            t = time.perf_counter()
            for body in bodies:
                (result,) = ingest_payload(body, source="bench", store=store, policy=policy, now=NOW)
                assert result.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE), result.reason
            return time.perf_counter() - t

        def plain_block(start: int, count_: int) -> float:
            t = time.perf_counter()
            for i in range(start, start + count_):
                plain.create_entity({"PartitionKey": f"p{i % 300:03d}", "RowKey": f"{i:08d}", "Value": "x" * 64})
            return time.perf_counter() - t

        pipeline_block(warmup)
        plain_block(10**7, BLOCK)
        requests["n"] = 0

        pipeline_s = plain_s = 0.0
        for b in range(0, len(events), BLOCK):
            pipeline_s += pipeline_block(events[b : b + BLOCK])
            plain_s += plain_block(b, min(BLOCK, len(events) - b))
        first_requests = requests["n"]

        requests["n"] = 0
        duplicate_s = pipeline_block(events)
        duplicate_requests = requests["n"]
        accepted = sum(len(rows) for rows in store.snapshot().values()) - len(warmup)

    ratio = pipeline_s / plain_s
    print(
        f"pipeline: {len(events)} events in {pipeline_s:.2f} s ({len(events) / pipeline_s:.0f}/s), "
        f"{first_requests / len(events):.2f} storage requests per event, {accepted} facts stored"
    )
    print(f"plain inserts: {len(events)} entities in {plain_s:.2f} s ({len(events) / plain_s:.0f}/s)")
    print(
        f"redelivery of all {len(events)} (duplicates): {duplicate_s:.2f} s, "
        f"{duplicate_requests / len(events):.2f} requests per event"
    )
    print(
        json.dumps(
            {
                "bench": "event_throughput",
                "ratio": round(ratio, 3),
                "events": len(events),
                "pipeline_s": round(pipeline_s, 3),
                "plain_s": round(plain_s, 3),
                "pipeline_per_s": round(len(events) / pipeline_s, 1),
                "plain_per_s": round(len(events) / plain_s, 1),
                "requests_per_event": round(first_requests / len(events), 3),
                "duplicate_requests_per_event": round(duplicate_requests / len(events), 3),
                "duplicate_ratio": round(duplicate_s / plain_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
