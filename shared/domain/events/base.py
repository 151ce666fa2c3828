"""The event vocabulary: the event types Azure defines, the refusal errors, the enums a
decoded event carries, and strict reading of values (instants, resource ids, keys read
case-insensitively by :class:`_Obj`)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared import limits
from shared.limits import INSTANT_MAX, INSTANT_MIN, MAX_TEXT_UTF16, utf16_units

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
