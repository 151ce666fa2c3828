"""The schedule ports: the cached maintenance schedules and where they are read from, with
the value types both sides speak (a configuration's window, a SQL resource, an assignment).

Implemented by :class:`shared.adapters.schedules.ScheduleCache` (Table Storage) and
:class:`shared.adapters.schedules.ScheduleReader` (ARM, through the Azure SDK).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.domain.alerts import ResourceWindow, WatchedConfiguration
from shared.domain.schedule import MaintenanceSchedule, ScheduleError
from shared.domain.scope import DynamicScope
from shared.domain.sql_catalog import (
    Eligibility,
    EligibilityPolicy,
    SqlResource,
    check_eligibility,
    schedule_from_public_configuration,
    sql_resource_kind,
)


def _hhmm(duration: str) -> str:
    """``05:00:00`` (as some API versions write it) -> ``05:00``."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::\d{2})?\s*", duration or "")
    return f"{int(m.group(1)):02d}:{m.group(2)}" if m else duration


@dataclass(frozen=True)
class ConfigurationWindow:
    """A maintenance configuration's window, as Azure states it."""

    configuration_id: str
    source: str  # "update-manager" | "sql-public" | "catalog"
    recur_every: str
    start_date_time: str
    duration: str
    time_zone: str
    expiration_date_time: str = ""
    location: str = ""
    scope: str = ""

    def schedule(self) -> MaintenanceSchedule:
        props = {
            "maintenanceWindow": {
                "recurEvery": self.recur_every,
                "startDateTime": self.start_date_time,
                "duration": _hhmm(self.duration),
                "timeZone": self.time_zone,
                "expirationDateTime": self.expiration_date_time or None,
            }
        }
        return schedule_from_public_configuration(props)

    @classmethod
    def from_model(cls, configuration_id: str, source: str, model: Any) -> ConfigurationWindow:
        missing = [a for a in ("recur_every", "start_date_time", "time_zone") if not getattr(model, a, None)]
        if missing:
            raise ScheduleError(f"maintenance configuration {configuration_id} has no {', '.join(missing)}")
        return cls(
            configuration_id=configuration_id,
            source=source,
            recur_every=str(model.recur_every),
            start_date_time=str(model.start_date_time),
            duration=str(model.duration or "01:30"),
            time_zone=str(model.time_zone),
            expiration_date_time=str(model.expiration_date_time or ""),
            location=str(getattr(model, "location", "") or ""),
            scope=str(getattr(model, "maintenance_scope", "") or ""),
        )

    @classmethod
    def from_window(
        cls, configuration_id: str, source: str, window: Mapping[str, Any], *, location: str = "", scope: str = ""
    ) -> ConfigurationWindow:
        """From a REST ``maintenanceWindow`` object (MaintenanceWindow in the Maintenance spec:
        startDateTime, expirationDateTime, duration, timeZone, recurEvery)."""
        w = {str(k).lower(): v for k, v in dict(window or {}).items()}
        missing = [k for k in ("recurEvery", "startDateTime", "timeZone") if not w.get(k.lower())]
        if missing:
            raise ScheduleError(f"maintenance configuration {configuration_id} has no {', '.join(missing)}")
        return cls(
            configuration_id=configuration_id,
            source=source,
            recur_every=str(w["recurevery"]),
            start_date_time=str(w["startdatetime"]),
            duration=str(w.get("duration") or "01:30"),
            time_zone=str(w["timezone"]),
            expiration_date_time=str(w.get("expirationdatetime") or ""),
            location=location,
            scope=scope,
        )


@dataclass(frozen=True)
class SqlResourceRef:
    resource_id: str
    location: str
    configuration_id: str
    kind: str  # "database" | "managed_instance"
    service_objective: str = ""  # GP_Gen5_2, S0, HS_Gen5_2 (a managed instance: its SKU, GP_Gen5)
    edition: str = ""  # the SKU tier: GeneralPurpose, Hyperscale, Standard ...
    hardware: str = ""  # the SKU family: Gen5, DC, Fsv2 ... ("" when not stated)
    instance_pool: bool = False  # a managed instance in an instance pool

    def eligibility(self, policy: EligibilityPolicy | None = None) -> Eligibility:
        """Whether it can choose a maintenance window (the SQL maintenance document's limits)."""
        return check_eligibility(
            SqlResource(
                sql_resource_kind(self.resource_id) if self.kind != "managed_instance" else "managed_instance",
                self.location,
                service_objective=self.service_objective,
                edition=self.edition,
                hardware_family=self.hardware,
                in_instance_pool=self.instance_pool,
            ),
            policy,
        )


