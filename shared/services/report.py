"""Use case: the compliance report of one cycle, from whatever stores are there.

The outcome store is required (runs, health, SQL notices); the patch cycle's results,
the alerts and the cached placements (which VMs a configuration is assigned to, which
SQL resources exist) are read when given. The report itself is built by the pure
:func:`shared.domain.report.build_report`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from shared.domain.alerts import Alert
from shared.domain.calendar import CalendarPolicy, Cycle, YearMonth, cycle_at, format_utc
from shared.domain.outcomes import StoreUnavailableError
from shared.domain.report import (
    MARGIN,
    ComplianceReport,
    GroupKey,
    ReportInputs,
    SqlResource,
    VmResult,
    build_report,
)
from shared.domain.report.summary import (
    CYCLE_ROW,
    SUMMARY_VERSION,
    CycleSlice,
    GroupSlice,
    StoredSummary,
    cycle_periods,
    cycle_slice_from_json,
    cycle_slice_to_json,
    group_of,
    group_row,
    group_slice_from_json,
    group_slice_to_json,
    join_slices,
    report_notes,
    slice_inputs,
)
from shared.presentation.report_html import PageLinks, render_html

#: Health signals this long before the timeline starts are read too, so a spell that began
#: before the cycle shows with its real start.
HEALTH_LOOKBACK = timedelta(days=7)


Groups = set[tuple[str, str]]  # (subscription, resource group), lower-case


class OutcomeReader(Protocol):
    def runs_between(self, start: datetime, end: datetime) -> list[Any]: ...

    def list_resource_health(self, *, since: datetime | None = None) -> list[Any]: ...

    def resource_health_in(self, prefixes: list[str], *, since: datetime) -> list[Any]: ...

    def list_notices(self) -> list[Any]: ...

    def list_rejections(self, month: Any) -> list[Any]: ...


class CycleReader(Protocol):
    def vm_results(self, cycle_id: str, groups: Groups | None = None) -> list[VmResult]: ...

    def run_machines(self, correlation_ids: Iterable[str]) -> dict[str, list[str]]: ...


class AlertReader(Protocol):
    def alerts(self) -> list[Alert]: ...

    def cycle_alerts(self, periods: Iterable[str], groups: Groups | None = None) -> list[Alert]: ...


class PlacementReader(Protocol):
    def assignments(self, groups: Groups | None = None) -> dict[str, list[str]]: ...

    def sql_resources(self, groups: Groups | None = None) -> list[SqlResource]: ...


@dataclass
class ReportSources:
    outcomes: OutcomeReader
    cycles: CycleReader | None = None
    alerts: AlertReader | None = None
    placements: PlacementReader | None = None


def read_inputs(
    sources: ReportSources,
    cycle: Cycle,
    now: datetime,
    *,
    overrun_grace: timedelta = timedelta(0),
    groups: Groups | None = None,
    indexed_alerts: bool = False,
    known_run_machines: Mapping[str, list[str]] | None = None,
) -> ReportInputs:
    """What the stores hold about ``cycle``, as the report's inputs. ``groups``: only the
    facts of those resource groups ((subscription, resource group), lower-case) besides the
    cycle's own (runs, notices, refusals); ``indexed_alerts``: the cycle's alerts through
    the alert store's period index rather than every alert; ``known_run_machines``: the
    machines of runs already known (their verification is not read again).
    Raises :class:`~shared.domain.outcomes.StoreUnavailableError` when a store cannot be read."""
    runs = sources.outcomes.runs_between(cycle.release_utc, cycle.ends_utc)
    since = cycle.release_utc - MARGIN - HEALTH_LOOKBACK
    if groups is not None and not groups:  # the cycle's own facts only
        health = []
    elif groups is None or any(not sub for sub, _ in groups):
        health = sources.outcomes.list_resource_health(since=since)
    else:
        prefixes = [
            f"/subscriptions/{sub}/resourcegroups/{rg}/" if rg else f"/subscriptions/{sub}" for sub, rg in groups
        ]
        health = sources.outcomes.resource_health_in(prefixes, since=since)
    notices = sources.outcomes.list_notices()
    rejected = [r for month in (cycle.month, cycle.month.next()) for r in sources.outcomes.list_rejections(month)]
    vms: Sequence[VmResult] | None = None
    run_machines: dict[str, list[str]] = {}
    if sources.cycles is not None:
        if groups is None:
            vms = sources.cycles.vm_results(cycle.id)
        else:
            vms = sources.cycles.vm_results(cycle.id, groups) if groups else []
        known = known_run_machines or {}
        run_machines = {r.run_key: list(known[r.run_key]) for r in runs if r.run_key in known}
        run_machines.update(sources.cycles.run_machines(r.correlation_id for r in runs if r.run_key not in known))
    alerts: Sequence[Alert] | None = None
    if sources.alerts is not None:
        if groups is not None and not groups:
            alerts = []
        elif indexed_alerts:
            alerts = sources.alerts.cycle_alerts(cycle_periods(cycle), groups)
        else:
            alerts = sources.alerts.alerts()
    assignments: dict[str, list[str]] = {}
    sql: list[SqlResource] = []
    if sources.placements is not None and (groups is None or groups):
        assignments = sources.placements.assignments() if groups is None else sources.placements.assignments(groups)
        sql = sources.placements.sql_resources() if groups is None else sources.placements.sql_resources(groups)
    if groups is not None:
        health = [h for h in health if _in(h.resource_id, groups)]
        vms = None if vms is None else [v for v in vms if _in(v.resource_id, groups)]
        alerts = None if alerts is None else [a for a in alerts if _in(a.key.resource_id, groups)]
    return ReportInputs(
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
        notes=report_notes(
            cycle,
            runs=runs,
            vms=vms,
            alerts_read=alerts is not None,
            run_machines=run_machines,
            assigned=assignments,
        ),
        overrun_grace=overrun_grace,
        rejected=rejected,
    )


def _in(resource_id: str, groups: Groups) -> bool:
    key = GroupKey.of(resource_id)
    return (key.subscription_id, key.resource_group) in groups


def compliance_report(
    sources: ReportSources, cycle: Cycle, now: datetime, *, overrun_grace: timedelta = timedelta(0)
) -> ComplianceReport:
    """Read what the stores hold about ``cycle`` and build its report as of ``now``, from the
    sources themselves (every alert, the health table scanned): what the summaries must equal.
    Raises :class:`~shared.domain.outcomes.StoreUnavailableError` when a store cannot be read."""
    return build_report(read_inputs(sources, cycle, now, overrun_grace=overrun_grace))


# -- summaries ---------------------------------------------------------------------------------

#: A cycle's summaries older than this (by the clock, not the report's ``now``) are recomputed
#: from the sources when read: the watchdog refreshes them every run (every 15 minutes).
SUMMARY_MAX_AGE = timedelta(minutes=30)
#: A run's machines are read again until a day after its window closed (its verification
#: is written after the post event); after that the summary's copy stands.
RUN_MACHINES_SETTLE = timedelta(days=1)

log = logging.getLogger("patchwatch.report")


class SummaryStore(Protocol):
    """The summaries table (:class:`shared.adapters.report_summaries.SummaryTable`)."""

    def read(self, cycle_id: str, only: str | None = None) -> Mapping[str, StoredSummary]: ...

    def names(self, cycle_id: str) -> set[str]: ...

    def write(
        self, cycle_id: str, summaries: Mapping[str, Mapping[str, Any] | None], *, version: int, computed_at: datetime
    ) -> int: ...


def refresh_summaries(
    sources: ReportSources,
    store: SummaryStore,
    cycle: Cycle,
    groups: set[str] | None,
    *,
    clock: datetime,
    previous: Mapping[str, StoredSummary] | None = None,
) -> tuple[CycleSlice, dict[GroupKey, GroupSlice]]:
    """Recompute and store ``cycle``'s summaries: the cycle's own row always, and the rows of
    ``groups`` (``{subscription}/{resource group}`` names or resource ids in them; None: every
    group, and rows of groups that no longer hold anything are deleted). Reads only the
    cycle's facts (its runs' months, its roster's partition, the alerts indexed under its
    months) and, for named groups, only theirs. ``clock`` is the wall clock (the summaries'
    age); what is stored does not depend on it. Returns the slices written."""
    if previous is None:
        previous = store.read(cycle.id, only=CYCLE_ROW)
    existing = set(previous) if groups is None and len(previous) > 1 else set()
    if groups is None and not existing:
        existing = store.names(cycle.id)
    head = previous.get(CYCLE_ROW)
    known: dict[str, list[str]] = {}
    if head is not None and head.version == SUMMARY_VERSION:
        before = cycle_slice_from_json(head.payload)
        settled = {
            r.run_key
            for r in before.runs
            if r.post_seen and r.window_end + RUN_MACHINES_SETTLE < clock and before.run_machines.get(r.run_key)
        }
        known = {k: v for k, v in before.run_machines.items() if k in settled}
    wanted = None if groups is None else {(k.subscription_id, k.resource_group) for k in map(group_of, groups)}
    inputs = read_inputs(sources, cycle, clock, groups=wanted, indexed_alerts=True, known_run_machines=known)
    cycle_slice, sliced = slice_inputs(inputs)
    if wanted is not None:
        sliced = {k: g for k, g in sliced.items() if (k.subscription_id, k.resource_group) in wanted}
    rows: dict[str, dict[str, Any] | None] = {CYCLE_ROW: cycle_slice_to_json(cycle_slice)}
    for key, g in sliced.items():
        rows[group_row(key)] = {**group_slice_to_json(g), "group": [key.subscription_id, key.resource_group]}
    if wanted is None:
        stale = [name for name in existing if name != CYCLE_ROW and name not in rows]
    else:  # a named group with nothing left (deleting a row that is not there is a no-op)
        stale = [group_row(GroupKey(*w)) for w in wanted if GroupKey(*w) not in sliced]
    rows.update({name: None for name in stale})
    store.write(cycle.id, rows, version=SUMMARY_VERSION, computed_at=clock)
    return cycle_slice, sliced


def summarised_report(
    sources: ReportSources,
    store: SummaryStore,
    cycle: Cycle,
    now: datetime,
    *,
    clock: datetime,
    overrun_grace: timedelta = timedelta(0),
    max_age: timedelta = SUMMARY_MAX_AGE,
    stored: Mapping[str, StoredSummary] | None = None,
) -> ComplianceReport:
    """The report of ``cycle`` as of ``now`` from its stored summaries (one partition read);
    when they are missing, of another version or older than ``max_age`` by ``clock``, they
    are computed from the sources and stored first (a failed write is logged: the report is
    drawn all the same). ``stored``: the cycle's summaries if the caller read them already."""
    stored = store.read(cycle.id) if stored is None else stored
    head = stored.get(CYCLE_ROW)
    fresh = (
        head is not None
        and head.version == SUMMARY_VERSION
        and head.computed_at is not None
        and clock - head.computed_at <= max_age
        and all(s.version == SUMMARY_VERSION for s in stored.values())
    )
    if fresh:
        assert head is not None
        cycle_slice = cycle_slice_from_json(head.payload)
        groups = {
            GroupKey(*s.payload["group"]): group_slice_from_json(s.payload)
            for name, s in stored.items()
            if name != CYCLE_ROW
        }
    else:
        try:
            cycle_slice, groups = refresh_summaries(sources, store, cycle, None, clock=clock, previous=stored)
        except StoreUnavailableError:
            raise
        except Exception as exc:  # e.g. a reader's role without write access: draw from the sources
            log.warning("report summaries of %s could not be stored (%s); drawn from the sources", cycle.id, exc)
            inputs = read_inputs(sources, cycle, now, overrun_grace=overrun_grace)  # reads only
            return build_report(inputs)
    return build_report(join_slices(cycle, now, cycle_slice, groups, overrun_grace=overrun_grace))


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
