"""The domain events (:class:`MaintenanceEvent`, :class:`HealthEvent`,
:class:`ResourceHealthAlert`, :class:`SqlMaintenanceNotice`) and their round trip through a
stored record (:func:`event_from_record`)."""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from shared.domain.events.base import (
    _APPLY_UPDATES,
    AVAILABILITY_STATUS_CHANGED,
    POST_MAINTENANCE_EVENT,
    PRE_MAINTENANCE_EVENT,
    RESOURCE_ANNOTATED,
    RESOURCE_HEALTH_EVENT,
    SERVICE_HEALTH_MAINTENANCE,
    Availability,
    MaintenancePhase,
    MaintenanceResult,
    NoticeStage,
    Schema,
    parse_instant,
    subscription_of,
)

# -- records ----------------------------------------------------------------------------


class _Recorded:
    """A domain event as a table row, driven by its dataclass fields: one column per field,
    named in PascalCase unless ``_COLUMNS`` renames it. Instants stay ``datetime`` (read back
    with :func:`as_utc`), enums are stored by value, a tuple of strings as one comma-separated
    text, a tuple of dataclasses as a JSON array of objects, ``None`` as ``None``. A row may
    lack an optional (``X | None``) field's column or a tuple of strings; any other is required."""

    _COLUMNS: ClassVar[Mapping[str, str]] = {}

    def to_record(self) -> dict[str, Any]:
        return {column: _store(kind, getattr(self, name)) for name, column, kind, _ in _columns(type(self))}

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Self:
        return cls(
            **{
                name: _load(kind, r.get(column) if optional or kind == _TEXTS else r[column], optional)
                for name, column, kind, optional in _columns(cls)
            }
        )


_TEXTS = tuple[str, ...]
_COLUMNS_OF: dict[type, tuple[tuple[str, str, Any, bool], ...]] = {}


def _columns(cls: type[_Recorded]) -> tuple[tuple[str, str, Any, bool], ...]:
    """``(field, column, type without None, optional)`` for each field of a recorded class."""
    if cls not in _COLUMNS_OF:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            kind = hints[f.name]
            others = [a for a in typing.get_args(kind) if a is not type(None)]
            optional = typing.get_origin(kind) is types.UnionType and len(others) < len(typing.get_args(kind))
            if optional:
                (kind,) = others
            column = cls._COLUMNS.get(f.name) or "".join(part.capitalize() for part in f.name.split("_"))
            out.append((f.name, column, kind, optional))
        _COLUMNS_OF[cls] = tuple(out)
    return _COLUMNS_OF[cls]


def _item_class(kind: Any) -> Any:
    """The dataclass of a ``tuple[SomeDataclass, ...]`` type, else ``None``."""
    args = typing.get_args(kind) if typing.get_origin(kind) is tuple else ()
    return args[0] if args and dataclasses.is_dataclass(args[0]) else None


def _store(kind: Any, value: Any) -> Any:
    if value is None or kind is datetime:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if kind == _TEXTS:
        return ",".join(value)
    if _item_class(kind):
        return json.dumps([dataclasses.asdict(item) for item in value])
    return value


