"""Maintenance configuration schedules: read from ARM on a slow cadence, cached in Table Storage.

Read (:class:`ScheduleReader`, the real Azure SDK clients):

- Update Manager configurations with azure-mgmt-maintenance
  ``maintenance_configurations.get`` (the watched ones, those runs referred to, and those
  assigned to VMs), and the configuration assignments of each target subscription
  (``configuration_assignments_within_subscription.list``: which VM follows which window);
- Azure SQL: every database's and managed instance's ``maintenanceConfigurationId`` with
  azure-mgmt-sql (``servers.list`` -> ``databases.list_by_server``, ``managed_instances.list``),
  and each public configuration they name with ``public_maintenance_configurations.get``.

Cached (:class:`ScheduleCache`, table ``{prefix}schedules``), PartitionKey / RowKey:

- ``configuration`` / the configuration id (lower-case, escaped): the window definition
  as Azure states it, when it was fetched, when it was first watched, the last error;
- ``sqlresource`` / the resource id: region, configuration id, kind;
- ``assignment`` / resource|configuration: a VM's configuration;
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
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
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
    ConfigurationWindow,
    SqlResourceRef,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableClient

    from shared.adapters.storage import StorageTarget

log = logging.getLogger(__name__)

REFRESH_EVERY = timedelta(hours=12)
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
_SERVER_ID = re.compile(
    r"/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.sql/servers/(?P<name>[^/]+)", re.IGNORECASE
)


def escape_key(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", text.strip().lower())[:400]


def _sku_facts(resource: Any) -> dict[str, Any]:
    """Service objective, tier, family and instance pool of an azure-mgmt-sql database or managed
    instance (``currentServiceObjectiveName`` / ``sku`` / ``instancePoolId`` in the SQL REST spec)."""
    props = getattr(resource, "properties", None) or resource
    sku = getattr(resource, "sku", None)
    slo = getattr(props, "current_service_objective_name", None) or getattr(sku, "name", None) or ""
    return {
        "service_objective": str(slo),
        "edition": str(getattr(sku, "tier", None) or ""),
        "hardware": str(getattr(sku, "family", None) or ""),
        "instance_pool": bool(getattr(props, "instance_pool_id", None)),
    }


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
            if kind == "maintenance":
                from azure.mgmt.maintenance import MaintenanceManagementClient

                client = MaintenanceManagementClient(
                    self.credential,
                    subscription,
                    base_url=self.arm_endpoint,
                    credential_scopes=scope,
                    **self.client_kwargs,
                )
            else:
                from azure.mgmt.sql import SqlManagementClient

                client = SqlManagementClient(
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

    def scope_members(self, scope: DynamicScope) -> list[str]:
        """The machines a dynamic scope selects (Resource Graph, the filter in the query)."""
        if self._arm is None:
            from shared.adapters.arm import ArmAdapter

            self._arm = ArmAdapter(self.credential, arm_endpoint=self.arm_endpoint)
        return self._arm.scope_members(scope)

    def sql_resources(self, subscription: str) -> list[SqlResourceRef]:
        client = self._client("sql", subscription)
        out: list[SqlResourceRef] = []
        for server in client.servers.list():
            m = _SERVER_ID.search(server.id or "")
            if not m:
                continue
            for db in client.databases.list_by_server(m["rg"], m["name"]):
                props = getattr(db, "properties", None)
                cfg = getattr(props, "maintenance_configuration_id", None) if props is not None else None
                if db.name and db.name.lower() == "master":
                    continue
                out.append(SqlResourceRef(db.id, db.location, cfg or "", "database", **_sku_facts(db)))
        for mi in client.managed_instances.list():
            props = getattr(mi, "properties", None)
            cfg = getattr(props, "maintenance_configuration_id", None) if props is not None else None
            out.append(SqlResourceRef(mi.id, mi.location, cfg or "", "managed_instance", **_sku_facts(mi)))
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

    def put_configuration(self, window: ConfigurationWindow, now: datetime, *, watched: bool) -> None:

        rk = escape_key(window.configuration_id)
        existing = dict(self._get("configuration", rk) or {})
        entity = {
            "PartitionKey": "configuration",
            "RowKey": rk,
            "ConfigurationId": window.configuration_id,
            "Source": window.source,
            "RecurEvery": window.recur_every,
            "StartDateTime": window.start_date_time,
            "Duration": window.duration,
            "TimeZone": window.time_zone,
            "ExpirationDateTime": window.expiration_date_time,
            "Location": window.location,
            "Scope": window.scope,
            "FetchedAt": now,
            "FirstSeenAt": existing.get("FirstSeenAt") or now,
            "Error": "",
        }
        if watched and not existing.get("WatchedSince"):
            entity["WatchedSince"] = now
        self._upsert(entity)

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

    def put_error(self, configuration_id: str, error: str, now: datetime) -> None:
        self._upsert(
            {
                "PartitionKey": "configuration",
                "RowKey": escape_key(configuration_id),
                "ConfigurationId": configuration_id,
                "Error": error[:2000],
                "ErrorAt": now,
            }
        )

    def put_sql_resources(self, refs: Iterable[SqlResourceRef], now: datetime) -> None:
        for r in refs:
            self._upsert(
                {
                    "PartitionKey": "sqlresource",
                    "RowKey": escape_key(r.resource_id),
                    "ResourceId": r.resource_id,
                    "Location": r.location,
                    "ConfigurationId": r.configuration_id,
                    "Kind": r.kind,
                    "ServiceObjective": r.service_objective,
                    "Edition": r.edition,
                    "Hardware": r.hardware,
                    "InstancePool": r.instance_pool,
                    "FetchedAt": now,
                }
            )

    def put_assignments(self, assignments: Iterable[Assignment], now: datetime) -> None:
        """Machine assignments (a dynamic scope's members carry ``Via``, the scope's assignment id).
        A dynamic scope itself is not a machine: it is kept in its own partition with its filter."""
        import json

        for a in assignments:
            if a.scope is not None:
                self._upsert(
                    {
                        "PartitionKey": "dynamicscope",
                        "RowKey": escape_key(a.scope.assignment_id),
                        "AssignmentId": a.scope.assignment_id,
                        "ConfigurationId": a.configuration_id,
                        "Filter": json.dumps(a.scope.to_json(), sort_keys=True),
                        "FetchedAt": now,
                    }
                )
                continue
            self._upsert(
                {
                    "PartitionKey": "assignment",
                    "RowKey": escape_key(f"{a.resource_id}|{a.configuration_id}"),
                    "ResourceId": a.resource_id,
                    "ConfigurationId": a.configuration_id,
                    "Via": a.via,
                    "FetchedAt": now,
                }
            )

    def put_region_zones(self, zones: Mapping[str, str], now: datetime) -> None:
        for name, zone in zones.items():
            self._upsert(
                {
                    "PartitionKey": "region",
                    "RowKey": escape_key(name),
                    "Region": name,
                    "TimeZone": zone,
                    "FetchedAt": now,
                }
            )

    def region_zones(self) -> dict[str, str]:
        """ARM region name -> IANA zone, as the last refresh read them."""
        return {region_key(str(r["Region"])): str(r["TimeZone"]) for r in self._rows("region") if r.get("TimeZone")}

    def prune_scope_members(self, via: str, keep: Iterable[str]) -> int:
        """Forget the members of dynamic scope ``via`` that it no longer selects."""
        kept = {k.lower() for k in keep}
        gone = [
            row
            for row in self._rows("assignment")
            if str(row.get("Via") or "").lower() == via.lower() and str(row.get("ResourceId", "")).lower() not in kept
        ]
        for row in gone:
            self.table.delete_entity(row["PartitionKey"], row["RowKey"])
        return len(gone)

    def scope_assignments(self) -> dict[str, list[tuple[str, str]]]:
        """Machine id (lower-case) -> [(configuration id, the dynamic scope's assignment id or "")]."""
        out: dict[str, list[tuple[str, str]]] = {}
        for row in self._rows("assignment"):
            out.setdefault(str(row["ResourceId"]).lower(), []).append(
                (str(row.get("ConfigurationId", "")), str(row.get("Via") or ""))
            )
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
        zones = self.region_zones()
        for row in self._rows("sqlresource"):
            ref = sql_ref(row)
            cached.sql_resources.append(ref)
            rw = sql_window(ref, by_id, self.eligibility, zones)
            if rw is not None:
                cached.sql_windows[ref.resource_id.lower()] = rw
        vm: dict[str, list[MaintenanceSchedule]] = {}
        for row in self._rows("assignment"):
            if is_scope_assignment(str(row.get("ResourceId", ""))):
                continue  # written before dynamic scopes were resolved: a subscription is not a machine
            assigned = by_id.get(str(row.get("ConfigurationId", "")).lower())
            if assigned is not None:
                vm.setdefault(str(row["ResourceId"]).lower(), []).append(assigned)
        cached.vm_schedules = {k: tuple(v) for k, v in vm.items()}
        return cached


def sql_ref(row: Mapping[str, Any]) -> SqlResourceRef:
    """A cached ``sqlresource`` row."""
    return SqlResourceRef(
        str(row["ResourceId"]),
        str(row.get("Location") or ""),
        str(row.get("ConfigurationId") or ""),
        str(row.get("Kind") or ""),
        service_objective=str(row.get("ServiceObjective") or ""),
        edition=str(row.get("Edition") or ""),
        hardware=str(row.get("Hardware") or ""),
        instance_pool=bool(row.get("InstancePool")),
    )


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
