"""Azure SQL maintenance windows: the built-in catalog and the eligibility check.

The catalog is the offline default. What a public maintenance configuration read from
Azure says (``maintenanceWindow`` of ``publicMaintenanceConfigurations/{name}``)
overrides it through :func:`schedule_from_public_configuration`.

Facts and caveats (see the project's domain notes): windows are in the region's local
time; ``_1`` is the weekday window (22:00-06:00, starting Monday to Thursday) and ``_2``
the weekend window (starting Friday to Sunday) - confirmed for managed instances,
assumed for databases; ``SQL_Default`` holds impactful updates back 08:00-17:00, so
maintenance happens 17:00-08:00 local every day.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .region import region_key
from .schedule import MaintenanceSchedule, ScheduleError


@dataclass(frozen=True)
class Region:
    display_name: str
    arm_name: str  # "eastus2"
    windows_zone: str  # the region's local time, as a Windows zone name
    databases: bool = True
    managed_instances: bool = True

    @property
    def config_token(self) -> str:
        """The region as configuration names spell it: ``EastUS2``."""
        return "".join(w if w in ("US", "UK") else w.capitalize() for w in self.display_name.split())


REGIONS: tuple[Region, ...] = (
    Region("Australia East", "australiaeast", "AUS Eastern Standard Time"),
    Region("Australia Southeast", "australiasoutheast", "AUS Eastern Standard Time"),
    Region("Brazil South", "brazilsouth", "E. South America Standard Time"),
    Region("Canada Central", "canadacentral", "Eastern Standard Time"),
    Region("Canada East", "canadaeast", "Eastern Standard Time"),
    Region("Central India", "centralindia", "India Standard Time"),
    Region("Central US", "centralus", "Central Standard Time"),
    Region("East US", "eastus", "Eastern Standard Time"),
    Region("East US 2", "eastus2", "Eastern Standard Time"),
    Region("East Asia", "eastasia", "China Standard Time"),
    Region("France South", "francesouth", "Romance Standard Time"),
    Region("Germany West Central", "germanywestcentral", "W. Europe Standard Time"),
    Region("Japan East", "japaneast", "Tokyo Standard Time"),
    Region("Korea Central", "koreacentral", "Korea Standard Time", databases=False),
    Region("North Central US", "northcentralus", "Central Standard Time"),
    Region("North Europe", "northeurope", "GMT Standard Time"),
    Region("South Central US", "southcentralus", "Central Standard Time"),
    Region("Southeast Asia", "southeastasia", "Singapore Standard Time"),
    Region("UK South", "uksouth", "GMT Standard Time"),
    Region("UK West", "ukwest", "GMT Standard Time"),
    Region("West Central US", "westcentralus", "Mountain Standard Time"),
    Region("West Europe", "westeurope", "W. Europe Standard Time"),
    Region("West US", "westus", "Pacific Standard Time"),
    Region("West US 2", "westus2", "Pacific Standard Time"),
)

WEEKDAY_RECUR = "Week Monday,Tuesday,Wednesday,Thursday"
WEEKEND_RECUR = "Week Friday,Saturday,Sunday"
# Any past date serves as the anchor of a weekly schedule with an interval of 1.
_ANCHOR = "2020-01-01"

DEFAULT_CONFIGURATION = "SQL_Default"
_NAME = re.compile(r"SQL_(?P<region>[A-Za-z0-9]+)_(?P<kind>DB|MI)_(?P<slot>[12])", re.IGNORECASE)


def find_region(name: str) -> Region | None:
    """By display name ("East US 2"), ARM name ("eastus2") or config token ("EastUS2")."""
    key = region_key(name)
    for r in REGIONS:
        if key == r.arm_name:
            return r
    return None


@dataclass(frozen=True)
class SqlWindowConfiguration:
    name: str
    region: Region | None  # None for SQL_Default, which follows the resource's region
    resource_kind: str | None  # "DB" | "MI" | None
    schedule_label: str  # "weekday" | "weekend" | "default"


def describe_configuration(name: str) -> SqlWindowConfiguration:
    """Parse a SQL maintenance configuration name, or say what is wrong with it."""
    if name.strip().lower() == DEFAULT_CONFIGURATION.lower():
        return SqlWindowConfiguration(DEFAULT_CONFIGURATION, None, None, "default")
    m = _NAME.fullmatch(name.strip())
    if not m:
        raise ScheduleError(
            f"maintenance configuration {name!r}: expected SQL_Default or SQL_{{Region}}_DB_1/_DB_2/_MI_1/_MI_2"
        )
    region = find_region(m.group("region"))
    if region is None:
        raise ScheduleError(f"maintenance configuration {name!r}: region {m.group('region')!r} is not in the catalog")
    kind = m.group("kind").upper()
    if kind == "DB" and not region.databases:
        raise ScheduleError(
            f"maintenance configuration {name!r}: {region.display_name} offers windows to managed instances only"
        )
    canonical = f"SQL_{region.config_token}_{kind}_{m.group('slot')}"
    return SqlWindowConfiguration(canonical, region, kind, "weekday" if m.group("slot") == "1" else "weekend")


def catalog_schedule(
    name: str, region: str | None = None, zones: Mapping[str, str] | None = None
) -> MaintenanceSchedule:
    """The built-in schedule of a SQL configuration. ``SQL_Default`` needs ``region``
    (the resource's), since it is local to wherever the resource lives: the catalog's zone,
    else ``zones`` (ARM name -> IANA zone of every region, from Azure's region metadata)."""
    cfg = describe_configuration(name)
    reg = cfg.region
    if reg is None:
        reg = find_region(region or "")
        zone = (zones or {}).get(region_key(region))
        if reg is None and zone:
            return MaintenanceSchedule.from_config("Day", f"{_ANCHOR} 17:00", "15:00", zone)
        if reg is None:
            raise ScheduleError(
                f"{DEFAULT_CONFIGURATION} is local to the resource's region: name one of the catalog's regions"
                + (f" (got {region!r})" if region else "")
            )
        return MaintenanceSchedule.from_config("Day", f"{_ANCHOR} 17:00", "15:00", reg.windows_zone)
    recur = WEEKDAY_RECUR if cfg.schedule_label == "weekday" else WEEKEND_RECUR
    return MaintenanceSchedule.from_config(recur, f"{_ANCHOR} 22:00", "08:00", reg.windows_zone)


def schedule_from_public_configuration(properties: Mapping[str, object]) -> MaintenanceSchedule:
    """A schedule from what Azure says of a configuration (``properties`` of a
    ``publicMaintenanceConfigurations`` resource, keys in any case)."""
    lowered = {str(k).lower(): v for k, v in properties.items()}
    win = lowered.get("maintenancewindow")
    if not isinstance(win, Mapping):
        raise ScheduleError("maintenance configuration has no maintenanceWindow object")
    w = {str(k).lower(): v for k, v in win.items()}
    missing = [k for k in ("startdatetime", "duration", "timezone", "recurevery") if not w.get(k)]
    if missing:
        raise ScheduleError(f"maintenanceWindow lacks {', '.join(missing)}")
    expiration = w.get("expirationdatetime")
    return MaintenanceSchedule.from_config(
        str(w["recurevery"]),
        str(w["startdatetime"]),
        str(w["duration"]),
        str(w["timezone"]),
        str(expiration) if expiration else None,
    )


# -- eligibility -----------------------------------------------------------------------


#: Service objectives that cannot choose a window, ``*`` a wildcard. The SQL maintenance-window
#: document ("Maintenance window", learn.microsoft.com/azure/azure-sql/database/maintenance-window,
#: "Limitations"): DTU Basic, S0 and S1; older revisions also Hyperscale (``HS_*``).
DEFAULT_EXCLUDED_SERVICE_OBJECTIVES = ("Basic", "S0", "S1", "HS_*")
#: Hardware that cannot choose a window: DC-series and Fsv2 (current document), Gen4 and
#: M-series (older revisions). The family is the service objective's middle part
#: (``GP_Gen4_2`` -> Gen4, ``BC_M_8`` -> M, ``GP_DC_2`` -> DC).
DEFAULT_EXCLUDED_HARDWARE = ("DC", "Fsv2", "Gen4", "M")


@dataclass(frozen=True)
class EligibilityPolicy:
    """What cannot choose a window. The documented exclusions have changed between
    revisions, so the lists are settings (SQL_EXCLUDED_SERVICE_OBJECTIVES, SQL_EXCLUDED_HARDWARE);
    Hyperscale elastic pools and managed instances in an instance pool never can."""

    excluded_service_objectives: frozenset[str] = frozenset(s.lower() for s in DEFAULT_EXCLUDED_SERVICE_OBJECTIVES)
    excluded_hardware: frozenset[str] = frozenset(h.lower() for h in DEFAULT_EXCLUDED_HARDWARE)
    excluded_editions: frozenset[str] = frozenset()
    hyperscale_elastic_pools_excluded: bool = True


@dataclass(frozen=True)
class SqlResource:
    kind: str  # "database" | "elastic_pool" | "managed_instance"
    region: str
    service_objective: str = ""  # "S0", "GP_Gen5_2", "Basic"
    edition: str = ""  # "Standard", "Hyperscale", "GeneralPurpose"
    hardware_family: str = ""  # "Gen5", "DC", "Fsv2"
    in_instance_pool: bool = False


def sql_resource_kind(resource_id: str) -> str:
    """``database``, ``elastic_pool`` or ``managed_instance`` from an ARM id."""
    low = resource_id.lower()
    if "/microsoft.sql/managedinstances/" in low:
        return "managed_instance"
    if "/elasticpools/" in low:
        return "elastic_pool"
    return "database"


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)


def _norm(values: Iterable[str]) -> set[str]:
    return {v.strip().lower() for v in values if v.strip()}


def check_eligibility(resource: SqlResource, policy: EligibilityPolicy | None = None) -> Eligibility:
    """Whether a resource can choose a maintenance window, and if not, why."""
    policy = policy or EligibilityPolicy()
    reasons: list[str] = []
    kind = resource.kind.lower()
    if kind not in ("database", "elastic_pool", "managed_instance"):
        raise ValueError(f"resource kind {resource.kind!r}: expected database, elastic_pool or managed_instance")
    region = find_region(resource.region)
    if region is None:
        reasons.append(f"region {resource.region!r} offers no maintenance window choice (not in the catalog)")
    elif kind == "managed_instance" and not region.managed_instances:
        reasons.append(f"{region.display_name} offers no window choice to managed instances")
    elif kind != "managed_instance" and not region.databases:
        reasons.append(f"{region.display_name} offers window choice to managed instances only")
    slo = resource.service_objective.strip().lower()
    if slo and any(fnmatch.fnmatchcase(slo, pattern) for pattern in _norm(policy.excluded_service_objectives)):
        reasons.append(f"service objective {resource.service_objective} cannot choose a window")
    hw = resource.hardware_family.strip().lower()
    if not hw and slo:
        parts = slo.split("_")  # GP_DC_2, BC_Fsv2_8, GP_Gen5_2, GP_S_Gen5_1 (serverless), BC_M_8
        hw = parts[-2] if len(parts) >= 3 else ""
    if hw and hw in _norm(policy.excluded_hardware):
        reasons.append(f"hardware {hw.upper() if len(hw) <= 2 else hw.capitalize()} cannot choose a window")
    edition = resource.edition.strip().lower()
    if edition and edition in _norm(policy.excluded_editions):
        reasons.append(f"edition {resource.edition} cannot choose a window")
    if kind == "elastic_pool" and edition == "hyperscale" and policy.hyperscale_elastic_pools_excluded:
        reasons.append("Hyperscale elastic pools cannot choose a window")
    if kind == "managed_instance" and resource.in_instance_pool:
        reasons.append("managed instances in an instance pool cannot choose a window")
    return Eligibility(not reasons, tuple(reasons))