@dataclass(frozen=True)
class Assignment:
    resource_id: str
    configuration_id: str
    #: For a machine a dynamic scope brought in: that scope's assignment id. For a dynamic
    #: scope itself (``resource_id`` a subscription or resource group): its filter.
    via: str = ""
    scope: DynamicScope | None = None


@dataclass
class CachedSchedules:
    """What the cache holds, as domain inputs for the rules."""

    configurations: dict[str, MaintenanceSchedule] = field(default_factory=dict)  # lower-case id
    watched: list[WatchedConfiguration] = field(default_factory=list)
    sql_windows: dict[str, ResourceWindow] = field(default_factory=dict)  # lower-case resource id
    sql_resources: list[SqlResourceRef] = field(default_factory=list)
    vm_schedules: dict[str, tuple[MaintenanceSchedule, ...]] = field(default_factory=dict)  # lower-case VM id
    problems: list[str] = field(default_factory=list)


def _sql_row(r: SqlResourceRef) -> list[Any]:
    fields = ("resource_id", "location", "configuration_id", "kind", "service_objective", "edition", "hardware")
    return [*(getattr(r, f) for f in fields), r.instance_pool]


@dataclass
class PlacementSnapshot:
    """Who follows which window, as one value: machine assignments (a dynamic scope's members
    carry its assignment id in ``via``), the dynamic scopes themselves (their filters), the SQL
    resources and every region's time zone. Cached as a whole (a few rows), rewritten only when
    its digest changes."""

    assignments: list[Assignment] = field(default_factory=list)
    scopes: list[dict[str, Any]] = field(default_factory=list)  # DynamicScope.to_json()
    sql_resources: list[SqlResourceRef] = field(default_factory=list)
    region_zones: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Canonical (sorted) so equal snapshots serialise, and digest, alike."""
        return {
            "v": 1,
            "assignments": sorted(
                {(a.resource_id, a.configuration_id, a.via) for a in self.assignments},
                key=lambda t: (t[0].lower(), t[1].lower(), t[2].lower()),
            ),
            "scopes": sorted(self.scopes, key=lambda s: str(s.get("assignment", "")).lower()),
            "sql": sorted(
                (_sql_row(r) for r in {r.resource_id.lower(): r for r in self.sql_resources}.values()),
                key=lambda t: str(t[0]).lower(),
            ),
            "regions": dict(sorted(self.region_zones.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlacementSnapshot:
        return cls(
            assignments=[Assignment(str(r), str(c), via=str(v)) for r, c, v in data.get("assignments") or ()],
            scopes=[dict(s) for s in data.get("scopes") or ()],
            sql_resources=[
                SqlResourceRef(str(i), str(loc), str(c), str(k), str(so), str(ed), str(hw), bool(pool))
                for i, loc, c, k, so, ed, hw, pool in data.get("sql") or ()
            ],
            region_zones={str(k): str(v) for k, v in dict(data.get("regions") or {}).items()},
        )

    def digest(self) -> str:
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def by_machine(self) -> dict[str, set[str]]:
        """Machine id (lower-case) -> its configuration ids (lower-case)."""
        out: dict[str, set[str]] = {}
        for a in self.assignments:
            out.setdefault(a.resource_id.lower(), set()).add(a.configuration_id.lower())
        return out


@dataclass
class ConfigurationSync:
    """What a refresh found of each configuration it wants: a window, or why there is none."""

    windows: list[ConfigurationWindow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # configuration id -> error
    watched: set[str] = field(default_factory=set)  # lower-case ids


class ScheduleSource(Protocol):
    """Where schedules are read from: Resource Graph for the estate (paged queries per
    subscription set), ARM for the few things Resource Graph does not hold."""

    def configuration(self, configuration_id: str) -> ConfigurationWindow: ...

    def configurations_in(self, subscriptions: Sequence[str]) -> list[ConfigurationWindow]: ...

    def assignments_in(self, subscriptions: Sequence[str]) -> list[Assignment]: ...

    def sql_resources_in(self, subscriptions: Sequence[str]) -> list[SqlResourceRef]: ...

    def scope_members(self, scope: DynamicScope) -> list[str]: ...

    def region_zones(self, subscription: str) -> dict[str, str]: ...


class ScheduleStore(Protocol):
    """The schedule cache: what the refresh writes and the rules read."""

    def claim_refresh(self, now: datetime) -> bool: ...

    def load(self, watched_ids: Iterable[str]) -> CachedSchedules: ...

    def placements(self) -> PlacementSnapshot | None: ...

    def put_placements(self, snapshot: PlacementSnapshot, now: datetime) -> bool: ...

    def sync_configurations(self, sync: ConfigurationSync, now: datetime) -> set[str]: ...
