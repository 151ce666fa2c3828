"""The report's summaries on Azure Table Storage: ``{prefix}summaries``.

PartitionKey = the cycle id ``YYYY-MM``; RowKey = ``cycle~NNN`` for what the whole cycle
brings (its runs and their machines, SQL notices, refusals) and ``g|{subscription}|{resource
group}~NNN`` for each resource group (its VMs' results, health, alerts, SQL resources,
assignments); see :mod:`shared.domain.report.summary`. Each summary is JSON, compressed
(zlib) and cut into binary properties ``D00``, ``D01``, ... of at most 64,000 bytes, up to
:data:`CHUNKS_PER_ROW` per entity (Azure Tables: 64 KiB per property, 1 MiB per entity);
a larger one continues in rows ``~001``, ``~002``... written in the same transaction (at
most 100 entities and 4 MiB), so a reader never sees half of one. Row ``~000`` holds
``Parts`` (how many rows), ``Version`` (:data:`~shared.domain.report.summary.SUMMARY_VERSION`)
and ``ComputedAt``.

A cycle's report reads its partition only: one query, whatever the history.

azure-data-tables is imported lazily.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.cycle_store import CLIENT_OPTIONS as CYCLE_CLIENT_OPTIONS
from shared.adapters.tables import TableClients, stored_instant, transient_faults
from shared.domain.report.summary import StoredSummary
from shared.limits import TABLE_ENTITY_BYTES

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.adapters.storage import StorageTarget

SUMMARIES = "summaries"
CHUNK_BYTES = 64_000  # a binary property holds 64 KiB
CHUNKS_PER_ROW = (TABLE_ENTITY_BYTES - 64 * 1024) // CHUNK_BYTES  # 15: keys and metadata fit beside them
BATCH_BYTES = 3_500_000  # a transaction carries at most 4 MiB

CLIENT_OPTIONS: Mapping[str, Any] = CYCLE_CLIENT_OPTIONS  # the same retries and timeouts as the cycle's tables


def encode(payload: Mapping[str, Any]) -> list[bytes]:
    packed = zlib.compress(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"), 6)
    return [packed[i : i + CHUNK_BYTES] for i in range(0, len(packed), CHUNK_BYTES)] or [b""]


def decode(chunks: list[bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(zlib.decompress(b"".join(chunks)).decode("utf-8"))
    return data


class SummaryTable:
    """Read and write one account's ``{prefix}summaries``."""

    def __init__(self, target: StorageTarget, prefix: str, client_options: Mapping[str, Any] | None = None) -> None:
        self.target = target
        self.table_name = f"{prefix}{SUMMARIES}"
        self._tables = TableClients(target, dict(CLIENT_OPTIONS if client_options is None else client_options))
        self._created = False

    def _table(self) -> TableClient:
        return self._tables.get(self.table_name)

    def _transient(self, what: str) -> contextlib.AbstractContextManager[None]:
        return transient_faults("report summaries", self.target, what)

    def read(self, cycle_id: str, only: str | None = None) -> dict[str, StoredSummary]:
        """Every summary of a cycle (``only``: just that one), by row name (``cycle``, ``g|…``):
        one query. A summary whose rows are not all there (or do not decode) is left out: it
        is recomputed."""
        from azure.core.exceptions import ResourceNotFoundError

        query, params = "PartitionKey eq @pk", {"pk": cycle_id}
        if only is not None:
            query += " and RowKey ge @lo and RowKey lt @hi"
            params.update(lo=f"{only}~", hi=f"{only}~:")  # ~000..~999 sort before "~:"
        with self._transient(f"read {self.table_name}"):
            try:
                rows = list(self._table().query_entities(query, parameters=params))
            except ResourceNotFoundError:
                return {}
        parts: dict[str, dict[int, Any]] = {}
        for row in rows:
            name, _, number = str(row["RowKey"]).rpartition("~")
            if number.isdigit():
                parts.setdefault(name, {})[int(number)] = row
        out: dict[str, StoredSummary] = {}
        for name, by_number in parts.items():
            head = by_number.get(0)
            if head is None:
                continue
            count = int(head.get("Parts") or 0)
            if any(n not in by_number or by_number[n].get("Stamp") != head.get("Stamp") for n in range(count)):
                continue
            chunks = [
                bytes(by_number[n][f"D{c:02d}"])
                for n in range(count)
                for c in range(int(by_number[n].get("Chunks") or 0))
            ]
            try:
                payload = decode(chunks)
            except (ValueError, zlib.error):
                continue
            out[name] = StoredSummary(payload, stored_instant(head.get("ComputedAt")), int(head.get("Version") or 0))
        return out

    def names(self, cycle_id: str) -> set[str]:
        """The summaries a cycle has (their row names), without their content."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._transient(f"read {self.table_name}"):
            try:
                rows = self._table().query_entities(
                    "PartitionKey eq @pk", parameters={"pk": cycle_id}, select=["RowKey"]
                )
                return {str(r["RowKey"]).rpartition("~")[0] for r in rows if str(r["RowKey"]).endswith("~000")}
            except ResourceNotFoundError:
                return set()

    def write(
        self, cycle_id: str, summaries: Mapping[str, Mapping[str, Any] | None], *, version: int, computed_at: datetime
    ) -> int:
        """Store summaries by row name; None deletes one. Each summary's rows go in one
        transaction. Returns the rows written."""
        from azure.core.exceptions import ResourceExistsError
        from azure.data.tables import UpdateMode

        if not self._created:
            with self._transient(f"create {self.table_name}"), contextlib.suppress(ResourceExistsError):
                self._table().create_table()
            self._created = True
        stamp = computed_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f")
        written = 0
        batch: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        size = 0

        def flush() -> None:
            nonlocal batch, size
            if batch:
                with self._transient(f"write {self.table_name}"):
                    self._table().submit_transaction(batch)
            batch, size = [], 0

        for name, payload in sorted(summaries.items()):
            if payload is None:
                self._delete(cycle_id, name)
                continue
            chunks = encode(payload)
            rows = []
            for n, i in enumerate(range(0, len(chunks), CHUNKS_PER_ROW)):
                part = chunks[i : i + CHUNKS_PER_ROW]
                entity: dict[str, Any] = {
                    "PartitionKey": cycle_id,
                    "RowKey": f"{name}~{n:03d}",
                    "Stamp": stamp,
                    "Chunks": len(part),
                    **{f"D{c:02d}": chunk for c, chunk in enumerate(part)},
                }
                rows.append(entity)
            rows[0].update(Parts=len(rows), Version=version, ComputedAt=computed_at.astimezone(UTC))
            bytes_ = sum(len(c) for c in chunks) + 1024 * len(rows)
            if len(batch) + len(rows) > 100 or size + bytes_ > BATCH_BYTES:
                flush()
            batch += [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in rows]
            size += bytes_
            written += len(rows)
        flush()
        return written

    def _delete(self, cycle_id: str, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with self._transient(f"delete from {self.table_name}"), contextlib.suppress(ResourceNotFoundError):
            self._table().delete_entity(cycle_id, f"{name}~000")

    def drop(self) -> None:
        with self._transient(f"delete {self.table_name}"), contextlib.suppress(Exception):
            self._table().delete_table()
