"""Assessment and installation results, as the patch cycle records them.

Parsed from the REST bodies of ``assessPatches`` / ``installPatches`` (camelCase keys,
read case-insensitively); pure, no SDK types. A VM's state in a cycle round moves
``queued -> running -> succeeded | completed-with-warnings | failed | not-assessable``;
whatever happens, the state says so (with the reason).
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

SECURITY_CLASSIFICATIONS = frozenset({"critical", "security"})
REBOOT_BEHAVIOURS_NEEDING_REBOOT = frozenset({"alwaysrequiresreboot", "canrequestreboot"})

# The month's OS cumulative update (LCU), told apart from .NET, Defender, servicing-stack,
# malicious-software-removal and other updates by what an assessment returns for each patch:
# ``name``, ``kbId``, ``classifications``, ``rebootBehavior`` (azure-rest-api-specs
# specification/compute/resource-manager/Microsoft.Compute, VirtualMachineSoftwarePatchProperties,
# and its VirtualMachine_AssessPatches example). Windows Update names the OS LCU
# "YYYY-MM Cumulative Update for Microsoft server operating system version 21H2 for x64-based
# Systems (KB...)" (Windows Server 2022) or "... Cumulative Update for Windows Server ..."; the
# .NET one is "Cumulative Update for .NET Framework ...". Only the OS LCU decides a baseline:
# the hotpatch docs say .NET is never hotpatched and other reboot-requiring Critical/Security
# updates may come in hotpatch months.
_OS_LCU = re.compile(
    r"\bcumulative update\b(?:(?!\.net).)*\b(?:microsoft server operating system|windows server|windows \d+)", re.I
)
_NOT_OS_LCU = re.compile(
    r"\.net|framework|servicing stack|defender|antimalware|security intelligence|malicious software|hotpatch|dynamic",
    re.I,
)


class VmState(enum.StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    COMPLETED_WITH_WARNINGS = "completed-with-warnings"
    FAILED = "failed"
    NOT_ASSESSABLE = "not-assessable"
    NOT_HANDLED = "not-handled"  # a machine type with no patch API we use (a scale set, say): listed only

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {VmState.SUCCEEDED, VmState.COMPLETED_WITH_WARNINGS, VmState.FAILED, VmState.NOT_ASSESSABLE, VmState.NOT_HANDLED}
)


def _get(data: Mapping[str, Any], key: str, default: Any = None) -> Any:
    if key in data:
        return data[key]
    low = key.lower()
    for k, v in data.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return default


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 instant from ARM (``...Z``, fractional digits beyond micro-seconds allowed)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip().replace("Z", "+00:00")
    if "." in text:  # .NET writes 7 fractional digits; Python takes at most 6
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        rest = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{rest}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_error(error: Any) -> str:
    """ARM's ``ApiError`` (code, message, details, innererror) as one line."""
    if not error:
        return ""
    if isinstance(error, str):
        return error
    if isinstance(error, Mapping):
        code, message = _get(error, "code", ""), _get(error, "message", "")
        details = _get(error, "details") or []
        extra = "; ".join(format_error(d) for d in details if d)
        text = f"{code}: {message}".strip(": ")
        return f"{text} ({extra})" if extra else text
    return str(error)


@dataclass(frozen=True)
class Patch:
    kb: str
    name: str
    classifications: tuple[str, ...]
    reboot_behavior: str
    published: date | None

    @property
    def security(self) -> bool:
        return any(c.lower() in SECURITY_CLASSIFICATIONS for c in self.classifications)

    @property
    def needs_reboot(self) -> bool:
        return self.reboot_behavior.lower() in REBOOT_BEHAVIOURS_NEEDING_REBOOT

    @property
    def os_cumulative(self) -> bool:
        """The OS latest cumulative update (the hotpatch *baseline* kind), by its name."""
        return bool(_OS_LCU.search(self.name)) and not _NOT_OS_LCU.search(self.name)


