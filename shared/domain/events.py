"""Decoding what Azure sends into typed domain events, strictly.

Three envelopes arrive, one JSON object each (or an array of them):

- the **Event Grid schema** (``eventType``, ``eventTime``, ``data``),
- the **CloudEvents 1.0 schema** (``specversion``, ``type``, ``time``, ``data``),
- the **Azure Monitor common alert schema** (``schemaId: azureMonitorCommonAlertSchema``,
  ``data.essentials``, ``data.alertContext``), as an action group posts it.

They carry four kinds of domain event: :class:`MaintenanceEvent` (Update Manager
pre/post maintenance), :class:`HealthEvent` (HealthResources availability change or
annotation), :class:`SqlMaintenanceNotice` (a Service Health planned-maintenance
notice: how Azure SQL advance notifications arrive) and :class:`ResourceHealthAlert`.

Keys are read case-insensitively (published samples differ in casing between
revisions); a key present twice in different casings is refused as ambiguous. Every
refusal is a :class:`DecodeError` naming the field (a dotted path) and the problem.

Pure: no I/O, no clock, no Azure SDK. The Maintenance event types are not in
azure-eventgrid's ``SystemEventNames``, so the constants are defined here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self

from shared import limits
from shared.limits import INSTANT_MAX, INSTANT_MIN, MAX_DEPTH, MAX_TEXT_UTF16, utf16_units

MAX_EVENT_BYTES = limits.MAX_BODY_BYTES
"""Event Grid's limit for one event (and for an HTTP body we accept)."""

PRE_MAINTENANCE_EVENT = "Microsoft.Maintenance.PreMaintenanceEvent"
POST_MAINTENANCE_EVENT = "Microsoft.Maintenance.PostMaintenanceEvent"
MAINTENANCE_TOPIC_TYPE = "Microsoft.Maintenance.MaintenanceConfigurations"
AVAILABILITY_STATUS_CHANGED = "Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged"
RESOURCE_ANNOTATED = "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
COMMON_ALERT_SCHEMA_ID = "azureMonitorCommonAlertSchema"
SERVICE_HEALTH_MAINTENANCE = "Microsoft.ServiceHealth/maintenance/action"
"""Event type of a :class:`SqlMaintenanceNotice` (the alert's ``operationName``)."""
RESOURCE_HEALTH_EVENT = "Microsoft.ResourceHealth/healthevent/action"
"""Event type of a :class:`ResourceHealthAlert` (operations ``.../healthevent/{Activated,Updated,Resolved}/action``)."""

EVENT_GRID_TYPES = (PRE_MAINTENANCE_EVENT, POST_MAINTENANCE_EVENT, AVAILABILITY_STATUS_CHANGED, RESOURCE_ANNOTATED)
KNOWN_EVENT_TYPES = (*EVENT_GRID_TYPES, SERVICE_HEALTH_MAINTENANCE, RESOURCE_HEALTH_EVENT)

_APPLY_UPDATES = re.compile(r"/providers/microsoft\.maintenance/applyupdates/(\d{14})$", re.I)
_CONFIGURATION = re.compile(r"/providers/microsoft\.maintenance/maintenanceconfigurations/[^/]+$", re.I)
_RESOURCE_ID = re.compile(r"^/subscriptions/([^/]+)(/.*)?$", re.I)


