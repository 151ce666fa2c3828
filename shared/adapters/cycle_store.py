"""The patch cycle's state on Azure Table Storage (same account and prefix as the outcome store).

Tables (``{prefix}`` is ``OUTCOMES_TABLE_PREFIX``), PartitionKey / RowKey:

- ``{prefix}cycles``: ``cycle`` / the cycle id ``YYYY-MM`` — the claim, the current round,
  the deadline round, remediation counters; ``run`` / the run key — a maintenance run's
  verification or gate; ``action`` / an action key — follow-ups executed; ``rejected`` /
  time+id — queue messages that could not be used, with the reason.
- ``{prefix}cyclevms``: the scope (a cycle id, or ``run-…`` for a run's verification) /
  the VM key — the roster entry and the VM's assessment (and remediation) state and
  result in the scope's current round. One partition per scope: a cycle's roster is one
  query, every per-VM update is a point write with the entity's ETag.
- ``{prefix}findings``: the cycle id / ``{kind}|{vm key}`` — findings for alerting.

Every state change is a conditional write (insert-if-absent, or update-if-ETag-matches):
two instances racing for the same cycle, VM or action get one winner, the other sees
:data:`CONFLICT` and backs off. Transient storage faults raise
:class:`~shared.domain.outcomes.StoreUnavailableError` so the trigger fails and is retried.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.change_feed import ChangeFeed, Mark
from shared.adapters.storage import StorageTarget
from shared.adapters.tables import TableClients, transient_faults
from shared.config import Settings, settings
from shared.domain.events import storable_text
from shared.domain.hotpatch import Finding
from shared.limits import cut_utf16
from shared.services.ports import (
    ConflictError,
    Row,
    key,
    run_scope,  # noqa: F401 (the state port's key, importable from here too)
)

if TYPE_CHECKING:
    from azure.data.tables import TableClient

CYCLES, VMS, FINDINGS = "cycles", "cyclevms", "findings"
TABLES = (CYCLES, VMS, FINDINGS)
CLIENT_OPTIONS: Mapping[str, Any] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 4,
    "connection_timeout": 10,
    "read_timeout": 30,
}


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The VM-row columns the alert rules read (``shared/adapters/cycle_facts.vm_cycle_facts``):
# a write that touches none of them does not change what the watchdog knows.
FACT_COLUMNS = frozenset({"State", "FinishedUtc", "Result", "Reason", "IState", "IFinishedUtc", "IReason", "Vm"})
_SETTLED = {"succeeded": "ok", "completed-with-warnings": "ok", "failed": "failed", "not-assessable": "not-assessable"}


def change_marks(kind: str, entity: Mapping[str, Any], before: Mapping[str, Any] | None = None) -> list[Mark]:
    """The change-feed marks a write of ``entity`` to table ``kind`` calls for (none when
    it changes nothing the alert rules read). ``before``: the row an update merges into."""
    pk, rk = str(entity.get("PartitionKey", "")), str(entity.get("RowKey", ""))
    if kind == VMS:
        if pk.startswith("run-"):
            run = str(entity.get("RunId") or (before or {}).get("RunId") or "")
            return [Mark("run", run.lower())] if run else [Mark("runscope", pk)]
        rid = str(entity.get("ResourceId") or (before or {}).get("ResourceId") or "")
        if not rid:
            return []
        if before is not None:
            touched = FACT_COLUMNS & set(entity)
            if not touched:
                return []
            if touched == {"State"}:
                old, new = (_SETTLED.get(str(x.get("State") or ""), "pending") for x in (before, entity))
                if old == new:
                    return []
        return [Mark("vm", pk, rid.lower())]
    if kind == FINDINGS and entity.get("ResourceId"):
        return [Mark("vm", pk, str(entity["ResourceId"]).lower())]
    if kind == CYCLES and pk == "run":
        run = str(entity.get("CorrelationId") or (before or {}).get("CorrelationId") or "")
        return [Mark("run", run.lower())] if run else [Mark("runscope", rk)]
    return []


@dataclass
class CycleStore:
    target: StorageTarget
    prefix: str = "pw"
    client_options: Mapping[str, Any] = field(default_factory=lambda: dict(CLIENT_OPTIONS))
    _tables: TableClients = field(init=False, repr=False, compare=False)
    _ensured: bool = field(default=False, init=False, repr=False)
    _feed: ChangeFeed | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._tables = TableClients(self.target, self.client_options)

    @property
    def changes(self) -> ChangeFeed:
        """The change feed the watchdog reads: every write of a fact the rules read is marked."""
        if self._feed is None:
            self._feed = ChangeFeed(self.target, self.prefix, self.client_options, tables=self._tables)
        return self._feed

    def _mark(self, kind: str, entities: Iterable[Mapping[str, Any]], before: Mapping[str, Any] | None = None) -> None:
        marks = [m for e in entities for m in change_marks(kind, e, before)]
        if marks:
            self.changes.mark(marks)

    @classmethod
    def from_settings(cls, cfg: Settings | None = None) -> CycleStore:
        from shared.adapters.outcome_store import outcomes_target

        cfg = cfg or settings()
        return cls(outcomes_target(cfg), cfg["OUTCOMES_TABLE_PREFIX"])

    # -- plumbing ------------------------------------------------------------------------

    def table_name(self, kind: str) -> str:
        return f"{self.prefix}{kind}"

    def _table(self, kind: str) -> TableClient:
        return self._tables.get(self.table_name(kind))

    def _transient(self, what: str) -> contextlib.AbstractContextManager[None]:
        return transient_faults("cycle store", self.target, what)

    def ensure_tables(self) -> None:
        if self._ensured:
            return
        from azure.core.exceptions import ResourceExistsError

        for kind in TABLES:
            with self._transient(f"create {self.table_name(kind)}"), contextlib.suppress(ResourceExistsError):
                self._table(kind).create_table()
        self._ensured = True

    @staticmethod
    def _row(entity: Any) -> Row:
        return Row(dict(entity), entity.metadata["etag"])

    def get(self, kind: str, pk: str, rk: str) -> Row | None:
        from azure.core.exceptions import ResourceNotFoundError

        self.ensure_tables()  # a first run on an empty account reads tables that exist

        with self._transient(f"read {self.table_name(kind)}"):
            try:
                return self._row(self._table(kind).get_entity(pk, rk))
            except ResourceNotFoundError:
                return None

    def insert(self, kind: str, entity: dict[str, Any]) -> Row:
        """Insert if absent; :class:`ConflictError` if the row exists."""
        from azure.core.exceptions import ResourceExistsError

        self.ensure_tables()
        with self._transient(f"write {self.table_name(kind)}"):
            try:
                meta = self._table(kind).create_entity(entity)
            except ResourceExistsError:
                raise ConflictError(f"{entity['PartitionKey']}/{entity['RowKey']} exists") from None
        self._mark(kind, [entity])
        return Row(dict(entity), meta["etag"])

    def update(self, kind: str, row: Row, changes: Mapping[str, Any]) -> Row:
        """Merge ``changes`` into ``row`` if nobody changed it since it was read; :class:`ConflictError` otherwise."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], **changes}
        with self._transient(f"update {self.table_name(kind)}"):
            try:
                meta = self._table(kind).update_entity(
                    entity, mode=UpdateMode.MERGE, etag=row.etag, match_condition=MatchConditions.IfNotModified
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                raise ConflictError(f"{row['PartitionKey']}/{row['RowKey']} changed meanwhile") from None
            except Exception as exc:
                if getattr(exc, "status_code", None) == 412:
                    raise ConflictError(f"{row['PartitionKey']}/{row['RowKey']} changed meanwhile") from None
                raise
        self._mark(kind, [entity], before=row.data)
        return Row({**row.data, **changes}, meta["etag"])

    def upsert(self, kind: str, entity: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        self.ensure_tables()
        with self._transient(f"write {self.table_name(kind)}"):
            self._table(kind).upsert_entity(entity, mode=UpdateMode.MERGE)
        self._mark(kind, [entity])

    def query(self, kind: str, filter_: str, parameters: dict[str, Any] | None = None) -> list[Row]:
        from azure.core.exceptions import ResourceNotFoundError

        self.ensure_tables()  # a first run on an empty account reads tables that exist

        with self._transient(f"read {self.table_name(kind)}"):
            try:
                return [self._row(e) for e in self._table(kind).query_entities(filter_, parameters=parameters or {})]
            except ResourceNotFoundError:
                return []

    def batch_upsert(self, kind: str, entities: Iterable[dict[str, Any]]) -> int:
        """Upsert (merge) in transactions of up to 100 per partition."""
        from azure.data.tables import UpdateMode

        self.ensure_tables()
        by_pk: dict[str, list[dict[str, Any]]] = {}
        for e in entities:
            by_pk.setdefault(e["PartitionKey"], []).append(e)
        n = 0
        for group in by_pk.values():
            for i in range(0, len(group), 100):
                chunk = group[i : i + 100]
                with self._transient(f"write {self.table_name(kind)}"):
                    self._table(kind).submit_transaction([("upsert", e, {"mode": UpdateMode.MERGE}) for e in chunk])
                n += len(chunk)
                self._mark(kind, chunk)
        return n

    # -- cycles ------------------------------------------------------------------------------

    def cycle(self, cycle_id: str) -> Row | None:
        self.ensure_tables()
        return self.get(CYCLES, "cycle", cycle_id)

    def vm_rows(self, scope: str) -> list[Row]:
        return self.query(VMS, "PartitionKey eq @pk", {"pk": scope})

    def vm_row(self, scope: str, vm_key: str) -> Row | None:
        return self.get(VMS, scope, key(vm_key))

    # -- findings --------------------------------------------------------------------------

    @staticmethod
    def finding_entity(f: Finding) -> dict[str, Any]:
        from shared.domain.fleet import vm_key

        return {
            "PartitionKey": f.cycle_id,
            "RowKey": key(f"{f.kind}|{vm_key(f.resource_id)}"),
            "Kind": f.kind,
            "ResourceId": f.resource_id,
            "CycleId": f.cycle_id,
            "Severity": f.severity,
            "Message": f.message[:30000],
            "ObservedUtc": f.observed_utc,
            "State": f.state,
            "RunId": f.run_id,
            "Details": json.dumps(f.details, sort_keys=True),
        }

    @staticmethod
    def finding_of(row: Row) -> Finding:
        return Finding(
            kind=row["Kind"],
            resource_id=row["ResourceId"],
            cycle_id=row["CycleId"],
            severity=row["Severity"],
            message=row["Message"],
            observed_utc=row["ObservedUtc"],
            state=row.get("State", "open"),
            run_id=row.get("RunId", "") or "",
            details=row.json("Details") or {},
        )

    def put_findings(self, findings: Iterable[Finding]) -> int:
        entities = [self.finding_entity(f) for f in findings]
        return self.batch_upsert(FINDINGS, entities) if entities else 0

    def findings(self, cycle_id: str, *, state: str | None = None) -> list[Finding]:
        """A cycle's findings (``state``: ``open`` or ``resolved``), for the alerting side."""
        rows = self.query(FINDINGS, "PartitionKey eq @pk", {"pk": cycle_id})
        out = [self.finding_of(r) for r in rows]
        return [f for f in out if state is None or f.state == state]

    def findings_for(self, cycle_id: str, resource_id: str, kinds: Iterable[str]) -> list[Finding]:
        """One VM's recorded findings of ``kinds`` in a cycle: one point query."""
        from shared.domain.fleet import vm_key

        vk = vm_key(resource_id)
        params: dict[str, Any] = {"pk": cycle_id}
        terms = []
        for i, kind in enumerate(sorted(kinds)):
            params[f"k{i}"] = key(f"{kind}|{vk}")
            terms.append(f"RowKey eq @k{i}")
        if not terms:
            return []
        # spaces around the parentheses: the SDK's @parameter substitution splits on spaces
        rows = self.query(FINDINGS, f"PartitionKey eq @pk and ( {' or '.join(terms)} )", params)
        return [self.finding_of(r) for r in rows]

    # -- rejected messages -------------------------------------------------------------------

    def reject(self, source: str, reason: str, raw: str, now: datetime) -> None:
        self.upsert(
            CYCLES,
            {
                "PartitionKey": "rejected",
                "RowKey": f"{utc_text(now)}|{uuid.uuid4().hex[:8]}",
                "Source": cut_utf16(storable_text(source), 1000),
                "Reason": cut_utf16(storable_text(reason), 30_000),
                "Raw": cut_utf16(storable_text(raw), 30_000),
            },
        )

    def rejections(self) -> list[Row]:
        return self.query(CYCLES, "PartitionKey eq @pk", {"pk": "rejected"})

    def drop_tables(self) -> None:
        for kind in TABLES:
            with self._transient(f"delete {self.table_name(kind)}"), contextlib.suppress(Exception):
                self._table(kind).delete_table()