def _patch(data: Mapping[str, Any]) -> Patch:
    published = parse_instant(_get(data, "publishedDate"))
    return Patch(
        kb=str(_get(data, "kbId", "") or ""),
        name=str(_get(data, "name", "") or ""),
        classifications=tuple(str(c) for c in (_get(data, "classifications") or [])),
        reboot_behavior=str(_get(data, "rebootBehavior", "") or ""),
        published=published.date() if published else None,
    )


@dataclass(frozen=True)
class AssessmentResult:
    """What ``assessPatches`` reported for one VM."""

    status: str  # ARM's: Succeeded, CompletedWithWarnings, Failed, InProgress, Unknown
    critical_and_security: int = 0
    other: int = 0
    by_classification: dict[str, int] = field(default_factory=dict)
    reboot_pending: bool = False
    started_utc: datetime | None = None
    error: str = ""
    activity_id: str = ""
    patches: tuple[Patch, ...] = ()

    @property
    def state(self) -> VmState:
        s = self.status.lower()
        if s == "succeeded":
            return VmState.SUCCEEDED
        if s == "completedwithwarnings":
            return VmState.COMPLETED_WITH_WARNINGS
        return VmState.FAILED

    @property
    def reboot_requiring_security(self) -> tuple[Patch, ...]:
        return tuple(p for p in self.patches if p.security and p.needs_reboot)

    @property
    def os_cumulative_pending(self) -> tuple[Patch, ...]:
        """Pending OS cumulative updates that need a reboot: what a baseline installs."""
        return tuple(p for p in self.patches if p.os_cumulative and p.needs_reboot)

    def summary(self) -> dict[str, Any]:
        """What the cycle store keeps (no patch list: counts and the reboot-relevant KBs)."""
        return {
            "status": self.status,
            "critical_and_security": self.critical_and_security,
            "other": self.other,
            "by_classification": dict(self.by_classification),
            "reboot_pending": self.reboot_pending,
            "started_utc": self.started_utc.isoformat() if self.started_utc else None,
            "error": self.error,
            "activity_id": self.activity_id,
            "reboot_requiring_security_kbs": [p.kb for p in self.reboot_requiring_security],
            "os_cumulative_kbs": [p.kb for p in self.os_cumulative_pending],
        }


def parse_assessment(body: Mapping[str, Any]) -> AssessmentResult:
    """An ``assessPatches`` result body. Raises ValueError naming what is missing."""
    if not isinstance(body, Mapping):
        raise ValueError(f"assessment result: expected an object, got {type(body).__name__}")
    status = _get(body, "status")
    if not status:
        raise ValueError("assessment result: 'status' is missing")
    patches = tuple(_patch(p) for p in (_get(body, "availablePatches") or []) if isinstance(p, Mapping))
    counts: Counter[str] = Counter()
    for p in patches:
        for c in p.classifications or ("Unclassified",):
            counts[c] += 1
    critical_and_security = _int(_get(body, "criticalAndSecurityPatchCount"))
    other = _int(_get(body, "otherPatchCount"))
    # An Arc-enabled server answers with counts by classification and ``errorDetails``
    # (HybridCompute's MachineAssessPatchesResult, examples/machine/Machine_AssessPatches.json).
    by_class = _get(body, "availablePatchCountByClassification")
    if isinstance(by_class, Mapping) and not patches:
        for name, n in by_class.items():
            if _int(n):
                counts[str(name)] += _int(n)
        if _get(body, "criticalAndSecurityPatchCount") is None:
            critical_and_security = sum(
                _int(n) for k, n in by_class.items() if str(k).lower() in SECURITY_CLASSIFICATIONS
            )
            other = sum(_int(n) for k, n in by_class.items() if str(k).lower() not in SECURITY_CLASSIFICATIONS)
    return AssessmentResult(
        status=str(status),
        critical_and_security=critical_and_security,
        other=other,
        by_classification=dict(sorted(counts.items())),
        reboot_pending=bool(_get(body, "rebootPending", False)),
        started_utc=parse_instant(_get(body, "startDateTime")),
        error=format_error(_get(body, "error") or _get(body, "errorDetails")),
        activity_id=str(_get(body, "assessmentActivityId", "") or ""),
        patches=patches,
    )


