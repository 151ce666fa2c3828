"""Read-only views of the patch cycle's, the alerts' and the schedules' tables, for the
compliance report.

Each reads the tables those parts write (same account and ``OUTCOMES_TABLE_PREFIX``)
through their own public helpers where they have them, and never writes: a table that
does not exist yet reads as empty (nothing creates it). Transient faults raise
:class:`~shared.domain.outcomes.StoreUnavailableError`, like the outcome store's.

azure-data-tables is imported lazily.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from shared.adapters.tables import TableClients, is_transient, stored_instant
from shared.domain.outcomes import StoreUnavailableError
from shared.domain.report import SqlResource, VmResult
from shared.domain.scope import is_scope_assignment

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.adapters.storage import StorageTarget
    from shared.domain.alerts import Alert

CLIENT_OPTIONS: Mapping[str, Any] = {"retry_total": 2, "connection_timeout": 5, "read_timeout": 30}

log = logging.getLogger("patchwatch.report")


class _Tables:
    """Read-only access to ``{prefix}{kind}`` tables of one account."""

    def __init__(self, target: StorageTarget, prefix: str, client_options: Mapping[str, Any] | None = None) -> None:
        self.target = target
        self.prefix = prefix
        self.client_options = dict(CLIENT_OPTIONS if client_options is None else client_options)
        self._tables = TableClients(target, self.client_options)

    def _client(self, kind: str) -> TableClient:
        return self._tables.get(f"{self.prefix}{kind}")

    @contextlib.contextmanager
    def _reading(self, kind: str) -> Iterator[None]:
        from azure.core.exceptions import HttpResponseError

        try:
            yield
        except Exception as exc:
            if not is_transient(exc):
                raise
            detail = exc.status_code if isinstance(exc, HttpResponseError) else str(exc).splitlines()[0]
            raise StoreUnavailableError(
                f"storage at {self.target.describe()} failed to read {self.prefix}{kind}: {detail}"
            ) from exc

    def rows(self, kind: str, query: str = "", parameters: dict[str, Any] | None = None) -> list[Any]:
        """Entities (with their metadata) matching ``query``; none when the table is absent."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._reading(kind):
            try:
                client = self._client(kind)
                if query:
                    return list(client.query_entities(query, parameters=parameters or {}))
                return list(client.list_entities())
            except ResourceNotFoundError:
                return []

    def rows_in_groups(
        self, kind: str, partition: str, groups: Iterable[tuple[str, str]] | None, row_prefix: Any
    ) -> list[Any]:
        """A partition's rows (all of them when ``groups`` is None), else those whose RowKey
        starts with ``row_prefix(group)`` for a group, one range query each; a group without
        such a prefix (a subscription's own resources) reads the partition once."""
        if groups is None:
            return self.rows(kind, "PartitionKey eq @pk", {"pk": partition})
        out: list[Any] = []
        whole = False
        for group in sorted(set(groups)):
            lo = row_prefix(group) if group[0] and group[1] else None
            if lo is None:
                whole = True
                continue
            out += self.rows(
                kind,
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                {"pk": partition, "lo": lo, "hi": lo[:-1] + chr(ord(lo[-1]) + 1)},
            )
        if whole:
            seen = {(r["PartitionKey"], r["RowKey"]) for r in out}
            out += [
                r
                for r in self.rows(kind, "PartitionKey eq @pk", {"pk": partition})
                if (r["PartitionKey"], r["RowKey"]) not in seen
            ]
        return sorted(out, key=lambda r: str(r["RowKey"]))


def group_prefix(group: tuple[str, str]) -> str:
    """The lower-case id prefix of a resource group's resources."""
    return f"/subscriptions/{group[0]}/resourcegroups/{group[1]}/"


class CycleResults(_Tables):
    """The patch cycle's per-VM results (``{prefix}cycles`` / ``{prefix}cyclevms``)."""

    def vm_results(self, cycle_id: str, groups: Iterable[tuple[str, str]] | None = None) -> list[VmResult]:
        """Each roster VM's state in the cycle's current round (older rounds: VMs that left the roster);
        ``groups``: only the VMs of those resource groups ((subscription, resource group), lower-case)."""
        from shared.adapters.cycle_store import key
        from shared.domain.fleet import vm_key

        cycle_rows = self.rows("cycles", "PartitionKey eq @pk and RowKey eq @rk", {"pk": "cycle", "rk": cycle_id})
        current = int(cycle_rows[0].get("Round", -1)) if cycle_rows else None
        out = []
        rows = self.rows_in_groups("cyclevms", cycle_id, groups, lambda g: key(vm_key(group_prefix(g))) + "|")
        for row in rows:
            try:
                if current is not None and int(row.get("Round", -1)) != current:
                    continue
                out.append(vm_result(row))
            except Exception as exc:  # one row's content: quarantined (logged, skipped), the report goes on
                log.error(
                    "cycle store: row %s/%s quarantined: it does not decode (%s: %s); skipped",
                    row.get("PartitionKey"), row.get("RowKey"), type(exc).__name__, exc,
                )  # fmt: skip
        return sorted(out, key=lambda v: v.resource_id.lower())

    def run_machines(self, correlation_ids: Iterable[str]) -> dict[str, list[str]]:
        """The machines each run's verification found, by run key (lower-case correlation id)."""
        from shared.adapters.cycle_store import run_scope

        out: dict[str, list[str]] = {}
        for cid in correlation_ids:
            rows = self.rows("cyclevms", "PartitionKey eq @pk", {"pk": run_scope(cid)})
            ids = sorted({str(r["ResourceId"]) for r in rows if r.get("ResourceId")}, key=str.lower)
            if ids:
                out[cid.lower()] = ids
        return out


