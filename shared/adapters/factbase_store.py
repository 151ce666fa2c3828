"""The watchdog's fact base on Table Storage (``shared/services/factbase.py``).

Table ``{prefix}watchdog``, partition ``factbase``: a ``meta`` row (format, horizon, the
months and cycles loaded whole, and one token per shard) and 16 shard rows ``s00``..``s15``,
each the zlib-compressed JSON of its facts in up to 15 binary properties of 64,000 bytes
(an entity holds at most 1 MiB; a property 64 KiB). Loading is one partition query.

Saving writes the changed shards, each stamped with a fresh token, then the meta row that
names those tokens, on the ETag read at load: when another watchdog saved meanwhile, the
meta write fails and this run's save is dropped (its marks are then not consumed either,
so nothing is lost). A shard whose token the meta row does not name (a save that died
half way) makes the load fail, and the watchdog rebuilds from the tables.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.storage import StorageTarget
from shared.adapters.tables import TableClients, table_missing, transient_faults
from shared.domain.factbase import SHARDS, FactBase, decode, encode

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

TABLE = "watchdog"
PARTITION = "factbase"
CHUNK = 64_000
MAX_CHUNKS = 15
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # an unusable base's placeholder instants


@dataclass
class Loaded:
    base: FactBase
    etag: str
    tokens: dict[str, str]


class FactBaseUnusableError(Exception):
    """The stored base is missing, of another format, or half saved: rebuild it."""


@dataclass
class FactBaseStore:
    target: StorageTarget
    prefix: str = "pw"
    client_options: Mapping[str, Any] = field(default_factory=dict)
    _tables: TableClients = field(init=False, repr=False, compare=False)
    _created: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self._tables = TableClients(self.target, self.client_options)

    @property
    def table_name(self) -> str:
        return f"{self.prefix}{TABLE}"

    def _table(self) -> TableClient:
        return self._tables.get(self.table_name)

    def _transient(self, what: str) -> contextlib.AbstractContextManager[None]:
        return transient_faults("watchdog fact base", self.target, what)

    def _ensure(self) -> None:
        if self._created:
            return
        from azure.core.exceptions import ResourceExistsError

        with self._transient(f"create {self.table_name}"), contextlib.suppress(ResourceExistsError):
            self._table().create_table()
        self._created = True

    def load(self) -> tuple[Loaded | None, str]:
        """(the stored base, "") or (None, why it cannot be used) — absent, other format, half saved.
        The ETag of the meta row is kept for :meth:`save` ("" when there is none)."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._transient(f"read {self.table_name}"):
            try:
                rows = {
                    str(r["RowKey"]): r
                    for r in self._table().query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION})
                }
            except ResourceNotFoundError as exc:
                if table_missing(exc):
                    return None, "no fact base yet"
                raise
        meta_row = rows.get("meta")
        if meta_row is None:
            return None, "no fact base yet"
        etag = str(meta_row.metadata.get("etag", ""))
        try:
            meta = json.loads(meta_row["Meta"])
            tokens: dict[str, str] = dict(meta.get("tokens", {}))
            blobs: dict[int, bytes] = {}
            for i in range(SHARDS):
                row = rows.get(f"s{i:02d}")
                if row is None or row.get("Token") != tokens.get(str(i)):
                    raise FactBaseUnusableError(f"shard {i} does not match the meta row (a save died half way)")
                blobs[i] = b"".join(bytes(row[f"D{n}"]) for n in range(int(row["Chunks"])))
            return Loaded(decode(meta, blobs), etag, tokens), ""
        except Exception as exc:  # any fault of the stored rows: rebuild rather than trust them
            return Loaded(FactBase(horizon=EPOCH, built_at=EPOCH), etag, {}), f"unusable ({exc})"

    def save(self, base: FactBase, loaded: Loaded | None, *, full: bool = False) -> bool:
        """Write the shards that changed (all when ``full``) and the meta row; False when another
        watchdog saved first (nothing of ours is then named by the meta row)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        self._ensure()
        only = set(range(SHARDS)) if full or loaded is None or not loaded.tokens else set(base.dirty)
        meta, blobs = encode(base, only)
        tokens = dict(loaded.tokens) if loaded is not None and not full else {}
        for i, blob in sorted(blobs.items()):
            chunks = [blob[n : n + CHUNK] for n in range(0, len(blob), CHUNK)] or [b""]
            if len(chunks) > MAX_CHUNKS:
                raise ValueError(f"fact base shard {i} is {len(blob)} bytes compressed: over one entity's 1 MiB")
            token = uuid.uuid4().hex
            entity: dict[str, Any] = {"PartitionKey": PARTITION, "RowKey": f"s{i:02d}", "Token": token}
            entity["Chunks"] = len(chunks)
            entity.update((f"D{n}", c) for n, c in enumerate(chunks))
            with self._transient(f"write {self.table_name}"):
                self._table().upsert_entity(entity, mode=UpdateMode.REPLACE)
            tokens[str(i)] = token
        meta["tokens"] = tokens
        row = {"PartitionKey": PARTITION, "RowKey": "meta", "Meta": json.dumps(meta)}
        with self._transient(f"write {self.table_name}"):
            try:
                if loaded is None or not loaded.etag:
                    self._table().create_entity(row)
                else:
                    self._table().update_entity(
                        row, mode=UpdateMode.REPLACE, etag=loaded.etag, match_condition=MatchConditions.IfNotModified
                    )
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                log.warning("watchdog fact base: another watchdog saved first; this run's save is dropped")
                return False
        base.dirty.clear()
        return True

    def drop_table(self) -> None:
        with contextlib.suppress(Exception):
            self._table().delete_table()
        self._created = False