class DecodeError(ValueError):
    """An event (or a payload) that cannot be accepted: ``field`` is a dotted path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class SyntheticSignalError(DecodeError):
    """A test signal (an action group's test action), not a real one: it is recorded as
    synthetic and acknowledged, and never alerts nor changes any resource's health."""


class Schema(enum.StrEnum):
    EVENT_GRID = "eventgrid"
    CLOUD_EVENTS = "cloudevents"
    COMMON_ALERT = "commonalert"


class MaintenancePhase(enum.StrEnum):
    PRE = "pre"
    POST = "post"


class MaintenanceResult(enum.StrEnum):
    """A post event's ``status``, normalised (the raw value is always kept beside it).

    The post-maintenance event docs show only ``Succeeded``
    (learn.microsoft.com/azure/event-grid/event-schema-maintenance-configuration: "The
    completion status of maintenance schedule instance"). A run is an ``applyUpdates``
    resource, whose status is the Maintenance ``UpdateStatus`` union (azure-rest-api-specs
    specification/maintenance/resource-manager/Microsoft.Maintenance/Maintenance/models.tsp):
    Pending, InProgress, Completed, RetryNow, RetryLater, NoUpdatesPending, Cancel, Cancelled,
    Failed. See :data:`RUN_RESULTS` for how each is read; anything else is ``UNKNOWN`` (never
    a failure, never refused)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_PROGRESS = "in-progress"
    """Not finished: still running, or failed and to be retried (no verdict on the patches yet)."""
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    """A value neither the docs nor the spec list: recorded verbatim, reported as an unknown outcome."""


RUN_RESULTS: Mapping[str, MaintenanceResult] = {
    # Post event docs (event-schema-maintenance-configuration): the documented success.
    "succeeded": MaintenanceResult.SUCCEEDED,
    # UpdateStatus (Maintenance models.tsp): "All updates are successfully applied."
    "completed": MaintenanceResult.SUCCEEDED,
    # UpdateStatus: "No updates are pending." (nothing to install is not a failure)
    "noupdatespending": MaintenanceResult.SUCCEEDED,
    # UpdateStatus: "Updates installation failed."
    "failed": MaintenanceResult.FAILED,
    # Not in UpdateStatus. "TimedOut" is in the same spec's UpdateStatusCode ("Update has timed
    # out."); "RetryFailed" is in no published source we found: both read as failure by name.
    "retryfailed": MaintenanceResult.FAILED,
    "timedout": MaintenanceResult.FAILED,
    # UpdateStatus: "There are pending updates to be installed." / "Updates installation are in progress."
    "pending": MaintenanceResult.IN_PROGRESS,
    "inprogress": MaintenanceResult.IN_PROGRESS,
    # UpdateStatus: "failed but are ready to retry again" / "failed and should be retried later".
    "retrynow": MaintenanceResult.IN_PROGRESS,
    "retrylater": MaintenanceResult.IN_PROGRESS,
    # UpdateStatus: "Cancel the schedule ..." / "Send the Cancelled response ..."; "Canceled" is
    # the American spelling other Azure enums use for the same thing.
    "cancel": MaintenanceResult.CANCELLED,
    "cancelled": MaintenanceResult.CANCELLED,
    "canceled": MaintenanceResult.CANCELLED,
}


def run_result(status_raw: str | None) -> MaintenanceResult | None:
    """A post event's raw ``status`` as a :class:`MaintenanceResult` (any casing, spaces,
    hyphens or underscores ignored); ``None`` for no status (a pre event)."""
    if status_raw is None:
        return None
    return RUN_RESULTS.get(re.sub(r"[\s_-]", "", status_raw).lower(), MaintenanceResult.UNKNOWN)


class Availability(enum.StrEnum):
    """Resource Health availability states (REST ``availabilityState``)."""

    AVAILABLE = "Available"
    DEGRADED = "Degraded"
    UNAVAILABLE = "Unavailable"
    UNKNOWN = "Unknown"

    @property
    def healthy(self) -> bool:
        return self is Availability.AVAILABLE


class NoticeStage(enum.StrEnum):
    """Stages of a Service Health planned-maintenance notice, in their natural order."""

    PLANNED = "Planned"
    RESCHEDULED = "Rescheduled"
    ACTIVE = "Active"
    IN_PROGRESS = "InProgress"
    COMPLETE = "Complete"
    RESOLVED = "Resolved"
    CANCELED = "Canceled"

    @property
    def rank(self) -> int:
        return list(NoticeStage).index(self)

    @property
    def final(self) -> bool:
        return self in (NoticeStage.COMPLETE, NoticeStage.RESOLVED, NoticeStage.CANCELED)


_STAGE_ALIASES = {"cancelled": NoticeStage.CANCELED, "completed": NoticeStage.COMPLETE}


# -- values -----------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_instant(text: str, field: str) -> datetime:
    """ISO 8601 date and time as an aware UTC instant (Azure's 7-digit fractions allowed;
    a time without an offset is UTC, as Azure documents its times)."""
    t = text.strip()
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:?\d{2})?", t, re.I)
    if not m:
        raise DecodeError(field, f"not an ISO 8601 date and time: {_short(text)}")
    base, fraction, offset = m.groups()
    fraction = (fraction or "")[:7]  # microseconds: Azure sends seven digits, Python keeps six
    if not offset or offset.upper() == "Z":
        offset = "+00:00"
    try:
        value = datetime.fromisoformat(base + fraction + offset)
        value = value.astimezone(UTC)
    except OverflowError:  # an offset that moves the time past year 1 or 9999
        raise DecodeError(field, f"{_short(text)} is outside {_RANGE}") from None
    except ValueError as exc:
        raise DecodeError(field, f"not a valid date and time: {_short(text)} ({exc})") from None
    if value < INSTANT_MIN:
        raise DecodeError(field, f"{_short(text)} is before 1601-01-01 (accepted: {_RANGE})")
    if value > INSTANT_MAX:
        raise DecodeError(field, f"{_short(text)} is after 9999-12-31 (accepted: {_RANGE})")
    return value


_RANGE = "1601-01-01T00:00:00Z to 9999-12-31T23:59:59Z, what Azure Tables holds"


def format_instant(value: datetime) -> str:
    """UTC, ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def subscription_of(resource_id: str) -> str:
    """The (lower-case) subscription id of an ARM resource id."""
    m = _RESOURCE_ID.match(resource_id)
    if not m:
        raise ValueError(f"not an Azure resource id: {resource_id!r}")
    return m.group(1).lower()


