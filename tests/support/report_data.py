"""Compliance-report inputs from the bundled October 2026 (``samples/events``), decoded and
folded by the app's own code, plus VM results and alerts made the way the patch cycle and
the alert rules make them (:func:`shared.domain.alerts.apply_verdict`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from shared.domain.alerts import Alert, AlertKey, AlertKind, Verdict, apply_verdict
from shared.domain.calendar import CalendarPolicy, YearMonth, cycle_for_month
from shared.domain.events import (
    DecodeError,
    HealthEvent,
    MaintenanceEvent,
    ResourceHealthAlert,
    SqlMaintenanceNotice,
    decode_event,
    parse_payload,
)
from shared.domain.outcomes import fold_health, fold_notices, fold_runs
from shared.domain.report import ReportInputs, VmResult
from tests.support.events import SAMPLES

CYCLE = cycle_for_month(YearMonth(2026, 10), CalendarPolicy())
NOW = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
OPS = "6f1c9e2a-8d4b-4a7e-b3f2-9c0d5e7a1b48"
PROD = "b3e87d15-2c6f-49a0-8e1d-7f4a6c2b9d03"
DATA = "d9a2f460-5b7e-4c13-a8f9-1e3b6d0c7a52"
ALLOWED = frozenset({OPS, PROD, DATA})


def vm_id(rg: str, name: str, sub: str = PROD) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def sample_events() -> list[object]:
    """Every event of the bundled month that the app accepts (malformed and foreign ones dropped)."""
    out: list[object] = []
    for path in sorted(SAMPLES.glob("*.json")):
        try:
            elements = parse_payload(path.read_bytes())
        except DecodeError:
            continue
        for element in elements:
            try:
                out.append(decode_event(element, allowed_subscriptions=ALLOWED))
            except DecodeError:
                continue
    return out


def alert(kind: AlertKind, resource_id: str, ref: str, opened: str, message: str, resolved: str | None = None) -> Alert:
    """An alert as the rules would leave it: opened (and resolved) through apply_verdict."""
    key = AlertKey(kind, resource_id, ref)
    opened_at = t(opened)
    current = apply_verdict(None, Verdict(key, True, message, since=opened_at), opened_at)
    assert current is not None
    if resolved is not None:
        current = apply_verdict(current, Verdict(key, False, "cleared"), t(resolved))
        assert current is not None
    return current


VMS = (
    VmResult(vm_id("rg-web-prod", "vm-web-01"), "succeeded", 0, finished=t("2026-10-13T18:05:00Z")),
    VmResult(vm_id("rg-web-prod", "vm-web-02"), "completed-with-warnings", 3, finished=t("2026-10-13T18:06:00Z")),
    VmResult(vm_id("rg-sqlvm-prod", "vm-sqlvm-01"), "failed", reason="HTTP 403 AuthorizationFailed"),
    VmResult(vm_id("rg-sqlvm-prod", "vm-sqlvm-02"), "succeeded", 0),
    VmResult(vm_id("rg-batch", "vm-batch-04"), "not-assessable", reason="not assessable: deallocated"),
    VmResult(vm_id("rg-batch", "vm-batch-05"), "running"),
    VmResult(vm_id("rg-batch", "vm-batch-06"), "succeeded", 2, install_state="succeeded"),
)


def sample_alerts() -> list[Alert]:
    return [
        alert(
            AlertKind.UNHEALTHY_AFTER_MAINTENANCE,
            vm_id("rg-sqlvm-prod", "vm-sqlvm-02"),
            "2026-10",
            "2026-10-18T03:10:00Z",
            "vm-sqlvm-02 is Unavailable after maintenance",
        ),
        alert(
            AlertKind.PATCH_FAILED,
            vm_id("rg-sqlvm-prod", "vm-sqlvm-01"),
            "2026-10",
            "2026-10-13T18:10:00Z",
            "assessment of vm-sqlvm-01 failed: HTTP 403",
        ),
        alert(
            AlertKind.UNEXPECTED_REBOOT,
            vm_id("rg-web-prod", "vm-web-02"),
            "2026-10",
            "2026-10-22T09:20:00Z",
            "vm-web-02 rebooted in a hotpatch month",
            resolved="2026-10-23T09:20:00Z",
        ),
        # Another cycle's: not this report's.
        alert(
            AlertKind.VM_NOT_ASSESSABLE,
            vm_id("rg-batch", "vm-batch-04"),
            "2026-09",
            "2026-10-13T17:00:00Z",
            "not assessable in September",
        ),
    ]


def inputs(
    *,
    vms: Sequence[VmResult] | None = VMS,
    alerts: Iterable[Alert] | None = None,
    run_machines: dict[str, list[str]] | None = None,
    grace: timedelta = timedelta(minutes=60),
    now: datetime = NOW,
) -> ReportInputs:
    events = sample_events()
    health: dict[str, list[HealthEvent | ResourceHealthAlert]] = {}
    for e in events:
        if isinstance(e, HealthEvent | ResourceHealthAlert):
            health.setdefault(e.resource_key, []).append(e)
    return ReportInputs(
        cycle=CYCLE,
        now=now,
        runs=fold_runs(e for e in events if isinstance(e, MaintenanceEvent)),
        health=[fold_health(v) for v in health.values()],
        notices=fold_notices(e for e in events if isinstance(e, SqlMaintenanceNotice)),
        vms=vms,
        alerts=list(sample_alerts() if alerts is None else alerts),
        run_machines=run_machines or {},
        overrun_grace=grace,
    )
