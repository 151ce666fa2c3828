"""The schedule ports: the cached maintenance schedules and where they are read from, with
the value types both sides speak (a configuration's window, a SQL resource, an assignment).

Implemented by :class:`shared.adapters.schedules.ScheduleCache` (Table Storage) and
:class:`shared.adapters.schedules.ScheduleReader` (ARM, through the Azure SDK).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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


class ScheduleSource(Protocol):
    """Where schedules are read from (ARM)."""

    def configuration(self, configuration_id: str) -> ConfigurationWindow: ...

    def assignments(self, subscription: str) -> list[Assignment]: ...

    def scope_members(self, scope: DynamicScope) -> list[str]: ...

    def region_zones(self, subscription: str) -> dict[str, str]: ...

    def sql_resources(self, subscription: str) -> list[SqlResourceRef]: ...


class ScheduleStore(Protocol):
    """The schedule cache: what the refresh writes and the rules read."""

    def claim_refresh(self, now: datetime) -> bool: ...

    def load(self, watched_ids: Iterable[str]) -> CachedSchedules: ...

    def put_configuration(self, window: ConfigurationWindow, now: datetime, *, watched: bool) -> None: ...

    def mark_watched(self, configuration_id: str, now: datetime) -> None: ...

    def put_error(self, configuration_id: str, error: str, now: datetime) -> None: ...

    def put_sql_resources(self, refs: Iterable[SqlResourceRef], now: datetime) -> None: ...

    def put_assignments(self, assignments: Iterable[Assignment], now: datetime) -> None: ...

    def put_region_zones(self, zones: Mapping[str, str], now: datetime) -> None: ...

    def prune_scope_members(self, via: str, keep: Iterable[str]) -> int: ...
