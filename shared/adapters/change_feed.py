"""The change feed: which recorded facts changed since the watchdog last looked.

Table ``{prefix}changes`` (same account and prefix as the outcome store), one partition
``pending``, RowKey ``{scope}|{a}|{b}`` (escaped). Every writer of a fact the alert rules
read marks its scope *after* the write succeeded (and again on a duplicate, so a crash
between the two is healed by the redelivery):

- ``run|{correlation id}``: a maintenance run's pre/post event (outcome store);
- ``runscope|{run-…}``: a run's verified VMs or this app's gate on it (cycle store);
- ``health|{resource id}``: a health signal (outcome store);
- ``notice|{tracking id}``: a Service Health notice (outcome store);
- ``vm|{cycle id}|{resource id}``: a VM's row or finding in a patch cycle (cycle store).

A mark is an upsert: a scope changed ten times before the watchdog looks is one row. The
watchdog reads the whole partition (what changed, not what exists), re-reads those scopes,
and then deletes each mark *on the ETag it read*: a mark rewritten meanwhile (its scope
changed again) survives for the next run. So no change is lost whatever the clocks say.

azure-data-tables is imported lazily.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.adapters.storage import StorageTarget
from shared.adapters.tables import TableClients, table_missing, transient_faults
from shared.domain.outcomes import StoreUnavailableError
from shared.services.ports import key

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

CHANGES = "changes"
PARTITION = "pending"
BATCH = 100  # Table transactions hold at most 100 operations


@dataclass(frozen=True)
class Mark:
    """One changed scope (see the module's list); ``etag`` is set on marks read back."""

    scope: str
    a: str
    b: str = ""
    etag: str = field(default="", compare=False)

    @property
    def row_key(self) -> str:
        return key(f"{self.scope}|{self.a}|{self.b}")


@dataclass
class ChangeFeed:
    target: StorageTarget
    prefix: str = "pw"
    client_options: Mapping[str, Any] = field(default_factory=dict)
    tables: TableClients | None = field(default=None, repr=False, compare=False)  # a store's own clients
    _tables: TableClients = field(init=False, repr=False, compare=False)
    _created: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._tables = self.tables if self.tables is not None else TableClients(self.target, self.client_options)

    @property
    def table_name(self) -> str:
        return f"{self.prefix}{CHANGES}"

    def _table(self) -> TableClient:
        return self._tables.get(self.table_name)

    def _transient(self, what: str) -> contextlib.AbstractContextManager[None]:
        return transient_faults("change feed", self.target, what)

    def ensure_table(self) -> None:
        if self._created:
            return
        from azure.core.exceptions import ResourceExistsError

        with self._transient(f"create {self.table_name}"), contextlib.suppress(ResourceExistsError):
            self._table().create_table()
        self._created = True

    def mark(self, marks: Iterable[Mark]) -> int:
        """Record that these scopes changed (upserts, in transactions of up to 100)."""
        from azure.data.tables import UpdateMode

        unique = {m.row_key: m for m in marks}
        if not unique:
            return 0
        entities = [
            {"PartitionKey": PARTITION, "RowKey": rk, "Scope": m.scope, "A": m.a, "B": m.b} for rk, m in unique.items()
        ]
        for i in range(0, len(entities), BATCH):
            chunk = entities[i : i + BATCH]
            for attempt in (1, 2):
                with self._transient(f"write {self.table_name}"):
                    try:
                        if len(chunk) == 1:
                            self._table().upsert_entity(chunk[0], mode=UpdateMode.REPLACE)
                        else:
                            self._table().submit_transaction(
                                [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in chunk]
                            )
                        break
                    except Exception as exc:  # the first mark on a new account makes the table
                        if attempt == 2 or not table_missing(exc):
                            raise
                        self._created = False
                        self.ensure_table()
        return len(entities)

    def pending(self) -> list[Mark]:
        """Every mark not yet consumed, with the ETag it was read at."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._transient(f"read {self.table_name}"):
            try:
                rows = list(self._table().query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION}))
            except ResourceNotFoundError as exc:
                if table_missing(exc):
                    return []
                raise
        out = []
        for r in rows:
            scope, a = str(r.get("Scope") or ""), str(r.get("A") or "")
            if not scope or not a:
                log.error("change feed: mark %s has no scope; dropped", r.get("RowKey"))
                continue
            out.append(Mark(scope, a, str(r.get("B") or ""), str(r.metadata.get("etag") or "")))
        return out

    def consume(self, marks: Iterable[Mark]) -> int:
        """Delete marks that are unchanged since read; a mark rewritten meanwhile stays."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        done = 0
        items = [m for m in marks if m.etag]
        for i in range(0, len(items), BATCH):
            chunk = items[i : i + BATCH]
            ops = [
                (
                    "delete",
                    {"PartitionKey": PARTITION, "RowKey": m.row_key},
                    {"etag": m.etag, "match_condition": MatchConditions.IfNotModified},
                )
                for m in chunk
            ]
            try:
                with self._transient(f"delete from {self.table_name}"):
                    self._table().submit_transaction(ops)
                done += len(chunk)
                continue
            except StoreUnavailableError:
                raise
            except Exception:  # one mark changed (or gone) meanwhile fails the transaction: one by one
                pass
            for m in chunk:
                with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError), self._transient("delete"):
                    self._table().delete_entity(
                        PARTITION, m.row_key, etag=m.etag, match_condition=MatchConditions.IfNotModified
                    )
                    done += 1
        return done

    def drop_table(self) -> None:
        with contextlib.suppress(Exception):
            self._table().delete_table()
        self._created = False
