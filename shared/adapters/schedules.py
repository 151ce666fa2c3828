"""Maintenance configuration schedules: read from Resource Graph and ARM on a slow cadence,
cached in Table Storage.

Read (:class:`ScheduleReader`, the real Azure SDK clients):

- Resource Graph (azure-mgmt-resourcegraph, through :class:`shared.adapters.arm.ArmAdapter`'s
  paged, subscription-chunked path): every configuration assignment (``maintenanceresources``),
  every maintenance configuration and every Azure SQL database and managed instance
  (``resources``): a few pages for the whole estate, whatever its size; each dynamic scope's
  machines (the filter in the query);
- ARM, one call each, for what Resource Graph does not hold: public (SQL) maintenance
  configurations and configurations outside the target subscriptions
  (azure-mgmt-maintenance ``public_maintenance_configurations.get`` /
  ``maintenance_configurations.get``) and the regions (``subscriptions.list_locations``).

Cached (:class:`ScheduleCache`, table ``{prefix}schedules``), PartitionKey / RowKey:

- ``configuration`` / the configuration id (lower-case, escaped): the window definition
  as Azure states it, when it was fetched, when it was first watched, the last error;
  rewritten only when it changed;
- ``placements`` / ``head`` and ``chunk-0000``...: who follows which window as one snapshot
  (machine assignments, dynamic scopes and their members, SQL resources, region time zones):
  its compressed JSON in binary properties (60 KB each, 11 a row), the head row holding its
  SHA-256 digest; rewritten in one entity-group transaction only when the digest changes
  (10,000 machines: one chunk row);
- ``refresh`` / ``state``: when the cache was last refreshed (an ETag-guarded claim, so
  concurrent watchdogs do not refresh twice).

What is cached becomes domain schedules with :mod:`shared.domain.schedule` and
:func:`shared.domain.sql_catalog.schedule_from_public_configuration` (``SQL_Default`` is
local to the resource's region, so it comes from the built-in catalog).

SDKs are imported lazily.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from shared.adapters.tables import table_missing
from shared.domain.alerts import ResourceWindow, WatchedConfiguration
from shared.domain.region import region_key
from shared.domain.schedule import MaintenanceSchedule, ScheduleError
from shared.domain.scope import DynamicScope, is_scope_assignment
from shared.domain.sql_catalog import (
    DEFAULT_CONFIGURATION,
    EligibilityPolicy,
    catalog_schedule,
)
from shared.services.ports.schedules import (  # the port's value types (importable from here too)
    Assignment,
    CachedSchedules,
    ConfigurationSync,
    ConfigurationWindow,
    PlacementSnapshot,
    SqlResourceRef,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableClient

    from shared.adapters.storage import StorageTarget

log = logging.getLogger(__name__)

REFRESH_EVERY = timedelta(hours=12)
PLACEMENTS = "placements"  # the snapshot's partition: ``head`` and ``chunk-0000``...
PROPERTY_BYTES = 60_000  # a binary property holds at most 64 KiB
PROPERTIES_PER_ROW = 11  # an entity holds at most 1 MiB, and binary travels as base64 (4/3)
TRANSACTION_BYTES = 3_500_000  # a batch request holds at most 4 MiB
_UNSAFE = re.compile(r"[/\\#?%|\x00-\x1f\x7f-\x9f]")
_CONFIG_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.maintenance/"
    r"maintenanceconfigurations/(?P<name>[^/]+)$",
    re.IGNORECASE,
)
_PUBLIC_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.maintenance/publicmaintenanceconfigurations/(?P<name>[^/]+)$",
    re.IGNORECASE,
)

# Resource Graph tables, per MicrosoftDocs/azure-docs articles/governance/resource-graph/reference/
# supported-tables-resources.md: ``maintenanceresources`` holds microsoft.maintenance/configurationassignments
# (and applyupdates); ``resources`` holds Microsoft.Maintenance/maintenanceConfigurations,
# Microsoft.Sql/servers/databases and Microsoft.Sql/managedInstances. articles/update-manager/query-logs.md
# ("Maintenance resources") names the assignment's properties.resourceId and
# properties.maintenanceConfigurationId; properties.filter is the assignment's own REST property
# (ConfigurationAssignmentProperties.filter, azure-rest-api-specs specification/maintenance, example
# ConfigurationAssignmentsForSubscriptions_CreateOrUpdate.json). A configuration's window is its REST
# properties.maintenanceWindow (MaintenanceWindow: startDateTime, expirationDateTime, duration, timeZone,
# recurEvery); a database's or managed instance's choice is properties.maintenanceConfigurationId
# (specification/sql, DatabaseProperties / ManagedInstanceProperties), its SKU the resource's ``sku``.
# Not stated by the documents read: that subscription- and resource-group-level assignments
# (dynamic scopes) are listed in ``maintenanceresources`` like machine-level ones; the query
# does not assume otherwise (it filters on nothing but the type). Check on a live tenant.
SQL_DATABASE = "microsoft.sql/servers/databases"
SQL_MANAGED_INSTANCE = "microsoft.sql/managedinstances"
ASSIGNMENTS_QUERY = "\n".join(
    [
        "maintenanceresources",
        "| where type =~ 'microsoft.maintenance/configurationassignments'",
        "| project id, resourceId = tostring(properties.resourceId), "
        "configurationId = tostring(properties.maintenanceConfigurationId), filter = properties.filter",
        "| order by id asc",
    ]
)
CONFIGURATIONS_QUERY = "\n".join(
    [
        "resources",
        "| where type =~ 'microsoft.maintenance/maintenanceconfigurations'",
        "| project id, location, maintenanceScope = tostring(properties.maintenanceScope), "
        "recurEvery = tostring(properties.maintenanceWindow.recurEvery), "
        "startDateTime = tostring(properties.maintenanceWindow.startDateTime), "
        "duration = tostring(properties.maintenanceWindow.duration), "
        "timeZone = tostring(properties.maintenanceWindow.timeZone), "
        "expirationDateTime = tostring(properties.maintenanceWindow.expirationDateTime)",
        "| order by id asc",
    ]
)
SQL_QUERY = "\n".join(
    [
        "resources",
        f"| where type in~ ('{SQL_DATABASE}', '{SQL_MANAGED_INSTANCE}')",
        "| project id, name, type, location, configurationId = tostring(properties.maintenanceConfigurationId), "
        "serviceObjective = tostring(properties.currentServiceObjectiveName), sku, "
        "instancePoolId = tostring(properties.instancePoolId)",
        "| order by id asc",
    ]
)


def escape_key(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", text.strip().lower())[:400]


def _filter_json(model: Any) -> dict[str, Any] | None:
    """The SDK's ConfigurationAssignmentFilterProperties as the REST body writes it."""
    if model is None:
        return None
    tag_settings = getattr(model, "tag_settings", None)
    return {
        "resourceTypes": list(getattr(model, "resource_types", None) or []),
        "resourceGroups": list(getattr(model, "resource_groups", None) or []),
        "osTypes": list(getattr(model, "os_types", None) or []),
        "locations": list(getattr(model, "locations", None) or []),
        "tagSettings": {
            "tags": dict(getattr(tag_settings, "tags", None) or {}),
            "filterOperator": str(getattr(tag_settings, "filter_operator", None) or "Any"),
        }
        if tag_settings is not None
        else {},
    }