@dataclass(frozen=True)
class InstallResult:
    """What ``installPatches`` reported for one VM."""

    status: str
    reboot_status: str = ""
    maintenance_window_exceeded: bool = False
    installed: int = 0
    failed: int = 0
    pending: int = 0
    excluded: int = 0
    not_selected: int = 0
    started_utc: datetime | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status.lower() in ("succeeded", "completedwithwarnings") and self.failed == 0

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_utc"] = self.started_utc.isoformat() if self.started_utc else None
        return data


def parse_install(body: Mapping[str, Any]) -> InstallResult:
    if not isinstance(body, Mapping):
        raise ValueError(f"installation result: expected an object, got {type(body).__name__}")
    status = _get(body, "status")
    if not status:
        raise ValueError("installation result: 'status' is missing")
    reboot_status = str(_get(body, "rebootStatus", "") or "")
    return _install_result(body, str(status), started_key="startDateTime", reboot_status=reboot_status)


def _install_result(
    body: Mapping[str, Any], status: str, *, started_key: str, reboot_status: str = ""
) -> InstallResult:
    """What an installation result and an instance view's installation summary share."""
    return InstallResult(
        status=status,
        reboot_status=reboot_status,
        maintenance_window_exceeded=bool(_get(body, "maintenanceWindowExceeded", False)),
        installed=_int(_get(body, "installedPatchCount")),
        failed=_int(_get(body, "failedPatchCount")),
        pending=_int(_get(body, "pendingPatchCount")),
        excluded=_int(_get(body, "excludedPatchCount")),
        not_selected=_int(_get(body, "notSelectedPatchCount")),
        started_utc=parse_instant(_get(body, started_key)),
        error=format_error(_get(body, "error") or _get(body, "errorDetails")),
    )


def parse_installation_summary(summary: Mapping[str, Any]) -> InstallResult | None:
    """The instance view's ``patchStatus.lastPatchInstallationSummary`` (what the last
    installation — a maintenance run's, say — did), or None when there is none."""
    if not summary or not _get(summary, "status"):
        return None
    return _install_result(summary, str(_get(summary, "status")), started_key="startTime")


@dataclass(frozen=True)
class LatestAssessment:
    """A machine's latest assessment as ARM shows it outside the operation (an Azure VM's
    instance view ``patchStatus.availablePatchSummary``): when it began, whether it still
    runs, and its outcome as an ``assessPatches`` result body (counts only: the instance view
    carries no patch list)."""

    started_utc: datetime | None
    running: bool
    body: dict[str, Any]


def parse_available_patch_summary(summary: Mapping[str, Any]) -> LatestAssessment | None:
    """The instance view's ``AvailablePatchSummary``: ``status`` (``InProgress`` until the
    operation completes, then ``Unknown``, ``Failed``, ``Succeeded`` or
    ``CompletedWithWarnings``), ``assessmentActivityId``, ``rebootPending``,
    ``criticalAndSecurityPatchCount``, ``otherPatchCount``, ``startTime``,
    ``lastModifiedTime``, ``error`` (azure-rest-api-specs, Microsoft.Compute
    ``VirtualMachinePatchStatus.availablePatchSummary``, "the available patch summary of the
    latest assessment operation for the virtual machine"; the VirtualMachine_Get_InstanceView
    example). None when ARM shows no assessment."""
    if not isinstance(summary, Mapping) or not _get(summary, "status"):
        return None
    status = str(_get(summary, "status"))
    body = {
        "status": status,
        "assessmentActivityId": _get(summary, "assessmentActivityId", "") or "",
        "rebootPending": bool(_get(summary, "rebootPending", False)),
        "criticalAndSecurityPatchCount": _int(_get(summary, "criticalAndSecurityPatchCount")),
        "otherPatchCount": _int(_get(summary, "otherPatchCount")),
        "startDateTime": _get(summary, "startTime"),
        "error": _get(summary, "error"),
        "availablePatches": [],
    }
    return LatestAssessment(parse_instant(_get(summary, "startTime")), status.lower() == "inprogress", body)