def vm_result(row: Mapping[str, Any]) -> VmResult:
    """A ``cyclevms`` row (as :mod:`shared.services.assessment` writes it) as the report reads it."""
    from shared.domain.assessment_graph import path_of

    state = str(row.get("State") or "")
    try:
        result = json.loads(row.get("Result") or "{}")
    except ValueError:
        result = {}
    pending = None
    if state in ("succeeded", "completed-with-warnings") and isinstance(result, dict):
        pending = int(result.get("critical_and_security") or 0)
    return VmResult(
        resource_id=str(row.get("ResourceId") or ""),
        state=state,
        critical_security_pending=pending,
        reason=str(row.get("Reason") or ""),
        finished=stored_instant(row.get("FinishedUtc")),
        install_state=str(row.get("IState") or ""),
        install_reason=str(row.get("IReason") or ""),
        reboot_pending=pending is not None and isinstance(result, dict) and bool(result.get("reboot_pending")),
        assessment_path=path_of(state, str(row.get("Path") or "")),
    )


class AlertHistory(_Tables):
    """Every alert of the alert store (``{prefix}alerts``), read with its own entity mapping."""

    def alerts(self) -> list[Alert]:
        from shared.adapters.alert_store import from_entity

        return [from_entity(e).alert for e in self.rows("alerts")]

    def cycle_alerts(self, periods: Iterable[str], groups: Iterable[tuple[str, str]] | None = None) -> list[Alert]:
        """The alerts indexed under ``periods`` (see :meth:`AlertStore.cycle_alerts`), of ``groups``."""
        from azure.core.exceptions import ResourceNotFoundError

        from shared.adapters.alert_store import AlertStore

        with self._reading("alertperiods"):
            try:
                return AlertStore(self.target, self.prefix, self.client_options).cycle_alerts(periods, groups)
            except ResourceNotFoundError:
                return []


class Placements(_Tables):
    """Which VMs a maintenance configuration is assigned to, and the known SQL resources,
    as the schedule cache (``{prefix}schedules``) holds them."""

    def _snapshot(self) -> Any:
        """The schedule cache's placement snapshot (a few rows), or None before any refresh."""
        from shared.adapters.schedules import PLACEMENTS, snapshot_from_rows

        return snapshot_from_rows(self.rows("schedules", "PartitionKey eq @pk", {"pk": PLACEMENTS}))

    def assignments(self, groups: Iterable[tuple[str, str]] | None = None) -> dict[str, list[str]]:
        """Configuration id (lower-case) -> its assigned machines; ``groups``: only those resource
        groups' machines (the snapshot is a few rows: filtered here, not by key)."""
        prefixes = None if groups is None else tuple(group_prefix(g) for g in groups)
        out: dict[str, list[str]] = {}
        snapshot = self._snapshot()
        for a in snapshot.assignments if snapshot is not None else ():
            if not a.resource_id or not a.configuration_id or is_scope_assignment(a.resource_id):
                continue
            if prefixes is None or a.resource_id.lower().startswith(prefixes):
                out.setdefault(a.configuration_id.lower(), []).append(a.resource_id)
        return out
        return out

    eligibility: Any = None  # SQL_EXCLUDED_* (an EligibilityPolicy); None: the documented defaults

    def sql_resources(self, groups: Iterable[tuple[str, str]] | None = None) -> list[SqlResource]:
        prefixes = None if groups is None else tuple(group_prefix(g) for g in groups)
        out = []
        snapshot = self._snapshot()
        for ref in snapshot.sql_resources if snapshot is not None else ():
            if prefixes is not None and not ref.resource_id.lower().startswith(prefixes):
                continue
            judged = ref.eligibility(self.eligibility)
            out.append(
                SqlResource(
                    ref.resource_id, ref.location, ref.kind, ref.configuration_id, judged.eligible, judged.reasons
                )
            )
        return out


def sources_for(target: StorageTarget, prefix: str) -> tuple[CycleResults, AlertHistory, Placements]:
    return CycleResults(target, prefix), AlertHistory(target, prefix), Placements(target, prefix)