# -- reading ARM -------------------------------------------------------------------------


class ScheduleReader:
    """Maintenance configurations, assignments and SQL resources, through the Azure SDK."""

    def __init__(self, credential: TokenCredential, arm_endpoint: str, **client_kwargs: Any) -> None:
        self.credential = credential
        self.arm_endpoint = arm_endpoint.rstrip("/")
        self.client_kwargs = client_kwargs
        self._clients: dict[tuple[str, str], Any] = {}
        self._arm: Any = None

    def _client(self, kind: str, subscription: str) -> Any:
        client = self._clients.get((kind, subscription))
        if client is None:
            scope = [self.arm_endpoint + "/.default"]
            from azure.mgmt.maintenance import MaintenanceManagementClient

            client = MaintenanceManagementClient(
                self.credential,
                subscription,
                base_url=self.arm_endpoint,
                credential_scopes=scope,
                **self.client_kwargs,
            )
            self._clients[(kind, subscription)] = client
        return client

    def configuration(self, configuration_id: str) -> ConfigurationWindow:
        """An Update Manager configuration (``.../maintenanceConfigurations/x``) or a public one."""
        m = _CONFIG_ID.match(configuration_id.strip())
        if m:
            model = self._client("maintenance", m["sub"]).maintenance_configurations.get(m["rg"], m["name"])
            return ConfigurationWindow.from_model(configuration_id, "update-manager", model)
        p = _PUBLIC_ID.match(configuration_id.strip())
        if p:
            model = self._client("maintenance", p["sub"]).public_maintenance_configurations.get(p["name"])
            return ConfigurationWindow.from_model(configuration_id, "sql-public", model)
        raise ScheduleError(f"not a maintenance configuration id: {configuration_id!r}")

    def assignments(self, subscription: str) -> list[Assignment]:
        """Every assignment in the subscription: to a machine, or (a dynamic scope) to the
        subscription or a resource group with its ``filter``."""
        client = self._client("maintenance", subscription)
        out = []
        for a in client.configuration_assignments_within_subscription.list():
            if not a.resource_id or not a.maintenance_configuration_id:
                continue
            scope = None
            if is_scope_assignment(a.resource_id):
                scope = DynamicScope.from_assignment(
                    str(a.id or a.resource_id), a.maintenance_configuration_id, a.resource_id, _filter_json(a.filter)
                )
            out.append(Assignment(a.resource_id, a.maintenance_configuration_id, scope=scope))
        return out

    def region_zones(self, subscription: str) -> dict[str, str]:
        """Every region's IANA time zone: Azure's own region metadata (``GET /subscriptions/{id}/
        locations``, azure-mgmt-resource-subscriptions, its latitude and longitude) placed in the
        time-zone boundaries tzfpy ships (timezone-boundary-builder, kept current upstream)."""
        import tzfpy
        from azure.mgmt.resource.subscriptions import SubscriptionClient

        client = SubscriptionClient(
            self.credential, base_url=self.arm_endpoint, credential_scopes=[self.arm_endpoint + "/.default"],
            **self.client_kwargs,
        )  # fmt: skip
        out: dict[str, str] = {}
        try:
            for loc in client.subscriptions.list_locations(subscription):
                meta = getattr(loc, "metadata", None)
                lat, lon = getattr(meta, "latitude", None), getattr(meta, "longitude", None)
                if not loc.name or lat in (None, "") or lon in (None, ""):
                    continue  # logical regions ("global", "us") have no coordinates
                zone = tzfpy.get_tz(float(lon), float(lat))
                if zone:
                    out[region_key(loc.name)] = zone
        finally:
            client.close()
        return out

    def _graph(self) -> Any:
        if self._arm is None:
            from shared.adapters.arm import ArmAdapter

            self._arm = ArmAdapter(self.credential, arm_endpoint=self.arm_endpoint)
        return self._arm

    def _graph_rows(self, query: str, subscriptions: Sequence[str]) -> list[dict[str, Any]]:
        """Every row of ``query`` over ``subscriptions`` (chunked, paged with skipToken)."""
        return list(self._graph().graph_rows(query, tuple(subscriptions)))

    def scope_members(self, scope: DynamicScope) -> list[str]:
        """The machines a dynamic scope selects (Resource Graph, the filter in the query)."""
        return list(self._graph().scope_members(scope))

    def assignments_in(self, subscriptions: Sequence[str]) -> list[Assignment]:
        """Every configuration assignment in the subscriptions, from Resource Graph's
        ``maintenanceresources`` table: to a machine, or (a dynamic scope) to a subscription or
        resource group with its ``filter``. A handful of pages for the whole estate."""
        out: list[Assignment] = []
        for row in self._graph_rows(ASSIGNMENTS_QUERY, subscriptions):
            rid, cfg = str(row.get("resourceId") or ""), str(row.get("configurationId") or "")
            if not rid or not cfg:
                continue
            scope = None
            if is_scope_assignment(rid):
                raw = row.get("filter")
                if isinstance(raw, str):  # a service that answers dynamic columns as text
                    import json

                    raw = json.loads(raw) if raw.strip() else None
                scope = DynamicScope.from_assignment(str(row.get("id") or rid), cfg, rid, raw or None)
            out.append(Assignment(rid, cfg, scope=scope))
        return out

    def configurations_in(self, subscriptions: Sequence[str]) -> list[ConfigurationWindow]:
        """Every maintenance configuration in the subscriptions (Resource Graph ``resources``).
        One that has no usable window is left out (a GET for it, if wanted, says why)."""
        out = []
        for row in self._graph_rows(CONFIGURATIONS_QUERY, subscriptions):
            try:
                out.append(
                    ConfigurationWindow.from_window(
                        str(row["id"]),
                        "update-manager",
                        row,
                        location=str(row.get("location") or ""),
                        scope=str(row.get("maintenanceScope") or ""),
                    )
                )
            except (KeyError, ScheduleError):
                continue
        return out

    def sql_resources_in(self, subscriptions: Sequence[str]) -> list[SqlResourceRef]:
        """Every Azure SQL database (but ``master``) and managed instance in the subscriptions,
        with the maintenance configuration it chose (Resource Graph ``resources``)."""
        out = []
        for row in self._graph_rows(SQL_QUERY, subscriptions):
            rid = str(row.get("id") or "")
            if not rid or str(row.get("name") or "").lower() == "master":
                continue
            raw_sku = row.get("sku")
            sku: dict[str, Any] = raw_sku if isinstance(raw_sku, dict) else {}
            kind = "managed_instance" if str(row.get("type") or "").lower() == SQL_MANAGED_INSTANCE else "database"
            out.append(
                SqlResourceRef(
                    rid,
                    str(row.get("location") or ""),
                    str(row.get("configurationId") or ""),
                    kind,
                    service_objective=str(row.get("serviceObjective") or sku.get("name") or ""),
                    edition=str(sku.get("tier") or ""),
                    hardware=str(sku.get("family") or ""),
                    instance_pool=bool(row.get("instancePoolId")),
                )
            )
        return out


