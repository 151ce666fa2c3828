"""An in-memory Table service that enforces Azure Table Storage's documented limits, for
fuzzing the stores at speeds no emulator reaches (Azurite does not enforce most of them).

Limits, from "Understanding the Table service data model"
(https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model):

- PartitionKey and RowKey: strings up to 1 KiB (UTF-16), without ``/ \\ # ?`` or control
  characters (U+0000 to U+001F, U+007F to U+009F);
- up to 252 properties of one's own (255 with PartitionKey, RowKey and Timestamp), names up
  to 255 characters;
- a string up to 64 KiB (32K UTF-16 characters), of Unicode text (a lone surrogate cannot
  be sent); binary up to 64 KiB; Int64; DateTime from 1601-01-01 UTC;
- an entity up to 1 MiB in all.

A write beyond a limit raises ``HttpResponseError`` with status 400, as the service answers;
an existing key raises ``ResourceExistsError`` (409). Queries support what the stores send:
``Name op @param`` clauses joined by ``and`` (``eq ne ge gt le lt``).
"""

from __future__ import annotations

import copy
import operator
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from shared.adapters.outcome_store import entity_size
from shared.limits import TABLE_ENTITY_BYTES, TABLE_KEY_BYTES, TABLE_PROPERTY_BYTES

_FORBIDDEN_KEY = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ne|ge|gt|le|lt)\s+@(\w+)\s*$")
MIN_DATE = datetime(1601, 1, 1, tzinfo=UTC)
_OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "ge": operator.ge,
    "gt": operator.gt,
    "le": operator.le,
    "lt": operator.lt,
}


class LimitError(HttpResponseError):
    def __init__(self, message: str) -> None:
        super().__init__(message=f"400 Bad Request: {message}")
        self.status_code = 400


def _utf16_bytes(text: str) -> int:
    try:
        return len(text.encode("utf-16-le"))
    except UnicodeEncodeError as exc:
        raise LimitError(f"not Unicode text (lone surrogate at {exc.start})") from None


def check_entity(entity: Mapping[str, Any]) -> None:
    """Raise :class:`LimitError` for anything Azure Tables would refuse."""
    for key in ("PartitionKey", "RowKey"):
        value = entity.get(key)
        if not isinstance(value, str):
            raise LimitError(f"{key} must be a string")
        if _utf16_bytes(value) > TABLE_KEY_BYTES:
            raise LimitError(f"{key} is {_utf16_bytes(value)} bytes (limit {TABLE_KEY_BYTES})")
        if _FORBIDDEN_KEY.search(value):
            raise LimitError(f"{key} holds a forbidden character")
    own = [k for k in entity if k not in ("PartitionKey", "RowKey")]
    if len(own) > 252:
        raise LimitError(f"{len(own)} properties (limit 252)")
    for name in own:
        value = entity[name]
        if len(name) > 255:
            raise LimitError("a property name over 255 characters")
        if isinstance(value, str):
            if _utf16_bytes(value) > TABLE_PROPERTY_BYTES:
                raise LimitError(f"{name} is {_utf16_bytes(value)} bytes (limit {TABLE_PROPERTY_BYTES})")
        elif isinstance(value, bytes | bytearray):
            if len(value) > TABLE_PROPERTY_BYTES:
                raise LimitError(f"{name} is {len(value)} bytes of binary (limit {TABLE_PROPERTY_BYTES})")
        elif isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            if aware < MIN_DATE:
                raise LimitError(f"{name} is before 1601-01-01")
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            pass
        elif isinstance(value, int):
            if not -(2**63) <= value < 2**63:
                raise LimitError(f"{name} is outside Int64")
        else:
            raise LimitError(f"{name}: {type(value).__name__} is not a Table type")
    if entity_size(entity) > TABLE_ENTITY_BYTES:
        raise LimitError(f"the entity is {entity_size(entity)} bytes (limit {TABLE_ENTITY_BYTES})")


def _matches(row: Mapping[str, Any], query: str, parameters: Mapping[str, Any]) -> bool:
    for clause in re.split(r"\s+and\s+", query.strip()):
        m = _CLAUSE.match(clause)
        if not m:
            raise NotImplementedError(f"filter not supported by the fake: {clause!r}")
        name, op, param = m.groups()
        if name not in row:
            return False
        a, b = row[name], parameters[param]
        ok = _OPS[op](a, b)
        if not ok:
            return False
    return True


class FakeTable:
    def __init__(self, service: FakeTableService, name: str) -> None:
        self.service, self.name = service, name

    @property
    def _rows(self) -> dict[tuple[str, str], dict[str, Any]]:
        rows = self.service.tables.get(self.name)
        if rows is None:
            raise ResourceNotFoundError(message="TableNotFound: The table specified does not exist.")
        return rows

    def create_table(self) -> None:
        with self.service.lock:
            if self.name in self.service.tables:
                raise ResourceExistsError(message="TableAlreadyExists")
            self.service.tables[self.name] = {}

    def delete_table(self) -> None:
        with self.service.lock:
            self.service.tables.pop(self.name, None)

    def create_entity(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        check_entity(entity)
        with self.service.lock:
            key = (entity["PartitionKey"], entity["RowKey"])
            if key in self._rows:
                raise ResourceExistsError(message="EntityAlreadyExists")
            self._rows[key] = copy.deepcopy(dict(entity))
            self.service.writes += 1
        return {"etag": "x"}

    def upsert_entity(self, entity: Mapping[str, Any], mode: Any = None) -> dict[str, Any]:
        check_entity(entity)
        with self.service.lock:
            key = (entity["PartitionKey"], entity["RowKey"])
            merged = {**self._rows.get(key, {}), **copy.deepcopy(dict(entity))}
            check_entity(merged)
            self._rows[key] = merged
        return {"etag": "x"}

    def get_entity(self, partition_key: str, row_key: str) -> dict[str, Any]:
        with self.service.lock:
            row = self._rows.get((partition_key, row_key))
            if row is None:
                raise ResourceNotFoundError(message="ResourceNotFound")
            return copy.deepcopy(row)

    def list_entities(self, **_: Any) -> Iterator[dict[str, Any]]:
        with self.service.lock:
            rows = [copy.deepcopy(r) for _, r in sorted(self._rows.items())]
        return iter(rows)

    def query_entities(
        self, query_filter: str, parameters: Mapping[str, Any] | None = None, **_: Any
    ) -> Iterator[dict[str, Any]]:
        with self.service.lock:
            rows = [copy.deepcopy(r) for _, r in sorted(self._rows.items())]
        if not query_filter:
            return iter(rows)
        return iter([r for r in rows if _matches(r, query_filter, parameters or {})])


class FakeTableService:
    """Tables by name; ``get(name)`` as :class:`shared.adapters.tables.TableClients` answers."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.lock = threading.RLock()
        self.writes = 0

    def get(self, name: str) -> FakeTable:
        return FakeTable(self, name)


def limited_store(prefix: str = "fz") -> Any:
    """A :class:`~shared.adapters.outcome_store.TableOutcomeStore` over a :class:`FakeTableService`."""
    from shared.adapters.outcome_store import TableOutcomeStore
    from shared.adapters.storage import StorageTarget

    store = TableOutcomeStore(StorageTarget(connection_string="UseDevelopmentStorage=true"), prefix)
    store._tables = FakeTableService()  # type: ignore[assignment]
    return store