class _Obj:
    """A JSON object read with case-insensitive keys; every error names its dotted path."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise DecodeError(path, f"expected an object, got {_kind(value)}")
        self.path = path
        self.value = value
        self._keys: dict[str, str] = {}
        for key in value:
            lower = str(key).lower()
            if lower in self._keys:
                raise DecodeError(self.at(key), f"ambiguous: both {self._keys[lower]!r} and {key!r} are present")
            self._keys[lower] = key

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def get(self, key: str) -> Any:
        actual = self._keys.get(key.lower())
        return None if actual is None else self.value[actual]

    def obj(self, key: str) -> _Obj:
        value = self.get(key)
        if value is None:
            raise DecodeError(self.at(key), "missing")
        return _Obj(value, self.at(key))

    def text(self, key: str, *, numbers: bool = False) -> str:
        value = self.get(key)
        if value is None:
            raise DecodeError(self.at(key), "missing")
        if numbers and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise DecodeError(self.at(key), f"expected a string, got {_kind(value)}")
        if not value.strip():
            raise DecodeError(self.at(key), "must not be empty")
        _check_length(value, self.at(key))
        return value.strip()

    def optional_text(self, key: str, *, numbers: bool = False) -> str | None:
        value = self.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return self.text(key, numbers=numbers)

    def instant(self, key: str) -> datetime:
        return parse_instant(self.text(key), self.at(key))

    def optional_instant(self, key: str) -> datetime | None:
        text = self.optional_text(key)
        return None if text is None else parse_instant(text, self.at(key))

    def array(self, key: str) -> list[Any]:
        value = self.get(key)
        if value is None:
            raise DecodeError(self.at(key), "missing")
        if not isinstance(value, list):
            raise DecodeError(self.at(key), f"expected an array, got {_kind(value)}")
        return value

    def texts(self, key: str, *, may_be_empty: bool = False) -> tuple[str, ...]:
        if may_be_empty and self.get(key) is None:
            return ()
        items = self.array(key)
        if not items and not may_be_empty:
            raise DecodeError(self.at(key), "must not be empty")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item.strip():
                raise DecodeError(f"{self.at(key)}[{i}]", f"expected a non-empty string, got {_kind(item)}")
            out.append(item.strip())
        _check_length(",".join(out), self.at(key))  # stored as one comma-separated text
        return tuple(out)


def _check_length(value: str, field: str) -> None:
    if len(value) > MAX_TEXT_UTF16 // 2 and utf16_units(value) > MAX_TEXT_UTF16:
        raise DecodeError(
            field, f"{utf16_units(value):,} UTF-16 characters is over the {MAX_TEXT_UTF16:,}-character limit of a text"
        )


def _resource_id(obj: _Obj, key: str) -> str:
    value = obj.text(key).rstrip("/")
    if not _RESOURCE_ID.match(value) or "/providers/" not in value.lower():
        raise DecodeError(obj.at(key), f"not an Azure resource id: {_short(value)}")
    return value


def _availability(obj: _Obj, key: str) -> Availability:
    text = obj.text(key)
    for state in Availability:
        if text.lower() == state.value.lower():
            return state
    allowed = ", ".join(s.value for s in Availability)
    raise DecodeError(obj.at(key), f"{_short(text)} is not an availability state ({allowed})")


def _check_allowed(subscriptions: Iterable[str], allowed: frozenset[str], field: str) -> None:
    if not allowed:
        return
    for sub in subscriptions:
        if sub.lower() not in allowed:
            raise DecodeError(field, f"subscription {sub} is not in ALLOWED_SUBSCRIPTION_IDS (foreign event)")


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


# -- payloads ---------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_payload(raw: bytes | str, *, max_bytes: int = MAX_EVENT_BYTES) -> list[Any]:
    """A body as Event Grid or an action group posts it: one JSON object or an array.
    Returns the elements, each to be decoded by :func:`decode_event`."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise DecodeError("payload", f"{len(data):,} bytes is over the {max_bytes:,}-byte limit")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DecodeError("payload", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise DecodeError("payload", "empty body")
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise DecodeError("payload", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise DecodeError("payload", f"nested deeper than the {MAX_DEPTH}-level limit") from None
    except ValueError as exc:
        raise DecodeError("payload", f"not JSON: {exc}") from None
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        if not value:
            raise DecodeError("payload", "an empty array holds no event")
        return value
    raise DecodeError("payload", f"expected an event object or an array of events, got {_kind(value)}")


def encoded_size(element: Any) -> int:
    return len(json.dumps(element, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_structure(element: Any, path: str = "") -> None:
    """Refuse what no store can hold or no decoder should walk: nesting deeper than
    :data:`~shared.limits.MAX_DEPTH` and lone surrogates (``"\\ud800"`` is valid JSON
    but not Unicode text). Iterative: a structure of any depth is checked without recursion."""
    stack: list[tuple[Any, str, int]] = [(element, path, 0)]
    while stack:
        value, at, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise DecodeError(at or "event", f"nested deeper than the {MAX_DEPTH}-level limit")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str) and _SURROGATE.search(k):
                    raise DecodeError(at or "event", f"a key holds a lone surrogate ({_surrogate(k)})")
                stack.append(
                    (v, f"{at}.{k}" if isinstance(k, str) and at else f"{at}[{k}]" if at else str(k), depth + 1)
                )
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise DecodeError(at or "event", f"holds a lone surrogate ({_surrogate(value)}): not Unicode text")


def _surrogate(text: str) -> str:
    m = _SURROGATE.search(text)
    assert m is not None
    return f"U+{ord(m.group()):04X} at character {m.start():,}"


def storable_text(text: str) -> str:
    """``text`` with each lone surrogate written as its ``\\uXXXX`` escape, so that it can be stored."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def compact_json(element: Any, *, sort_keys: bool = False) -> str:
    """Compact JSON of a parsed element, whatever its depth: levels beyond
    :data:`~shared.limits.MAX_DEPTH` are replaced by a marker (what a refusal keeps)."""
    try:
        return json.dumps(element, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    except RecursionError:
        return json.dumps(_flatten(element), separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)


def _flatten(element: Any) -> Any:
    marker = f"[nested deeper than {MAX_DEPTH} levels: not kept]"
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(element, root, 0, 0)]
    while stack:
        value, parent, slot, depth = stack.pop()
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            parent[slot] = marker
        elif isinstance(value, dict):
            parent[slot] = copy = dict.fromkeys(value)
            stack.extend((v, copy, k, depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            parent[slot] = copy_list = [None] * len(value)
            stack.extend((v, copy_list, i, depth + 1) for i, v in enumerate(value))
        else:
            parent[slot] = value
    return root[0]


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}(?::?\d{2})?)?")
_EVENT_GRID_KEEPS = ("id", "topic", "subject", "eventtype", "eventtime", "dataversion", "data")


def canonical_envelope(element: Any) -> Any:
    """An Event Grid or CloudEvents envelope in the form that survives every door: the
    Functions host parses an event with Newtonsoft (date strings re-written, 7-digit
    fractions trimmed) and the Python worker rebuilds it from the fields it knows
    (``metadataVersion`` and ``dataschema`` dropped, times cut to microseconds). So only
    the fields both paths keep are kept, and every ISO date-time string is written one
    way: UTC, ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, trailing zeros dropped (without a zone
    it stays without one). Anything else (an action group's alert) is returned as it is.
    Stored with its keys sorted (``compact_json(..., sort_keys=True)``)."""
    if not isinstance(element, dict):
        return element
    lower = {str(k).lower() for k in element}
    if "schemaid" in lower or not ({"eventtype", "specversion"} & lower):
        return element
    if "specversion" in lower:
        kept = {k: v for k, v in element.items() if str(k).lower() != "dataschema" and v is not None}
    else:
        kept = {k: v for k, v in element.items() if str(k).lower() in _EVENT_GRID_KEEPS and v is not None}
    return _canonical_times(kept)


def _canonical_times(value: Any) -> Any:
    if isinstance(value, str):
        return _canonical_time(value)
    if isinstance(value, list):
        return [_canonical_times(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical_times(v) for k, v in value.items()}
    return value


def _canonical_time(text: str) -> str:
    m = _ISO.fullmatch(text)
    if not m:
        return text
    y, mo, d, h, mi, se, fraction, zone = m.groups()
    try:
        value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(se), int((fraction or "0")[:6].ljust(6, "0")))
        if zone and zone != "Z":
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            value = value - offset if zone[0] == "+" else value + offset
    except (ValueError, OverflowError):
        return text
    out = f"{value.year:04d}-{value:%m-%dT%H:%M:%S}"
    if value.microsecond:
        out += f".{value.microsecond:06d}".rstrip("0")
    return out + ("Z" if zone else "")


def check_record(event: DomainEvent) -> None:
    """Every column of the event's row within what a Table property holds, and every list
    of texts storable as one comma-separated text (an item holding a comma would read back
    as two: found by the fuzz tests)."""
    for name, column, kind, _ in _columns(type(event)):
        value = getattr(event, name)
        if kind == _TEXTS and value and any("," in item for item in value):
            raise DecodeError(column, "an item holds a comma: not an Azure id")
    for column, value in event.to_record().items():
        if isinstance(value, str) and len(value) > MAX_TEXT_UTF16 // 2 and utf16_units(value) > MAX_TEXT_UTF16:
            raise DecodeError(
                column, f"{utf16_units(value):,} UTF-16 characters is over the {MAX_TEXT_UTF16:,}-character limit"
            )


@dataclass(frozen=True)
class Door:
    """Where events come in, and what each door takes: the action-group webhook takes
    only the common alert schema; each Event Grid function only its own event types, in
    the Event Grid or CloudEvents schema (the subscription handshake included)."""

    name: str
    schemas: frozenset[Schema]
    event_types: frozenset[str]


WEBHOOK_DOOR = Door(
    "POST /api/alerts", frozenset({Schema.COMMON_ALERT}), frozenset({SERVICE_HEALTH_MAINTENANCE, RESOURCE_HEALTH_EVENT})
)
MAINTENANCE_DOOR = Door(
    "maintenance_events",
    frozenset({Schema.EVENT_GRID, Schema.CLOUD_EVENTS}),
    frozenset({PRE_MAINTENANCE_EVENT, POST_MAINTENANCE_EVENT}),
)
HEALTH_DOOR = Door(
    "health_events",
    frozenset({Schema.EVENT_GRID, Schema.CLOUD_EVENTS}),
    frozenset({AVAILABILITY_STATUS_CHANGED, RESOURCE_ANNOTATED}),
)
EVENT_GRID_DOOR = Door(
    "the Event Grid functions", frozenset({Schema.EVENT_GRID, Schema.CLOUD_EVENTS}), frozenset(EVENT_GRID_TYPES)
)


def door_for(element: Any) -> Door:
    """The door an envelope belongs to (``replay`` of saved files): an alert's or Event Grid's."""
    if isinstance(element, dict) and any(str(k).lower() == "schemaid" for k in element):
        return WEBHOOK_DOOR
    return EVENT_GRID_DOOR


def _check_door(door: Door | None, schema: Schema) -> None:
    if door is None or schema in door.schemas:
        return
    if schema is Schema.COMMON_ALERT:
        raise DecodeError(
            "schemaId",
            f"{door.name} takes Event Grid and CloudEvents events only; "
            "an action group's common alert schema alert goes to POST /api/alerts",
        )
    raise DecodeError(
        "event",
        f"{door.name} takes only the Azure Monitor common alert schema ({COMMON_ALERT_SCHEMA_ID}); "
        "Event Grid events come in through the Event Grid functions",
    )


def _check_type(door: Door | None, event_type: str, field: str) -> None:
    if door is None or event_type == SUBSCRIPTION_VALIDATION or event_type in door.event_types:
        return
    right = next((d.name for d in (MAINTENANCE_DOOR, HEALTH_DOOR) if event_type in d.event_types), "another door")
    raise DecodeError(field, f"{event_type} is not delivered to {door.name} (its subscription targets {right})")


def decode_event(
    element: Any,
    *,
    allowed_subscriptions: frozenset[str] = frozenset(),
    size: int | None = None,
    max_bytes: int = MAX_EVENT_BYTES,
    door: Door | None = None,
) -> Decoded:
    """One envelope (any of the three schemas) as a domain event, or a :class:`DecodeError`.

    ``size`` is the element's encoded size if the caller already knows it.
    ``allowed_subscriptions`` (lower-case ids), when not empty, refuses foreign events.
    ``door``, when given, refuses what does not come in there (see :class:`Door`).
    """
    check_structure(element)
    if size is None:
        size = encoded_size(element)
    if size > max_bytes:
        raise DecodeError("event", f"{size:,} bytes is over the {max_bytes:,}-byte limit")
    if not isinstance(element, dict):
        raise DecodeError("event", f"expected an event object, got {_kind(element)}")
    decoded = _decode_envelope(_Obj(element, ""), allowed_subscriptions, door)
    if not isinstance(decoded, SubscriptionValidation):
        check_record(decoded)
    return decoded


def _decode_envelope(env: _Obj, allowed_subscriptions: frozenset[str], door: Door | None) -> Decoded:
    if env.get("schemaId") is not None:
        _check_door(door, Schema.COMMON_ALERT)
        return _decode_common_alert(env, allowed_subscriptions)
    if env.get("specversion") is not None:
        _check_door(door, Schema.CLOUD_EVENTS)
        return _decode_cloud_event(env, allowed_subscriptions, door)
    if env.get("eventType") is not None:
        _check_door(door, Schema.EVENT_GRID)
        return _decode_event_grid(env, allowed_subscriptions, door)
    raise DecodeError(
        "event",
        "not an Event Grid event (eventType), a CloudEvent 1.0 (specversion) "
        f"nor a common alert schema alert (schemaId); keys: {sorted(env.value)[:8]}",
    )


def _known_type(env: _Obj, key: str) -> str:
    text = env.text(key)
    for known in (*EVENT_GRID_TYPES, SUBSCRIPTION_VALIDATION):
        if text.lower() == known.lower():
            return known
    raise DecodeError(env.at(key), f"unknown event type {_short(text, 120)}")


def _decode_event_grid(env: _Obj, allowed: frozenset[str], door: Door | None = None) -> Decoded:
    event_type = _known_type(env, "eventType")
    _check_type(door, event_type, env.at("eventType"))
    event_id = env.text("id")
    if event_type == SUBSCRIPTION_VALIDATION:
        data = env.obj("data")
        return SubscriptionValidation(event_id, data.text("validationCode"), data.optional_text("validationUrl"))
    env.optional_text("dataVersion", numbers=True)
    head = _Head(event_type, event_id, env.instant("eventTime"), Schema.EVENT_GRID)
    return _decode_data(head, env.obj("data"), allowed)


def _decode_cloud_event(env: _Obj, allowed: frozenset[str], door: Door | None = None) -> Decoded:
    version = env.text("specversion", numbers=True)
    if version not in ("1.0", "1"):
        raise DecodeError(env.at("specversion"), f"CloudEvents {_short(version)} is not supported (only 1.0)")
    if env.get("data_base64") is not None:
        raise DecodeError(env.at("data_base64"), "binary event data is not accepted: expected JSON data")
    content_type = env.optional_text("datacontenttype")
    if content_type and "json" not in content_type.lower():
        raise DecodeError(env.at("datacontenttype"), f"{_short(content_type)} is not JSON")
    env.text("source")
    event_type = _known_type(env, "type")
    _check_type(door, event_type, env.at("type"))
    if event_type == SUBSCRIPTION_VALIDATION:
        raise DecodeError(env.at("type"), "CloudEvents subscriptions validate with an HTTP OPTIONS handshake")
    head = _Head(event_type, env.text("id"), env.instant("time"), Schema.CLOUD_EVENTS)
    return _decode_data(head, env.obj("data"), allowed)


@dataclass(frozen=True)
class _Head:
    """What the envelope says of an event, whatever its schema."""

    event_type: str
    event_id: str
    event_time: datetime
    schema: Schema


def _decode_data(head: _Head, data: _Obj, allowed: frozenset[str]) -> DomainEvent:
    if head.event_type in (PRE_MAINTENANCE_EVENT, POST_MAINTENANCE_EVENT):
        return _maintenance(head, data, allowed)
    return _health(head, data, allowed)


def _maintenance(head: _Head, data: _Obj, allowed: frozenset[str]) -> MaintenanceEvent:
    pre = head.event_type == PRE_MAINTENANCE_EVENT
    correlation_id = data.text("correlationId")
    if not _APPLY_UPDATES.search(correlation_id):
        raise DecodeError(
            data.at("correlationId"),
            f"not a maintenance run id ending /providers/Microsoft.Maintenance/applyUpdates/yyyyMMddHHmmss: "
            f"{_short(correlation_id, 120)}",
        )
    try:
        run_start = run_start_of(correlation_id)
    except ValueError:
        raise DecodeError(data.at("correlationId"), "the run's yyyyMMddHHmmss is not a valid date and time") from None
    if not INSTANT_MIN <= run_start <= INSTANT_MAX:
        raise DecodeError(data.at("correlationId"), f"the run's yyyyMMddHHmmss is outside {_RANGE}")
    if head.event_id.lower() != correlation_id.lower():
        raise DecodeError("id", "a maintenance event's id must equal data.correlationId")
    configuration_id = _resource_id(data, "maintenanceConfigurationId")
    if not _CONFIGURATION.search(configuration_id):
        raise DecodeError(
            data.at("maintenanceConfigurationId"),
            f"not a Microsoft.Maintenance/maintenanceConfigurations id: {_short(configuration_id, 120)}",
        )
    start, end = data.instant("startDateTime"), data.instant("endDateTime")
    if end <= start:
        raise DecodeError(data.at("endDateTime"), "is not after startDateTime")
    cutoff = None
    if pre:
        cutoff = data.instant("cancellationCutOffDateTime")
        if cutoff > start:
            raise DecodeError(data.at("cancellationCutOffDateTime"), "is after startDateTime")
    # Empty or missing is valid: a dynamic scope that matched no machine (Microsoft's webhook
    # runbook checks for exactly this: learn.microsoft.com/azure/update-manager/tutorial-webhooks-using-runbooks).
    subscriptions = tuple(s.lower() for s in data.texts("resourceSubscriptionIds", may_be_empty=True))
    _check_allowed((subscription_of(configuration_id), *subscriptions), allowed, data.at("resourceSubscriptionIds"))
    status_raw = status = None
    if not pre:
        status_raw = data.text("status")
        status = run_result(status_raw)
    return MaintenanceEvent(
        event_type=head.event_type,
        event_id=head.event_id,
        event_time=head.event_time,
        schema=head.schema,
        phase=MaintenancePhase.PRE if pre else MaintenancePhase.POST,
        correlation_id=correlation_id,
        configuration_id=configuration_id,
        start=start,
        end=end,
        cancellation_cutoff=cutoff,
        subscriptions=subscriptions,
        status_raw=status_raw,
        status=status,
    )


def _health(head: _Head, data: _Obj, allowed: frozenset[str]) -> HealthEvent:
    props = data.obj("resourceInfo").obj("properties")
    resource_id = _resource_id(props, "targetResourceId")
    _check_allowed((subscription_of(resource_id),), allowed, props.at("targetResourceId"))
    common: dict[str, Any] = {
        "event_type": head.event_type,
        "event_id": head.event_id,
        "event_time": head.event_time,
        "schema": head.schema,
        "resource_id": resource_id,
        "resource_type": props.text("targetResourceType"),
        "occurred": props.instant("occurredTime"),
    }
    if head.event_type == AVAILABILITY_STATUS_CHANGED:
        return HealthEvent(
            **common,
            availability=_availability(props, "availabilityState"),
            previous_availability=_availability(props, "previousAvailabilityState")
            if props.has("previousAvailabilityState")
            else None,
        )
    return HealthEvent(
        **common,
        annotation_name=props.text("annotationName"),
        reason=props.optional_text("reason"),
        summary=props.optional_text("summary"),
        context=props.optional_text("context"),
        category=props.optional_text("category"),
    )


def _decode_common_alert(env: _Obj, allowed: frozenset[str]) -> DomainEvent:
    schema_id = env.text("schemaId")
    if schema_id.lower() != COMMON_ALERT_SCHEMA_ID.lower():
        raise DecodeError(env.at("schemaId"), f"{_short(schema_id)} is not {COMMON_ALERT_SCHEMA_ID}")
    data = env.obj("data")
    essentials, context = data.obj("essentials"), data.obj("alertContext")
    _refuse_synthetic(essentials, context)
    service = essentials.text("monitoringService")
    kind = service.replace(" ", "").lower()
    if kind == "servicehealth":
        return _service_health(essentials, context, allowed)
    if kind == "resourcehealth":
        return _resource_health(essentials, context, allowed)
    raise DecodeError(
        essentials.at("monitoringService"),
        f"{_short(service)} alerts are not handled (only ServiceHealth planned maintenance and Resource Health)",
    )


# The action group's test action names its rule "test-<Kind>AlertRule" and Service Health's
# marks itself "IsSynthetic": "True" (the published test-action samples, credited in
# tests/fixtures/published/README.md: learn.microsoft.com/azure/azure-monitor/alerts/
# alerts-common-schema-test-action-definitions).
_TEST_RULE = re.compile(r"^test-\w*AlertRule$", re.I)


def _refuse_synthetic(essentials: _Obj, context: _Obj) -> None:
    props = context.value.get(next((k for k in context.value if str(k).lower() == "properties"), ""), None)
    places = [essentials, context]
    if isinstance(props, dict):
        places.append(_Obj(props, context.at("properties")))
    for obj in places:
        flag = obj.get("IsSynthetic")
        if flag is True or (isinstance(flag, str) and flag.strip().lower() == "true"):
            raise SyntheticSignalError(
                obj.at("IsSynthetic"), "a synthetic test alert (IsSynthetic): recorded, not acted on"
            )
    rule = essentials.get("alertRule")
    if isinstance(rule, str) and _TEST_RULE.match(rule.strip()):
        raise SyntheticSignalError(
            essentials.at("alertRule"), f"{_short(rule)} is an action group test action: recorded, not acted on"
        )


def _alert_subscriptions(essentials: _Obj) -> tuple[str, ...]:
    targets = essentials.texts("alertTargetIDs")
    subs = []
    for i, target in enumerate(targets):
        m = _RESOURCE_ID.match(target)
        if not m:
            raise DecodeError(f"{essentials.at('alertTargetIDs')}[{i}]", f"not an Azure resource id: {_short(target)}")
        subs.append(m.group(1).lower())
    return tuple(dict.fromkeys(subs))


def _service_health(essentials: _Obj, context: _Obj, allowed: frozenset[str]) -> SqlMaintenanceNotice:
    operation = context.text("operationName")
    props = context.obj("properties")
    incident_type = props.text("incidentType")
    if operation.lower() != SERVICE_HEALTH_MAINTENANCE.lower() or incident_type.lower() != "maintenance":
        raise DecodeError(
            context.at("operationName"),
            f"{_short(operation)} (incidentType {_short(incident_type)}) is not a planned-maintenance notice",
        )
    subscriptions = _alert_subscriptions(essentials)
    _check_allowed(subscriptions, allowed, essentials.at("alertTargetIDs"))
    stage_raw = props.text("stage")
    stage = _STAGE_ALIASES.get(stage_raw.lower()) or next(
        (s for s in NoticeStage if s.value.lower() == stage_raw.lower()), None
    )
    if stage is None:
        allowed_stages = ", ".join(s.value for s in NoticeStage)
        raise DecodeError(props.at("stage"), f"{_short(stage_raw)} is not a notice stage ({allowed_stages})")
    impact_start = props.instant("impactStartTime")
    mitigation = props.optional_instant("impactMitigationTime")
    if mitigation is not None and mitigation < impact_start:
        raise DecodeError(props.at("impactMitigationTime"), "is before impactStartTime")
    return SqlMaintenanceNotice(
        event_type=SERVICE_HEALTH_MAINTENANCE,
        event_id=context.text("eventDataId"),
        event_time=context.instant("eventTimestamp"),
        schema=Schema.COMMON_ALERT,
        tracking_id=props.text("trackingId"),
        stage=stage,
        stage_raw=stage_raw,
        impact_start=impact_start,
        impact_mitigation=mitigation,
        impacted_services=_impacted_services(props),
        subscriptions=subscriptions,
        title=props.optional_text("title"),
        service=props.optional_text("service"),
        region=props.optional_text("region"),
        alert_id=essentials.optional_text("alertId"),
        communication_id=props.optional_text("communicationId", numbers=True),
        maintenance_id=props.optional_text("maintenanceId"),
    )


def _impacted_services(props: _Obj) -> tuple[ImpactedService, ...]:
    field = props.at("impactedServices")
    value = props.get("impactedServices")
    if value is None:
        raise DecodeError(field, "missing")
    if isinstance(value, str):  # JSON inside the JSON, as Service Health sends it
        try:
            value = json.loads(value, parse_constant=_no_constants)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(field, f"not a JSON array inside the string: {exc}") from None
    if not isinstance(value, list) or not value:
        raise DecodeError(field, f"expected a non-empty array of impacted services, got {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        svc = _Obj(item, f"{field}[{i}]")
        regions = []
        for j, region in enumerate(svc.array("ImpactedRegions")):
            regions.append(_Obj(region, f"{svc.at('ImpactedRegions')}[{j}]").text("RegionName"))
        out.append(ImpactedService(svc.text("ServiceName"), tuple(regions)))
    return tuple(out)


def _resource_health(essentials: _Obj, context: _Obj, allowed: frozenset[str]) -> ResourceHealthAlert:
    operation = context.text("operationName")
    if not operation.lower().startswith("microsoft.resourcehealth/healthevent/"):
        raise DecodeError(context.at("operationName"), f"{_short(operation)} is not a Resource Health event")
    targets = essentials.texts("alertTargetIDs")
    if len(targets) != 1:
        raise DecodeError(essentials.at("alertTargetIDs"), f"expected exactly one resource, got {len(targets)}")
    resource_id = targets[0].rstrip("/")
    if not _RESOURCE_ID.match(resource_id) or "/providers/" not in resource_id.lower():
        raise DecodeError(f"{essentials.at('alertTargetIDs')}[0]", f"not an Azure resource id: {_short(resource_id)}")
    _check_allowed((subscription_of(resource_id),), allowed, essentials.at("alertTargetIDs"))
    props = context.obj("properties")
    return ResourceHealthAlert(
        event_type=RESOURCE_HEALTH_EVENT,
        event_id=context.text("eventDataId"),
        event_time=essentials.instant("firedDateTime"),
        schema=Schema.COMMON_ALERT,
        resource_id=resource_id,
        occurred=context.instant("eventTimestamp"),
        availability=_availability(props, "currentHealthStatus"),
        previous_availability=_availability(props, "previousHealthStatus")
        if props.has("previousHealthStatus")
        else None,
        alert_id=essentials.text("alertId"),
        alert_rule=essentials.optional_text("alertRule"),
        monitor_condition=essentials.text("monitorCondition"),
        title=props.optional_text("title"),
        cause=props.optional_text("cause"),
        health_event_type=props.optional_text("type"),
    )
