"""The outcome store on Azure Table Storage: facts in, folded outcomes out.

Every accepted event is ONE insert of one immutable *fact* entity (its normalised
fields plus the raw event) into the table of its aggregate, under keys derived from the
event alone. A redelivery computes the same keys, so its insert conflicts (409) and is
reported as a duplicate: one storage round trip per event, duplicate or not, and never
a read-modify-write. No aggregate row is ever updated, so concurrent writers cannot
overwrite one another (the conditional insert is the concurrency control); the state
of a run, a notice or a resource is folded from its facts on read
(:mod:`shared.domain.outcomes`), which makes it independent of delivery order.

Tables (``{prefix}`` is ``OUTCOMES_TABLE_PREFIX``, default ``pw``), PartitionKey / RowKey:

- ``{prefix}runs``: the run's month ``YYYY-MM`` (from the correlation id's timestamp) /
  ``{correlation id}|pre`` or ``|post``.
- ``{prefix}health``: the resource id / ``{newest-first time}|{kind}|{event id}``.
- ``{prefix}notices``: the tracking id / ``{event time}|{event id}``.
- ``{prefix}rejections``: the month received ``YYYY-MM`` / sha256 of the refused text.
- ``{prefix}givenup``: as ``rejections``, for queue messages the host gave up on (work
  that failed, not input refused at a door); :meth:`list_rejections` shows both.
- ``{prefix}ids``: the event type / the event id: one row per health event and notice,
  written before its fact, so that an id is recorded once whatever its timestamps
  (runs need none: their fact's keys are a function of type and id already).

Same (type, id), other content: the insert conflicts, the stored row's content digest
differs, and :class:`~shared.domain.outcomes.FactConflictError` names the columns that differ
(ingest records it as a refusal). Same content: a duplicate.

A row that does not decode (written by an older version, or edited by hand) is
quarantined: skipped, logged and recorded as a refusal (source ``store:{table}``), so
one row never stops a read.

Access paths: a run is one range query in its month's partition; a month's (a
cycle's) runs are one partition; a resource's history is one partition, newest first,
so its latest state is the first row; a notice's stages are one partition. Key values
are lower-cased where Azure treats them case-insensitively (resource ids) and escaped:
Table keys forbid ``/ \\ # ?`` and control characters, so those (and ``%`` and the
separator ``|`` and the digest mark ``~``) become ``%XX``; an escaped key longer than
:data:`~shared.limits.ESCAPED_KEY_UTF16` UTF-16 characters becomes a readable prefix,
``~`` and the sha256 of the whole value (injective: only such keys hold a ``~``).

azure-data-tables is imported lazily (cold start).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from shared.adapters.change_feed import ChangeFeed, Mark
from shared.adapters.storage import StorageTarget, app_storage_target, resolve_target, storage_suffix
from shared.adapters.tables import TableClients, transient_faults
from shared.config import Settings, settings
from shared.domain.calendar import YearMonth
from shared.domain.events import (
    AVAILABILITY_STATUS_CHANGED,
    RESOURCE_ANNOTATED,
    DomainEvent,
    HealthEvent,
    MaintenanceEvent,
    ResourceHealthAlert,
    SqlMaintenanceNotice,
    as_utc,
    event_from_record,
    run_start_of,
    storable_text,
    subscription_of,
)
from shared.domain.outcomes import (
    FactConflictError,
    HealthChange,
    NoticeOutcome,
    Rejection,
    ResourceHealth,
    RunOutcome,
    fold_health,
    fold_notice,
    fold_notices,
    fold_run,
    fold_runs,
    health_change,
    health_history,
)
from shared.domain.region import region_key
from shared.limits import ESCAPED_KEY_UTF16, MAX_TEXT_UTF16, TABLE_ENTITY_BYTES, utf16_units

if TYPE_CHECKING:
    from azure.data.tables import TableClient

RUNS, HEALTH, NOTICES, REJECTIONS, IDS, GIVEN_UP = "runs", "health", "notices", "rejections", "ids", "givenup"
TABLES = (RUNS, HEALTH, NOTICES, REJECTIONS, IDS, GIVEN_UP)
EVENT_TABLES = (RUNS, HEALTH, NOTICES, REJECTIONS, IDS)

log = logging.getLogger("patchwatch.store")

_UNSAFE_KEY_CHARS = re.compile(r"[/\\#?%|~\x00-\x1f\x7f-\x9f]")
RAW_TEXT_LIMIT = MAX_TEXT_UTF16  # a string property holds 64 KiB of UTF-16
RAW_CHUNK_BYTES = 64_000  # a binary property holds 64 KiB
ENTITY_MARGIN = 16 * 1024  # what the service adds (Timestamp, ETag) and rounding
REJECTED_RAW_LIMIT = 16_000

# Functions: fail within seconds so Event Grid redelivers later, rather than hold the
# invocation through azure-core's default 10 retries with up to 2 minutes' back-off.
FUNCTION_CLIENT_OPTIONS: Mapping[str, Any] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 4,
    "connection_timeout": 10,
    "read_timeout": 30,
}
# A command line probing whether the store is there at all: one try, a short wait.
PROBE_CLIENT_OPTIONS: Mapping[str, Any] = {"retry_total": 0, "connection_timeout": 3, "read_timeout": 10}

_MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - datetime(1, 1, 1, tzinfo=UTC)) // timedelta(
    microseconds=1
)
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def escape_key(text: str) -> str:
    """A Table-safe key for ``text``, injective: short values escaped (no ``~`` left in
    them), long ones a readable prefix, ``~`` and the sha256 of the whole value."""
    out = _UNSAFE_KEY_CHARS.sub(lambda m: f"%{ord(m.group()):02X}", text)
    if utf16_units(out) <= ESCAPED_KEY_UTF16:
        return out
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    budget, cut = ESCAPED_KEY_UTF16 - len(digest) - 1, 0
    for ch in out:
        budget -= 2 if ord(ch) > 0xFFFF else 1
        if budget < 0:
            break
        cut += 1
    return out[:cut] + "~" + digest


def entity_size(entity: Mapping[str, Any]) -> int:
    """An entity's size as Azure Tables counts it ("Understanding the Table service data
    model": 4 bytes + keys in UTF-16 + for each property 8 bytes + its name in UTF-16 +
    its value: strings 4 + UTF-16, binary 4 + bytes, 8 for dates, numbers and the rest)."""
    size = 4
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey"):
            size += 2 * utf16_units(str(value))
            continue
        size += 8 + 2 * utf16_units(name)
        if isinstance(value, str):
            size += 4 + 2 * utf16_units(value)
        elif isinstance(value, bytes | bytearray):
            size += 4 + len(value)
        else:
            size += 8
    return size


NOT_CONTENT = frozenset({"Schema"})
"""Columns that say how an event came, not what it says (the same event in the Event Grid
and the CloudEvents schema is the same event)."""


def content_digest(record: Mapping[str, Any]) -> str:
    """sha256 of a fact's normalised columns (what a conflict is judged by)."""
    content = {k: v for k, v in record.items() if v is not None and k not in NOT_CONTENT}
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _micros(instant: datetime) -> int:
    return (instant.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def ascending_time_key(instant: datetime) -> str:
    return f"{_micros(instant):018d}"


def descending_time_key(instant: datetime) -> str:
    """Sorts newest first (Table queries return rows in ascending key order)."""
    return f"{_MAX_MICROS - _micros(instant):018d}"


def _month(value: YearMonth | str) -> str:
    return str(YearMonth.parse(str(value)))


def pack_raw(raw: str, budget: int = TABLE_ENTITY_BYTES - ENTITY_MARGIN) -> dict[str, Any]:
    """The raw event as entity properties within ``budget`` bytes (what the entity's other
    properties leave of 1 MiB): a string when it fits one, else zlib chunks, else a note
    of its size and digest."""
    raw = storable_text(raw)
    if utf16_units(raw) <= RAW_TEXT_LIMIT and entity_size({"Raw": raw}) <= budget:
        return {"Raw": raw}
    packed = zlib.compress(raw.encode("utf-8"), 6)
    chunks = {
        f"RawZ{i // RAW_CHUNK_BYTES:02d}": packed[i : i + RAW_CHUNK_BYTES]
        for i in range(0, len(packed), RAW_CHUNK_BYTES)
    }
    if len(chunks) <= 99 and entity_size(chunks) <= budget:
        return chunks
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    return {"RawOmitted": f"{len(raw.encode('utf-8')):,} bytes, sha256 {digest}: too large to keep"}


def unpack_raw(entity: Mapping[str, Any]) -> str | None:
    if entity.get("Raw") is not None:
        return str(entity["Raw"])
    chunks = [bytes(entity[k]) for k in sorted(k for k in entity if re.fullmatch(r"RawZ\d\d", k))]
    return zlib.decompress(b"".join(chunks)).decode("utf-8") if chunks else None


@dataclass(frozen=True)
class FactKeys:
    table: str
    partition_key: str
    row_key: str


def id_keys(event: DomainEvent) -> FactKeys | None:
    """The row in ``ids`` that makes (type, id) unique, for facts whose keys hold more
    than type and id (health events and notices); None for runs."""
    if isinstance(event, MaintenanceEvent):
        return None
    return FactKeys(IDS, escape_key(event.event_type), escape_key(event.event_id))


def change_mark(event: DomainEvent) -> Mark:
    """The change-feed scope an event's fact belongs to."""
    if isinstance(event, MaintenanceEvent):
        return Mark("run", event.correlation_id.lower())
    if isinstance(event, SqlMaintenanceNotice):
        return Mark("notice", event.tracking_id.upper())
    return Mark("health", event.resource_id.lower())


def fact_keys(event: DomainEvent) -> FactKeys:
    """Where an event's fact lives: a function of the event alone (so a redelivery
    lands on the same row)."""
    if isinstance(event, MaintenanceEvent):
        return FactKeys(RUNS, event.month, f"{escape_key(event.run_key)}|{event.phase.value}")
    if isinstance(event, SqlMaintenanceNotice):
        return FactKeys(
            NOTICES,
            escape_key(event.notice_key),
            f"{ascending_time_key(event.event_time)}|{escape_key(event.event_id)}",
        )
    kind = {AVAILABILITY_STATUS_CHANGED: "a", RESOURCE_ANNOTATED: "n"}.get(event.event_type, "r")
    return FactKeys(
        HEALTH,
        escape_key(event.resource_key),
        f"{descending_time_key(event.occurred)}|{kind}|{escape_key(event.event_id)}",
    )


@dataclass
class TableOutcomeStore:
    """Outcome store over one storage account's Table service.

    Write side (used by :mod:`shared.services.ingest`): :meth:`record`,
    :meth:`record_rejection`. Read side, stable for the alerting and cycle work:
    :meth:`get_run`, :meth:`list_runs`, :meth:`runs_between`, :meth:`health_history`,
    :meth:`latest_health`, :meth:`resource_health`, :meth:`list_resource_health`,
    :meth:`get_notice`, :meth:`list_notices`, :meth:`notices_for_resource`, :meth:`list_rejections`,
    :meth:`raw_event`. Transient faults raise :class:`StoreUnavailableError`; reads of
    tables that do not exist yet return nothing.
    """

    target: StorageTarget
    prefix: str = "pw"
    client_options: Mapping[str, Any] = field(default_factory=lambda: dict(FUNCTION_CLIENT_OPTIONS))
    _tables: TableClients = field(init=False, repr=False, compare=False)
    _ensured: bool = field(default=False, init=False, repr=False, compare=False)
    _feed: ChangeFeed | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,40}", self.prefix):
            raise ValueError(
                f"OUTCOMES_TABLE_PREFIX must be letters and digits, starting with a letter: {self.prefix!r}"
            )
        self._tables = TableClients(self.target, self.client_options)

    # -- plumbing --------------------------------------------------------------------

    def table_name(self, kind: str) -> str:
        return f"{self.prefix}{kind}"

    def describe(self) -> str:
        return self.target.describe()

    def _table(self, kind: str) -> TableClient:
        return self._tables.get(self.table_name(kind))

    def _transient(self, what: str) -> contextlib.AbstractContextManager[None]:
        return transient_faults("outcome store", self.target, what)

    def ensure_tables(self, kinds: tuple[str, ...] = EVENT_TABLES) -> None:
        """Create the tables that are missing (idempotent). Also a reachability probe.
        The events' tables by default; ``givenup`` is made by the first message given up."""
        from azure.core.exceptions import ResourceExistsError

        for kind in kinds:
            with self._transient(f"create table {self.table_name(kind)}"), contextlib.suppress(ResourceExistsError):
                self._table(kind).create_table()
        if kinds == EVENT_TABLES:
            self.changes.ensure_table()
            self._ensured = True

    def _ensure_once(self) -> None:
        """Before this process's first read: make the event tables, so that a first run on an
        empty account queries tables that exist (no 404 TableNotFound in the logs)."""
        if not self._ensured:
            self.ensure_tables()

    def _insert(self, kind: str, entity: dict[str, Any]) -> bool:
        """True when inserted, False when the row was already there (a duplicate)."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        table = self._table(kind)
        for attempt in (1, 2):
            with self._transient(f"write to {self.table_name(kind)}"):
                try:
                    table.create_entity(entity)
                    return True
                except ResourceExistsError:
                    return False
                except ResourceNotFoundError:
                    if attempt == 2:
                        raise
            self.ensure_tables((kind,))  # first write into a new account: create, then insert again
        raise AssertionError("unreachable")

    def _query(
        self, kind: str, query: str | None = None, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rows matching ``query`` (every row when None); a table not created yet has none."""
        from azure.core.exceptions import ResourceNotFoundError

        if kind in EVENT_TABLES:
            self._ensure_once()
        with self._transient(f"read {self.table_name(kind)}"):
            try:
                table = self._table(kind)
                rows = table.query_entities(query, parameters=parameters or {}) if query else table.list_entities()
                return [dict(e) for e in rows]
            except ResourceNotFoundError:
                return []

    # -- write side ------------------------------------------------------------------

    @property
    def changes(self) -> ChangeFeed:
        """The change feed the watchdog reads (``shared/adapters/change_feed.py``)."""
        if self._feed is None:
            self._feed = ChangeFeed(self.target, self.prefix, self.client_options, tables=self._tables)
        return self._feed

    def record(self, event: DomainEvent, raw: str, received_at: datetime) -> bool:
        """Record an accepted event: True if new, False if it was already recorded.
        Raises :class:`FactConflictError` when the same (type, id) was recorded with other content.

        New or duplicate, the event's scope is then marked in the change feed (a crash
        between the fact and its mark is healed by the redelivery)."""
        new = self._record(event, raw, received_at)
        self.changes.mark([change_mark(event)])
        return new

    def _record(self, event: DomainEvent, raw: str, received_at: datetime) -> bool:
        keys = fact_keys(event)
        record = event.to_record()
        digest = content_digest(record)
        entity: dict[str, Any] = {"PartitionKey": keys.partition_key, "RowKey": keys.row_key}
        entity.update((k, v) for k, v in record.items() if v is not None)
        entity["ReceivedAt"] = received_at.astimezone(UTC)
        entity["Digest"] = digest
        entity.update(pack_raw(raw, TABLE_ENTITY_BYTES - ENTITY_MARGIN - entity_size(entity)))
        claim = id_keys(event)
        if claim is not None:
            claimed = self._insert(
                IDS,
                {
                    "PartitionKey": claim.partition_key,
                    "RowKey": claim.row_key,
                    "Digest": digest,
                    "FactTable": keys.table,
                    "FactPartition": keys.partition_key,
                    "FactRow": keys.row_key,
                },
            )
            if not claimed:
                self._same_content(claim, digest, record)
            # after a crash between the two inserts, a redelivery completes the fact here
            return self._insert(keys.table, entity)
        if self._insert(keys.table, entity):
            return True
        self._same_content(keys, digest, record)
        return False

    def _get(self, keys: FactKeys) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        self._ensure_once()
        with self._transient(f"read {self.table_name(keys.table)}"):
            try:
                return dict(self._table(keys.table).get_entity(keys.partition_key, keys.row_key))
            except ResourceNotFoundError:
                return None

    def _same_content(self, keys: FactKeys, digest: str, record: Mapping[str, Any]) -> None:
        """Raise :class:`FactConflictError` unless the recorded row has the same content."""
        row = self._get(keys)
        if row is None or row.get("Digest") in (None, digest):
            return
        fact = row
        if keys.table == IDS:
            fact = self._get(FactKeys(row["FactTable"], row["FactPartition"], row["FactRow"])) or {}
        differs = sorted(
            column
            for column, value in record.items()
            if _comparable(fact.get(column)) != _comparable(value) and column not in NOT_CONTENT
        )
        raise FactConflictError(differs or ["(the row's digest)"])

    def record_rejection(self, rejection: Rejection, *, table: str = REJECTIONS) -> bool:
        """Record a refusal: True if new, False if the same text was refused already this month."""
        entity = {
            "PartitionKey": rejection.received_at.astimezone(UTC).strftime("%Y-%m"),
            "RowKey": rejection.digest,
            "Source": storable_text(rejection.source[:1000]),
            "Field": storable_text(rejection.field[:1000]),
            "Problem": storable_text(rejection.problem[:REJECTED_RAW_LIMIT]),
            "ReceivedAt": rejection.received_at.astimezone(UTC),
            "RawSize": rejection.raw_size,
            "Raw": storable_text(rejection.raw[:REJECTED_RAW_LIMIT]),
        }
        return self._insert(table, entity)

    def record_given_up(self, rejection: Rejection) -> bool:
        """Record a queue message the host gave up on (shown with the refusals)."""
        return self.record_rejection(rejection, table=GIVEN_UP)

    def _decoded(self, kind: str, rows: list[dict[str, Any]], decode: Any) -> list[Any]:
        """Each row decoded; a row that does not decode is quarantined (logged, recorded as
        a refusal, skipped), so that one row never stops a read."""
        out = []
        for row in rows:
            try:
                out.append(decode(row))
            except Exception as exc:  # any fault of one row's content
                self._quarantine(kind, row, exc)
        return out

    def _quarantine(self, kind: str, row: Mapping[str, Any], exc: Exception) -> None:
        where = f"{row.get('PartitionKey')}/{row.get('RowKey')}"
        problem = f"quarantined: the row does not decode ({type(exc).__name__}: {str(exc)[:500]})"
        log.error("outcome store: row %s of %s %s; skipped", where, self.table_name(kind), problem)
        if kind == REJECTIONS:
            return
        try:
            self.record_quarantined(self.table_name(kind), where, problem, json.dumps(row, default=str))
        except Exception:
            log.exception("outcome store: could not record the quarantined row %s", where)

    def record_quarantined(self, table: str, where: str, problem: str, raw: str = "") -> bool:
        """Show a row that does not decode (of any of this account's tables) with the refusals."""
        return self.record_rejection(
            Rejection(
                source=f"store:{table}",
                field=where,
                problem=problem,
                received_at=datetime.now(UTC),
                raw=raw[:REJECTED_RAW_LIMIT],
                raw_size=len(raw.encode("utf-8", "surrogatepass")),
                digest=hashlib.sha256(f"{table}|{where}".encode("utf-8", "surrogatepass")).hexdigest(),
            )
        )

    # -- read side: maintenance runs ---------------------------------------------------

    def run_events(self, correlation_id: str) -> list[MaintenanceEvent]:
        """The recorded pre/post events of one run (0, 1 or 2)."""
        try:
            month = run_start_of(correlation_id).strftime("%Y-%m")
        except ValueError:
            return []
        prefix = escape_key(correlation_id.lower()) + "|"
        rows = self._query(
            RUNS,
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": month, "lo": prefix, "hi": prefix[:-1] + "}"},  # "}" follows "|"
        )
        return self._decoded(RUNS, rows, MaintenanceEvent.from_record)

    def get_run(self, correlation_id: str) -> RunOutcome | None:
        events = self.run_events(correlation_id)
        return fold_run(events) if events else None

    def list_runs(self, month: YearMonth | str) -> list[RunOutcome]:
        """Every run scheduled to start in ``month`` (UTC), in order of start."""
        rows = self._query(RUNS, "PartitionKey eq @pk", {"pk": _month(month)})
        return fold_runs(self._decoded(RUNS, rows, MaintenanceEvent.from_record))

    def runs_between(self, start: datetime, end: datetime) -> list[RunOutcome]:
        """Runs scheduled to start in ``[start, end)``: e.g. a patch cycle, release to release."""
        month, last = YearMonth(start.year, start.month), YearMonth(end.year, end.month)
        runs: list[RunOutcome] = []
        while month <= last:
            runs.extend(r for r in self.list_runs(month) if start <= r.run_start < end)
            month = month.next()
        return runs

    # -- read side: health ---------------------------------------------------------------

    def health_events(
        self, resource_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[HealthEvent | ResourceHealthAlert]:
        """A resource's recorded health signals that occurred in ``[since, until)``, newest first."""
        query, params = "PartitionKey eq @pk", {"pk": escape_key(resource_id.lower())}
        if until is not None:
            query += " and RowKey ge @newest"
            params["newest"] = f"{_MAX_MICROS - _micros(until) + 1:018d}"
        if since is not None:
            query += " and RowKey lt @oldest"
            params["oldest"] = f"{_MAX_MICROS - _micros(since) + 1:018d}"
        events = self._decoded(HEALTH, self._query(HEALTH, query, params), event_from_record)
        return [e for e in events if isinstance(e, HealthEvent | ResourceHealthAlert)]

    def health_history(
        self, resource_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[HealthChange, ...]:
        return health_history(self.health_events(resource_id, since=since, until=until))

    def latest_health(self, resource_id: str) -> HealthChange | None:
        """The most recent signal that states the resource's availability (annotations skipped)."""
        from azure.core.exceptions import ResourceNotFoundError

        self._ensure_once()
        with self._transient(f"read {self.table_name(HEALTH)}"):
            try:
                rows = self._table(HEALTH).query_entities(
                    "PartitionKey eq @pk", parameters={"pk": escape_key(resource_id.lower())}, results_per_page=20
                )
                for row in rows:  # newest first, fetched a page at a time
                    decoded = self._decoded(HEALTH, [dict(row)], event_from_record)
                    if not decoded:
                        continue
                    event = decoded[0]
                    if isinstance(event, HealthEvent | ResourceHealthAlert) and event.availability is not None:
                        return health_change(event)
            except ResourceNotFoundError:
                return None
        return None

    def resource_health(self, resource_id: str) -> ResourceHealth | None:
        events = self.health_events(resource_id)
        return fold_health(events) if events else None

    def list_resource_health(self, *, since: datetime | None = None) -> list[ResourceHealth]:
        """Every resource with a health signal (occurred at or after ``since``): a table
        scan, meant for reports and the demo rather than per-event paths."""
        if since is None:
            rows = self._query(HEALTH)
        else:
            rows = self._query(HEALTH, "OccurredTime ge @since", {"since": since.astimezone(UTC)})
        by_resource: dict[str, list[HealthEvent | ResourceHealthAlert]] = {}
        for event in self._decoded(HEALTH, rows, event_from_record):
            if isinstance(event, HealthEvent | ResourceHealthAlert):
                by_resource.setdefault(event.resource_key, []).append(event)
        return [fold_health(by_resource[k]) for k in sorted(by_resource)]

    def resource_health_in(self, prefixes: list[str], *, since: datetime) -> list[ResourceHealth]:
        """As :meth:`list_resource_health`, for the resources whose (lower-case) ids start with
        one of ``prefixes`` (e.g. ``/subscriptions/{id}/resourcegroups/{name}/``): one
        partition-range query per prefix, bounded by the row keys' time (newest first), so
        a resource group's health is read without the rest of the table."""
        by_resource: dict[str, list[HealthEvent | ResourceHealthAlert]] = {}
        seen: set[tuple[str, str]] = set()  # prefixes may overlap
        oldest = f"{_MAX_MICROS - _micros(since) + 1:018d}"
        for prefix in sorted(set(prefixes)):
            lo = escape_key(prefix.lower())
            if "~" in lo:  # a prefix too long for a readable key: not a range
                continue
            rows = self._query(
                HEALTH,
                "PartitionKey ge @lo and PartitionKey lt @hi and RowKey lt @oldest and OccurredTime ge @since",
                {"lo": lo, "hi": lo[:-1] + chr(ord(lo[-1]) + 1), "oldest": oldest, "since": since.astimezone(UTC)},
            )
            rows = [r for r in rows if (r["PartitionKey"], r["RowKey"]) not in seen]
            seen.update((r["PartitionKey"], r["RowKey"]) for r in rows)
            for event in self._decoded(HEALTH, rows, event_from_record):
                if isinstance(event, HealthEvent | ResourceHealthAlert):
                    by_resource.setdefault(event.resource_key, []).append(event)
        return [fold_health(by_resource[k]) for k in sorted(by_resource)]

    # -- read side: maintenance notices --------------------------------------------------

    def notice_events(self, tracking_id: str) -> list[SqlMaintenanceNotice]:
        rows = self._query(NOTICES, "PartitionKey eq @pk", {"pk": escape_key(tracking_id.upper())})
        return self._decoded(NOTICES, rows, SqlMaintenanceNotice.from_record)

    def get_notice(self, tracking_id: str) -> NoticeOutcome | None:
        events = self.notice_events(tracking_id)
        return fold_notice(events) if events else None

    def list_notices(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        service: str | None = None,
        region: str | None = None,
        subscription: str | None = None,
    ) -> list[NoticeOutcome]:
        """Notices whose current impact window starts in ``[since, until)``, optionally
        only those naming ``service``, ``region`` (as in ``impactedServices``) or a
        subscription. Notices are few (tens a month): this scans the table and filters
        the folded notices, so a rescheduled notice is judged by its current window."""
        notices = fold_notices(self._decoded(NOTICES, self._query(NOTICES), SqlMaintenanceNotice.from_record))

        def wanted(n: NoticeOutcome) -> bool:
            return (
                (since is None or n.impact_start >= since)
                and (until is None or n.impact_start < until)
                and (service is None or service.lower() in (s.lower() for s in n.services))
                and (region is None or region_key(region) in (region_key(r) for r in n.regions))
                and (subscription is None or subscription.lower() in n.subscriptions)
            )

        return [n for n in notices if wanted(n)]

    def notices_for_resource(
        self,
        resource_id: str,
        *,
        region: str,
        service: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[NoticeOutcome]:
        """Notices that may concern a resource: Service Health names subscriptions,
        services and regions, not resources, so these are the notices for the resource's
        subscription in its ``region`` (and ``service``, e.g. "SQL Database", if given)."""
        return self.list_notices(
            since=since, until=until, service=service, region=region, subscription=subscription_of(resource_id)
        )

    # -- read side: rejections and raw events ----------------------------------------------

    def list_rejections(self, month: YearMonth | str) -> list[Rejection]:
        """What was refused in ``month`` (by receipt), newest first."""
        rows = self._query(REJECTIONS, "PartitionKey eq @pk", {"pk": _month(month)})
        rows += self._query(GIVEN_UP, "PartitionKey eq @pk", {"pk": _month(month)})
        out: list[Rejection] = self._decoded(
            REJECTIONS,
            rows,
            lambda r: Rejection(
                source=r["Source"],
                field=r["Field"],
                problem=r["Problem"],
                received_at=as_utc(r["ReceivedAt"]),
                raw=r.get("Raw", ""),
                raw_size=int(r["RawSize"]),
                digest=r["RowKey"],
            ),
        )
        return sorted(out, key=lambda x: (x.received_at, x.digest), reverse=True)

    def raw_event(self, event: DomainEvent) -> str | None:
        """The accepted event as it arrived (one envelope, compact JSON)."""
        from azure.core.exceptions import ResourceNotFoundError

        keys = fact_keys(event)
        with self._transient(f"read {self.table_name(keys.table)}"):
            try:
                return unpack_raw(self._table(keys.table).get_entity(keys.partition_key, keys.row_key))
            except ResourceNotFoundError:
                return None

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, without service metadata (tests, diagnostics)."""
        return {kind: sorted(self._query(kind), key=lambda r: (r["PartitionKey"], r["RowKey"])) for kind in TABLES}

    def drop_tables(self) -> None:
        self.changes.drop_table()
        """Delete this store's tables (tests and the demo's own prefix only)."""
        for kind in TABLES:
            with self._transient(f"delete table {self.table_name(kind)}"):
                self._table(kind).delete_table()


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value)
    return value


def outcomes_target(cfg: Settings, env: Mapping[str, str] | None = None) -> StorageTarget:
    """``OUTCOMES_STORAGE`` if set, else the function app's own account."""
    env = os.environ if env is None else env
    if cfg["OUTCOMES_STORAGE"]:
        return resolve_target(cfg["OUTCOMES_STORAGE"], env, prefix="OUTCOMES_STORAGE", suffix=storage_suffix(cfg))
    return app_storage_target(cfg, env)


@lru_cache(maxsize=8)
def _store(target: StorageTarget, prefix: str, options: tuple[tuple[str, Any], ...]) -> TableOutcomeStore:
    return TableOutcomeStore(target, prefix, dict(options))


def outcome_store(
    cfg: Settings | None = None, options: Mapping[str, Any] = FUNCTION_CLIENT_OPTIONS
) -> TableOutcomeStore:
    """The process's store for the configured account (clients and connections reused)."""
    cfg = cfg or settings()
    return _store(outcomes_target(cfg), cfg["OUTCOMES_TABLE_PREFIX"], tuple(sorted(options.items())))