# -- the cache ---------------------------------------------------------------------------


def _dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


T = TypeVar("T")


class ScheduleCache:
    """The ``{prefix}schedules`` table."""

    def __init__(
        self,
        target: StorageTarget,
        prefix: str = "pw",
        client_options: Mapping[str, Any] | None = None,
        eligibility: EligibilityPolicy | None = None,
    ) -> None:
        self.eligibility = eligibility  # SQL_EXCLUDED_*; None: the documented defaults
        self.target = target
        self.table_name = f"{prefix}schedules"
        self.client_options = dict(client_options or {})
        self._table: TableClient | None = None

    @property
    def table(self) -> TableClient:
        if self._table is None:
            from azure.core.exceptions import ResourceExistsError

            from shared.adapters.storage import table_client

            self._table = table_client(self.target, self.table_name, **self.client_options)
            with contextlib.suppress(ResourceExistsError):
                self._table.create_table()
        return self._table

    def _recreate(self) -> None:
        """The table disappeared (deleted while the process lived on): make it again."""
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self.table.create_table()

    def _again_if_gone(self, call: Callable[[], T]) -> T:
        """``call()``; if the table is gone, make it again and call once more."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return call()
        except ResourceNotFoundError as exc:
            if not table_missing(exc):
                raise
            self._recreate()
            return call()

    def _get(self, pk: str, rk: str) -> Any:
        """The entity, or None when it (or the table) is not there."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.table.get_entity(pk, rk)
        except ResourceNotFoundError as exc:
            if table_missing(exc):
                self._recreate()
            return None

    def _rows(self, partition: str) -> list[dict[str, Any]]:
        return self._again_if_gone(
            lambda: [dict(e) for e in self.table.query_entities("PartitionKey eq @pk", parameters={"pk": partition})]
        )

    def _upsert(self, entity: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        self._again_if_gone(lambda: self.table.upsert_entity(entity, mode=UpdateMode.MERGE))

    # -- writes ------------------------------------------------------------------------

    def _transact(self, operations: list[Any]) -> None:
        """Entity group transactions (one partition, one request each) of at most 100
        operations and about 3.5 MB (the service takes 4 MiB a batch): one transaction, so
        all or nothing, up to that size; the head row goes last."""
        batch: list[Any] = []
        size = 0
        for op in operations:
            weight = 1_000 + sum(len(v) * 4 // 3 for v in op[1].values() if isinstance(v, bytes | str))
            if batch and (len(batch) == 100 or size + weight > TRANSACTION_BYTES):
                self._again_if_gone(partial(self._submit, batch))
                batch, size = [], 0
            batch.append(op)
            size += weight
        if batch:
            self._again_if_gone(partial(self._submit, batch))

    def _submit(self, batch: list[Any]) -> None:
        self.table.submit_transaction(batch)

    @staticmethod
    def _configuration_entity(window: ConfigurationWindow) -> dict[str, Any]:
        return {
            "PartitionKey": "configuration",
            "RowKey": escape_key(window.configuration_id),
            "ConfigurationId": window.configuration_id,
            "Source": window.source,
            "RecurEvery": window.recur_every,
            "StartDateTime": window.start_date_time,
            "Duration": window.duration,
            "TimeZone": window.time_zone,
            "ExpirationDateTime": window.expiration_date_time,
            "Location": window.location,
            "Scope": window.scope,
        }

    def sync_configurations(self, sync: ConfigurationSync, now: datetime) -> set[str]:
        """Bring the ``configuration`` rows in line with what the refresh found, writing only the
        rows that changed (one partition read, then a transaction per 100 changes). Returns the
        ids (lower-case) whose window changed: new, different, or no longer readable."""
        from azure.data.tables import UpdateMode

        rows = {str(r["RowKey"]): r for r in self._rows("configuration")}
        ops: list[Any] = []
        changed: set[str] = set()
        for window in sync.windows:
            entity = self._configuration_entity(window)
            existing = rows.get(entity["RowKey"], {})
            cid = window.configuration_id.lower()
            same_window = all(str(existing.get(k) or "") == str(v or "") for k, v in entity.items())
            if not same_window:
                changed.add(cid)
            watched_now = cid in sync.watched and not existing.get("WatchedSince")
            if same_window and not existing.get("Error") and not watched_now:
                continue
            entity.update(FetchedAt=now, FirstSeenAt=existing.get("FirstSeenAt") or now, Error="")
            if watched_now:
                entity["WatchedSince"] = now
            ops.append(("upsert", entity, {"mode": UpdateMode.MERGE}))
        for cid, error in sync.errors.items():
            rk = escape_key(cid)
            existing = rows.get(rk, {})
            entity = {"PartitionKey": "configuration", "RowKey": rk, "ConfigurationId": cid}
            watched_now = cid.lower() in sync.watched and not existing.get("WatchedSince")
            if str(existing.get("Error") or "") == error[:2000] and not watched_now:
                continue
            entity.update(Error=error[:2000], ErrorAt=now)
            if watched_now:
                entity["WatchedSince"] = now
            ops.append(("upsert", entity, {"mode": UpdateMode.MERGE}))
        if ops:
            self._transact(ops)
        return changed

    def put_configuration(self, window: ConfigurationWindow, now: datetime, *, watched: bool) -> None:
        """One configuration (seeding a store by hand; the refresh uses :meth:`sync_configurations`)."""
        self.sync_configurations(
            ConfigurationSync([window], watched={window.configuration_id.lower()} if watched else set()), now
        )

    def mark_watched(self, configuration_id: str, now: datetime) -> None:
        """Remember since when a configuration is watched, even before its window could be read."""
        rk = escape_key(configuration_id)
        existing = dict(self._get("configuration", rk) or {})
        if not existing.get("WatchedSince"):
            self._upsert(
                {
                    "PartitionKey": "configuration",
                    "RowKey": rk,
                    "ConfigurationId": configuration_id,
                    "WatchedSince": now,
                }
            )

    # -- the placement snapshot: who follows which window, in a few rows -----------------------

    def placements(self) -> PlacementSnapshot | None:
        """The cached snapshot (one partition query), or None before the first refresh."""
        try:
            return snapshot_from_rows(self._rows(PLACEMENTS))
        except ValueError:  # caught between the transactions of a very large snapshot: once more
            return snapshot_from_rows(self._rows(PLACEMENTS))

    def put_placements(self, snapshot: PlacementSnapshot, now: datetime) -> bool:
        """Store the snapshot if its digest differs from the cached one: its compressed JSON in
        binary properties of a few rows, written with the ``head`` row in one transaction (so a
        reader sees the old snapshot or the new, never half of each). True when written."""
        import json
        import zlib

        digest = snapshot.digest()
        current = self._get(PLACEMENTS, "head")
        if current is not None and str(current.get("Digest") or "") == digest:
            return False
        blob = zlib.compress(json.dumps(snapshot.to_json(), separators=(",", ":")).encode(), 6)
        pieces = [blob[i : i + PROPERTY_BYTES] for i in range(0, len(blob), PROPERTY_BYTES)] or [b""]
        rows = [pieces[i : i + PROPERTIES_PER_ROW] for i in range(0, len(pieces), PROPERTIES_PER_ROW)]
        old = int(current.get("Chunks") or 0) if current is not None else 0
        ops: list[Any] = []
        for n, props in enumerate(rows):
            entity: dict[str, Any] = {"PartitionKey": PLACEMENTS, "RowKey": f"chunk-{n:04d}"}
            entity.update({f"D{j:02d}": p for j, p in enumerate(props)})
            ops.append(("upsert", entity))  # replace: no stale properties from a longer snapshot
        ops.extend(("delete", {"PartitionKey": PLACEMENTS, "RowKey": f"chunk-{n:04d}"}) for n in range(len(rows), old))
        ops.append(
            (
                "upsert",
                {
                    "PartitionKey": PLACEMENTS,
                    "RowKey": "head",
                    "Digest": digest,
                    "Chunks": len(rows),
                    "Bytes": len(blob),
                    "Machines": len({a.resource_id.lower() for a in snapshot.assignments}),
                    "WrittenAt": now,
                },
            )
        )
        self._transact(ops)
        return True

    def _merge_placements(self, now: datetime, **changes: Any) -> None:
        snapshot = self.placements() or PlacementSnapshot()
        for key, value in changes.items():
            setattr(snapshot, key, value(getattr(snapshot, key)))
        self.put_placements(snapshot, now)

    def put_sql_resources(self, refs: Iterable[SqlResourceRef], now: datetime) -> None:
        """Add or replace SQL resources in the snapshot (seeding a store by hand)."""
        new = {r.resource_id.lower(): r for r in refs}
        self._merge_placements(
            now, sql_resources=lambda old: [r for r in old if r.resource_id.lower() not in new] + list(new.values())
        )

    def put_assignments(self, assignments: Iterable[Assignment], now: datetime) -> None:
        """Add machine assignments to the snapshot (seeding a store by hand)."""
        added = [a for a in assignments if a.scope is None]
        self._merge_placements(now, assignments=lambda old: [*old, *added])

    def put_region_zones(self, zones: Mapping[str, str], now: datetime) -> None:
        self._merge_placements(now, region_zones=lambda old: {**old, **{region_key(k): v for k, v in zones.items()}})

    def region_zones(self) -> dict[str, str]:
        """ARM region name -> IANA zone, as the last refresh read them."""
        snapshot = self.placements()
        return {region_key(k): v for k, v in (snapshot.region_zones if snapshot else {}).items() if v}

    def scope_assignments(self) -> dict[str, list[tuple[str, str]]]:
        """Machine id (lower-case) -> [(configuration id, the dynamic scope's assignment id or "")]."""
        out: dict[str, list[tuple[str, str]]] = {}
        snapshot = self.placements()
        for a in snapshot.assignments if snapshot else ():
            out.setdefault(a.resource_id.lower(), []).append((a.configuration_id, a.via))
        return out

    # -- the refresh claim ---------------------------------------------------------------

    def claim_refresh(self, now: datetime, every: timedelta = REFRESH_EVERY) -> bool:
        """True for the one caller that should refresh now (the cache is older than ``every``)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        row = self._get("refresh", "state")
        if row is None:
            try:
                self.table.create_entity({"PartitionKey": "refresh", "RowKey": "state", "RefreshedAt": now})
                return True
            except ResourceExistsError:
                return False
        last = _dt(row.get("RefreshedAt"))
        if last is not None and now - last < every:
            return False
        try:
            self.table.update_entity(
                {"PartitionKey": "refresh", "RowKey": "state", "RefreshedAt": now},
                mode=UpdateMode.MERGE,
                etag=row.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    # -- reads -------------------------------------------------------------------------

    def configuration_windows(self) -> list[tuple[ConfigurationWindow | None, dict[str, Any]]]:
        out: list[tuple[ConfigurationWindow | None, dict[str, Any]]] = []
        for row in self._rows("configuration"):
            window = None
            if row.get("RecurEvery"):
                window = ConfigurationWindow(
                    configuration_id=row["ConfigurationId"],
                    source=row.get("Source", ""),
                    recur_every=row["RecurEvery"],
                    start_date_time=row.get("StartDateTime", ""),
                    duration=row.get("Duration", ""),
                    time_zone=row.get("TimeZone", ""),
                    expiration_date_time=row.get("ExpirationDateTime", ""),
                    location=row.get("Location", ""),
                    scope=row.get("Scope", ""),
                )
            out.append((window, row))
        return out

    def load(self, watched_ids: Iterable[str]) -> CachedSchedules:
        """Everything cached, as domain inputs. Windows that cannot be used are reported, not guessed."""
        watched = {w.strip().lower() for w in watched_ids if w.strip()}
        cached = CachedSchedules()
        by_id: dict[str, MaintenanceSchedule] = {}
        for window, row in self.configuration_windows():
            cid = str(row["ConfigurationId"]).lower()
            if window is None:
                if cid in watched:
                    cached.problems.append(
                        f"watched configuration {row['ConfigurationId']} has no known window"
                        + (f" ({row['Error']})" if row.get("Error") else "")
                    )
                continue
            try:
                schedule = window.schedule()
            except ScheduleError as exc:
                cached.problems.append(f"configuration {window.configuration_id}: {exc}")
                continue
            by_id[cid] = schedule
            if window.source == "update-manager":
                cached.configurations[cid] = schedule
            if cid in watched:
                since = _dt(row.get("WatchedSince")) or _dt(row.get("FirstSeenAt")) or _dt(row.get("FetchedAt"))
                if since is not None:
                    cached.watched.append(WatchedConfiguration(window.configuration_id, schedule, since))
        snapshot = self.placements() or PlacementSnapshot()
        zones = {region_key(k): v for k, v in snapshot.region_zones.items() if v}
        for ref in snapshot.sql_resources:
            cached.sql_resources.append(ref)
            rw = sql_window(ref, by_id, self.eligibility, zones)
            if rw is not None:
                cached.sql_windows[ref.resource_id.lower()] = rw
        vm: dict[str, list[MaintenanceSchedule]] = {}
        for a in snapshot.assignments:
            if is_scope_assignment(a.resource_id):
                continue  # a subscription or resource group is not a machine
            assigned = by_id.get(a.configuration_id.lower())
            if assigned is not None:
                vm.setdefault(a.resource_id.lower(), []).append(assigned)
        cached.vm_schedules = {k: tuple(v) for k, v in vm.items()}
        return cached


def snapshot_from_rows(rows: Iterable[Mapping[str, Any]]) -> PlacementSnapshot | None:
    """The placement snapshot from the rows of its partition (None without a ``head``)."""
    import json
    import zlib

    by_key = {str(r["RowKey"]): r for r in rows}
    head = by_key.get("head")
    if head is None:
        return None
    blob = b"".join(
        bytes(by_key[f"chunk-{i:04d}"].get(f"D{j:02d}") or b"")
        for i in range(int(head.get("Chunks") or 0))
        for j in range(PROPERTIES_PER_ROW)
        if f"chunk-{i:04d}" in by_key
    )
    snapshot = PlacementSnapshot.from_json(json.loads(zlib.decompress(blob)))
    if head.get("Digest") and snapshot.digest() != head["Digest"]:  # read while a >3.5 MB snapshot was written
        raise ValueError("the placement snapshot changed while it was read")
    return snapshot


def sql_window(
    ref: SqlResourceRef,
    by_id: Mapping[str, MaintenanceSchedule],
    policy: EligibilityPolicy | None = None,
    zones: Mapping[str, str] | None = None,
) -> ResourceWindow | None:
    """The window a SQL resource chose: what Azure says of its configuration, else the built-in
    catalog (``SQL_Default`` always: it is local to the resource's region). A resource that
    cannot choose a window (SQL eligibility) is judged against ``SQL_Default`` only, whatever
    configuration it names."""
    name = ref.configuration_id.rstrip("/").rsplit("/", 1)[-1] if ref.configuration_id else DEFAULT_CONFIGURATION
    judged = ref.eligibility(policy)
    if not judged.eligible and name.lower() != DEFAULT_CONFIGURATION.lower():
        log.info("%s cannot choose a window (%s): judged against %s", ref.resource_id, judged.reasons, name)
        name = DEFAULT_CONFIGURATION
    try:
        if name.lower() == DEFAULT_CONFIGURATION.lower():
            return ResourceWindow(ref.resource_id, DEFAULT_CONFIGURATION, catalog_schedule(name, ref.location, zones))
        known = by_id.get(ref.configuration_id.lower())
        return ResourceWindow(ref.resource_id, name, known if known is not None else catalog_schedule(name))
    except ScheduleError as exc:
        log.warning("no window for %s: %s", ref.resource_id, exc)
        return None