def _load(kind: Any, value: Any, optional: bool) -> Any:
    if kind is datetime:
        return as_utc(value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return None if optional and not value else kind(value)
    if kind == _TEXTS:
        return tuple(s for s in (value or "").split(",") if s)
    if item := _item_class(kind):
        return tuple(
            item(**{k: tuple(v) if isinstance(v, list) else v for k, v in o.items()}) for o in json.loads(value)
        )
    return value


# -- domain events ----------------------------------------------------------------------


class MaintenanceRunIds:
    """What a maintenance run's ids say of it, for a class with ``correlation_id``
    (``.../applyupdates/yyyyMMddHHmmss``) and ``configuration_id``."""

    correlation_id: str
    configuration_id: str

    @property
    def run_key(self) -> str:
        """Resource ids are case-insensitive: the run's identity is the lower-case correlation id."""
        return self.correlation_id.lower()

    @property
    def run_start(self) -> datetime:
        """The run's scheduled start, from the correlation id's ``applyupdates/yyyyMMddHHmmss``."""
        return run_start_of(self.correlation_id)

    @property
    def month(self) -> str:
        return self.run_start.strftime("%Y-%m")

    @property
    def configuration_name(self) -> str:
        return self.configuration_id.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class MaintenanceEvent(_Recorded, MaintenanceRunIds):
    """An Update Manager maintenance run's pre or post event. Pre and post share their id
    (the run's correlation id); the idempotency key is (event type, event id)."""

    _COLUMNS: ClassVar[Mapping[str, str]] = {"start": "StartTime", "end": "EndTime"}

    event_type: str
    event_id: str
    event_time: datetime
    schema: Schema
    phase: MaintenancePhase
    correlation_id: str
    configuration_id: str
    start: datetime
    end: datetime
    cancellation_cutoff: datetime | None
    subscriptions: tuple[str, ...]
    status_raw: str | None = None
    status: MaintenanceResult | None = None


class ResourceIds:
    """What a resource id says of a health signal, for a class with ``resource_id``."""

    resource_id: str

    @property
    def resource_key(self) -> str:
        return self.resource_id.lower()

    @property
    def subscription(self) -> str:
        return subscription_of(self.resource_id)


@dataclass(frozen=True)
class HealthEvent(_Recorded, ResourceIds):
    """A HealthResources event: an availability change, or an annotation saying why."""

    _COLUMNS: ClassVar[Mapping[str, str]] = {"occurred": "OccurredTime"}

    event_type: str
    event_id: str
    event_time: datetime
    schema: Schema
    resource_id: str
    resource_type: str
    occurred: datetime
    availability: Availability | None = None
    previous_availability: Availability | None = None
    annotation_name: str | None = None
    reason: str | None = None
    summary: str | None = None
    context: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class ResourceHealthAlert(_Recorded, ResourceIds):
    """A Resource Health alert from an action group (common alert schema)."""

    _COLUMNS: ClassVar[Mapping[str, str]] = {"occurred": "OccurredTime"}

    event_type: str
    event_id: str
    event_time: datetime
    schema: Schema
    resource_id: str
    occurred: datetime
    availability: Availability
    previous_availability: Availability | None
    alert_id: str
    alert_rule: str | None
    monitor_condition: str
    title: str | None = None
    cause: str | None = None
    health_event_type: str | None = None


@dataclass(frozen=True)
class ImpactedService:
    name: str
    regions: tuple[str, ...]


@dataclass(frozen=True)
class SqlMaintenanceNotice(_Recorded):
    """One stage of a Service Health planned-maintenance notice (Azure SQL's advance
    notifications arrive this way; notices for other services are kept too)."""

    event_type: str
    event_id: str
    event_time: datetime
    schema: Schema
    tracking_id: str
    stage: NoticeStage
    stage_raw: str
    impact_start: datetime
    impact_mitigation: datetime | None
    impacted_services: tuple[ImpactedService, ...]
    subscriptions: tuple[str, ...]
    title: str | None = None
    service: str | None = None
    region: str | None = None
    alert_id: str | None = None
    communication_id: str | None = None
    maintenance_id: str | None = None

    @property
    def notice_key(self) -> str:
        return self.tracking_id.upper()

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.impacted_services)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({r for s in self.impacted_services for r in s.regions}))


@dataclass(frozen=True)
class SubscriptionValidation:
    """Event Grid's subscription handshake: acknowledged, never recorded (the Functions
    host answers it for Event Grid triggers; a webhook answers ``validationResponse``)."""

    event_id: str
    validation_code: str
    validation_url: str | None


DomainEvent = MaintenanceEvent | HealthEvent | ResourceHealthAlert | SqlMaintenanceNotice
Decoded = DomainEvent | SubscriptionValidation

RECORD_TYPES: dict[
    str, type[MaintenanceEvent] | type[HealthEvent] | type[ResourceHealthAlert] | type[SqlMaintenanceNotice]
]
RECORD_TYPES = {
    PRE_MAINTENANCE_EVENT: MaintenanceEvent,
    POST_MAINTENANCE_EVENT: MaintenanceEvent,
    AVAILABILITY_STATUS_CHANGED: HealthEvent,
    RESOURCE_ANNOTATED: HealthEvent,
    RESOURCE_HEALTH_EVENT: ResourceHealthAlert,
    SERVICE_HEALTH_MAINTENANCE: SqlMaintenanceNotice,
}


def event_from_record(record: Mapping[str, Any]) -> DomainEvent:
    """Rebuild a domain event from :meth:`to_record` output (as a store returns it)."""
    return RECORD_TYPES[record["EventType"]].from_record(record)


def as_utc(value: Any) -> Any:
    """A stored instant as a plain aware UTC ``datetime`` (stores return subclasses or text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_instant(value, "record")
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tzinfo=UTC
    )


def run_start_of(correlation_id: str) -> datetime:
    m = _APPLY_UPDATES.search(correlation_id)
    if not m:
        raise ValueError(
            f"not a maintenance run id (…/providers/Microsoft.Maintenance/applyUpdates/yyyyMMddHHmmss): {correlation_id!r}"
        )
    return datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
