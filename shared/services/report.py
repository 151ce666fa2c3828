"""Use case: the compliance report of one cycle, from whatever stores are there.

The outcome store is required (runs, health, SQL notices); the patch cycle's results,
the alerts and the cached placements (which VMs a configuration is assigned to, which
SQL resources exist) are read when given. The report itself is built by the pure
:func:`shared.domain.report.build_report`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from shared.domain.alerts import Alert
from shared.domain.calendar import CalendarPolicy, Cycle, YearMonth, cycle_at, format_utc
from shared.domain.outcomes import StoreUnavailableError
from shared.domain.report import MARGIN, ComplianceReport, ReportInputs, SqlResource, VmResult, build_report
from shared.presentation.report_html import PageLinks, render_html

#: Health signals this long before the timeline starts are read too, so a spell that began
#: before the cycle shows with its real start.
HEALTH_LOOKBACK = timedelta(days=7)


class OutcomeReader(Protocol):
    def runs_between(self, start: datetime, end: datetime) -> list[Any]: ...

    def list_resource_health(self, *, since: datetime | None = None) -> list[Any]: ...

    def list_notices(self) -> list[Any]: ...

    def list_rejections(self, month: Any) -> list[Any]: ...


class CycleReader(Protocol):
    def vm_results(self, cycle_id: str) -> list[VmResult]: ...

    def run_machines(self, correlation_ids: Iterable[str]) -> dict[str, list[str]]: ...


class AlertReader(Protocol):
    def alerts(self) -> list[Alert]: ...


class PlacementReader(Protocol):
    def assignments(self) -> dict[str, list[str]]: ...

    def sql_resources(self) -> list[SqlResource]: ...


@dataclass
class ReportSources:
    outcomes: OutcomeReader
    cycles: CycleReader | None = None
    alerts: AlertReader | None = None
    placements: PlacementReader | None = None


def compliance_report(
    sources: ReportSources, cycle: Cycle, now: datetime, *, overrun_grace: timedelta = timedelta(0)
) -> ComplianceReport:
    """Read what the stores hold about ``cycle`` and build its report as of ``now``.
    Raises :class:`~shared.domain.outcomes.StoreUnavailableError` when a store cannot be read."""
    notes: list[str] = []
    runs = sources.outcomes.runs_between(cycle.release_utc, cycle.ends_utc)
    health = sources.outcomes.list_resource_health(since=cycle.release_utc - MARGIN - HEALTH_LOOKBACK)
    notices = sources.outcomes.list_notices()
    rejected = [r for month in (cycle.month, cycle.month.next()) for r in sources.outcomes.list_rejections(month)]
    vms: Sequence[VmResult] | None = None
    run_machines: dict[str, list[str]] = {}
    if sources.cycles is not None:
        vms = sources.cycles.vm_results(cycle.id)
        run_machines = sources.cycles.run_machines(r.correlation_id for r in runs)
        if not vms:
            notes.append(f"No patch-cycle results are recorded for {cycle.id}: the VM counts are empty.")
    else:
        notes.append("The patch cycle's results were not read: no VM counts.")
    alerts: Sequence[Alert] | None = None
    if sources.alerts is not None:
        alerts = sources.alerts.alerts()
    else:
        notes.append("The alert store was not read: no alerts.")
    assignments: dict[str, list[str]] = {}
    sql: list[SqlResource] = []
    if sources.placements is not None:
        assignments = sources.placements.assignments()
        sql = sources.placements.sql_resources()
    if any(r.run_key not in run_machines and r.configuration_id.lower() not in assignments for r in runs):
        notes.append(
            "Runs marked * have no known machines (no verification recorded, no assignment cached): "
            "they are shown in every resource group of the subscriptions they targeted."
        )
    return build_report(
        ReportInputs(
            cycle=cycle,
            now=now,
            runs=runs,
            health=health,
            notices=notices,
            vms=vms,
            alerts=alerts,
            run_machines=run_machines,
            assigned_machines=assignments,
            sql_resources=sql,
            notes=notes,
            overrun_grace=overrun_grace,
            rejected=rejected,
        )
    )


#: The served page loads nothing from anywhere: no script, font or image beyond inline CSS/SVG.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'",
}
FORMATS = ("html", "json")


@dataclass(frozen=True)
class Answer:
    """What ``GET /api/report`` answers: the handler turns it into an HTTP response."""

    status: int
    content_type: str
    body: str
    headers: Mapping[str, str]


def _error(status: int, message: str, **headers: str) -> Answer:
    return Answer(status, "application/json", json.dumps({"error": message}), {**PAGE_HEADERS, **headers})


def _href(month: YearMonth, params: Mapping[str, str]) -> str:
    """A relative link to another cycle that keeps the page's format and, when the caller
    authenticated with ``?code=``, the function key (a browser cannot send it otherwise)."""
    query = {"cycle": str(month)}
    for name in ("format", "code"):
        if params.get(name):
            query[name] = params[name]
    return "?" + urlencode(query)


def report_answer(
    params: Mapping[str, str],
    now: datetime,
    policy: CalendarPolicy,
    load: Callable[[YearMonth], ComplianceReport],
) -> Answer:
    """The report of ``?cycle=YYYY-MM`` (default: the cycle in force at ``now``) as a page
    (``format=html``, the default) or the CLI's JSON contract (``format=json``), with the
    neighbouring cycles and the generation instant. 400 names a bad parameter; 503 says the
    store could not be read (a transient fault: try again)."""
    fmt_ = (params.get("format") or "html").lower()
    if fmt_ not in FORMATS:
        return _error(400, f"format: expected one of {', '.join(FORMATS)}, got {params.get('format')!r}")
    text = params.get("cycle") or ""
    try:
        month = YearMonth.parse(text) if text else cycle_at(now, policy).month
    except ValueError as exc:
        return _error(400, f"cycle: {exc}")
    try:
        report = load(month)
    except StoreUnavailableError as exc:
        return _error(503, f"the outcome store cannot be read: {exc}", **{"Retry-After": "30"})
    previous, following = month.previous(), month.next()
    if fmt_ == "json":
        body = {
            **report.to_json(),
            "generated_at": format_utc(now),
            "previous_cycle": str(previous),
            "next_cycle": str(following),
        }
        return Answer(200, "application/json", json.dumps(body), PAGE_HEADERS)
    links = PageLinks(_href(previous, params), _href(following, params), str(previous), str(following), now)
    return Answer(200, "text/html", render_html(report, links), PAGE_HEADERS)
