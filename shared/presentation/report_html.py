"""The compliance report as one self-contained HTML page: inline CSS, inline SVG, no
script, no external resource (it opens from a file, a mail attachment or an air-gapped
laptop the same way).

Meant to be read at a glance, at night: what needs attention first, then the summary,
then one timeline per resource group with the cycle's release and install deadline,
maintenance windows and runs, SQL maintenance notices, health dips, annotations and
alerts, and under each timeline the same facts as a table with exact times. Every time
is UTC and says so. Colours are the Okabe-Ito palette (distinguishable with the common
colour-vision deficiencies) and never the only cue: each status also has a symbol
(✓ ✗ ?), a shape or a line pattern, and words.

Everything that came from an event or a store (names, messages, titles) is untrusted and
escaped, in text and in attributes. Pure: strings in, a string out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.domain.alerts import AlertState
from shared.domain.outcomes import RunStatus
from shared.domain.report import (
    ComplianceReport,
    GroupTimeline,
    NoticeMark,
    RunMark,
    Standing,
)
from shared.presentation.style import (
    MAX_TABLE_ROWS,
    RUN_STYLE,
    STANDING_STYLE,
    duration,
    esc,
    fmt,
    fmt_span,
)
from shared.presentation.svg import legend_svg, overview_svg, timeline_svg

# -- tables ---------------------------------------------------------------------------------------


Row = tuple[datetime, str, str, str, str]  # when, resource, what, detail, css class


def _run_rows(runs: Iterable[RunMark]) -> list[Row]:
    rows: list[Row] = []
    for r in runs:
        _, symbol = RUN_STYLE[r.status]
        where = f"machines: {', '.join(r.machines)}" if r.machines else "machines not known *" if r.inferred else ""
        detail = f"window {fmt_span(r.window_start, r.window_end)}; " + (
            f"post event {fmt(r.ended)}" if r.ended else "no post event yet"
        )
        if r.ended is not None and r.ended > r.window_end:
            late = duration(r.window_end, r.ended)
            detail += f" ({late} after the window's end{', an overrun' if r.overran else ''})"
        rows.append(
            (r.window_start, r.configuration, f"{symbol} run {r.label}", f"{detail}. {where}".strip(), r.status)
        )
    return rows


def _notice_rows(notices: Iterable[NoticeMark]) -> list[Row]:
    rows: list[Row] = []
    for n in notices:
        rows.append(
            (
                n.start,
                ", ".join(n.resources) or "(no SQL resource known) *",
                f"◆ SQL maintenance {n.tracking_id}: {n.status}",
                f"impact {fmt_span(n.start, n.end)}; {', '.join(n.services)} in {', '.join(n.regions)}"
                + (f" — {n.title}" if n.title else ""),
                "notice",
            )
        )
    return rows


def _events(group: GroupTimeline, report: ComplianceReport) -> list[Row]:
    """Everything in a group, by time (runs whose machines are not known are in the overview)."""
    rows = _run_rows(r for r in group.runs if not r.inferred) + _notice_rows(group.notices)
    for lane in group.lanes:
        for d in lane.dips:
            took = duration(d.start, d.end)
            rows.append(
                (
                    d.start or d.end or report.now,
                    lane.name,
                    f"▮ {d.state.value}",
                    fmt_span(d.start, d.end) + (f" ({took})" if took else "") + (f" — {d.detail}" if d.detail else ""),
                    "dip",
                )
            )
        for a in lane.annotations:
            rows.append((a.at, lane.name, "◇ annotation", a.detail, "annotation"))
        for al in lane.alerts:
            state = "open" if al.state is AlertState.OPEN else f"resolved {fmt(al.resolved)}"
            rows.append(
                (
                    al.opened,
                    lane.name,
                    f"▲ alert {al.kind} ({al.severity.value}, {state})",
                    al.message,
                    f"alert-{al.severity.value}" if al.state is AlertState.OPEN else "alert-resolved",
                )
            )
    return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


def _events_table(rows: Sequence[Row]) -> str:
    if not rows:
        return ""
    shown = rows[:MAX_TABLE_ROWS]
    body = "".join(
        f'<tr class="ev-{esc(css)}"><td class="when">{esc(fmt(when))}</td><td>{esc(res)}</td>'
        f"<td>{esc(what)}</td><td>{esc(detail)}</td></tr>"
        for when, res, what, detail, css in shown
    )
    more = f"<p>… and {len(rows) - len(shown)} more.</p>" if len(rows) > len(shown) else ""
    return (
        "<details open><summary>What happened, in order (UTC)</summary>"
        '<table class="events"><thead><tr><th>When (UTC)</th><th>Resource</th><th>What</th><th>Detail</th></tr></thead>'
        f"<tbody>{body}</tbody></table>{more}</details>"
    )


def _count_row(label: str, value: object, note: str = "", css: str = "") -> str:
    return (
        f'<tr class="{css}"><th scope="row">{esc(label)}</th><td class="num">{esc(value)}</td><td>{esc(note)}</td></tr>'
    )


def summary_html(report: ComplianceReport) -> str:
    s = report.summary
    vm_rows: list[str] = []
    if s.vms is None:
        vm_rows.append('<tr><td colspan="3">No patch-cycle results could be read.</td></tr>')
    elif s.vms == 0:
        vm_rows.append(f'<tr><td colspan="3">No VM results recorded for {esc(report.cycle.id)} yet.</td></tr>')
    else:
        vm_rows += [
            _count_row("VMs in scope", s.vms),
            _count_row("✓ assessed", s.assessed, "assessment succeeded this cycle"),
            _count_row(
                "✓ compliant", s.compliant, "no Critical/Security patch nor reboot pending", "ok" if s.compliant else ""
            ),
            _count_row(
                "↻ reboot pending",
                s.reboot_pending,
                "installed, not in effect until the VM restarts",
                "warn" if s.reboot_pending else "",
            ),
            _count_row(
                "! pending", s.pending, "Critical/Security patches still to install", "warn" if s.pending else ""
            ),
            _count_row("✗ failed", s.failed, "assessment or installation failed", "bad" if s.failed else ""),
            _count_row(
                "○ not assessable", s.not_assessable, "deallocated or stopped", "warn" if s.not_assessable else ""
            ),
            _count_row("… not yet assessed", s.awaiting, "queued or running"),
        ]
    runs_total = sum(s.runs.values())
    ops = [
        _count_row("Maintenance runs", runs_total),
        _count_row("✓ succeeded", s.runs.get("succeeded", 0)),
        _count_row("✗ failed", s.runs.get("failed", 0), "", "bad" if s.runs.get("failed") else ""),
        _count_row("? no post event", s.runs.get("scheduled", 0), "running, or the post event never came"),
        _count_row(
            "overran the window",
            s.runs_overran,
            "post event later than the window's end plus the grace, or none by then",
            "bad" if s.runs_overran else "",
        ),
        _count_row("Health dips", s.dips, f"on {s.resources_with_dips} resource(s)", "warn" if s.dips else ""),
        _count_row("SQL maintenance notices", s.notices),
    ]
    if s.alerts_by_kind is None:
        alert_rows = '<tr><td colspan="3">The alert store could not be read.</td></tr>'
    elif not s.alerts_by_kind:
        alert_rows = '<tr><td colspan="3">No alert in this cycle.</td></tr>'
    else:
        alert_rows = "".join(
            f'<tr class="{"bad" if v["open"] else ""}"><th scope="row">{esc(kind)}</th>'
            f'<td class="num">{v["open"]}</td><td class="num">{v["resolved"]}</td></tr>'
            for kind, v in s.alerts_by_kind.items()
        )
    return (
        '<section class="summary">'
        '<table class="counts"><caption>Virtual machines (patch cycle)</caption>'
        f"<tbody>{''.join(vm_rows)}</tbody></table>"
        '<table class="counts"><caption>Maintenance and health</caption>'
        f"<tbody>{''.join(ops)}</tbody></table>"
        '<table class="counts"><caption>Alerts by kind</caption>'
        '<thead><tr><th>kind</th><th class="num">open</th><th class="num">resolved</th></tr></thead>'
        f"<tbody>{alert_rows}</tbody></table>"
        "</section>"
    )


def attention_html(report: ComplianceReport) -> str:
    s = report.summary
    items = []
    if s.open_alerts:
        items.append(f"{s.open_alerts} open alert(s)")
    if s.failed:
        items.append(f"{s.failed} VM(s) failed")
    if s.runs.get("failed"):
        items.append(f"{s.runs['failed']} maintenance run(s) failed")
    if s.runs_overran:
        items.append(f"{s.runs_overran} run(s) overran the window")
    if s.still_unhealthy:
        items.append(f"still unhealthy: {', '.join(s.still_unhealthy)}")
    if s.pending and report.now >= report.cycle.install_deadline_utc:
        items.append(f"{s.pending} VM(s) past the deadline with patches pending")
    if s.reboot_pending and report.now >= report.cycle.install_deadline_utc:
        items.append(f"{s.reboot_pending} VM(s) past the deadline with a reboot pending")
    if items:
        groups = [g.title for g in report.groups if g.needs_attention]
        where = f" — start with {', '.join(groups[:5])}" if groups else ""
        return f'<p class="banner bad"><strong>✗ Needs attention:</strong> {esc("; ".join(items))}{esc(where)}.</p>'
    return '<p class="banner ok"><strong>✓ Nothing needs attention</strong> as of this report.</p>'


def _group_chips(group: GroupTimeline) -> str:
    standings: dict[Standing, int] = {}
    for lane in group.lanes:
        if lane.standing is not None:
            standings[lane.standing] = standings.get(lane.standing, 0) + 1
    chips = []
    for standing, n in standings.items():
        symbol, _, words = STANDING_STYLE[standing]
        chips.append(f'<span class="chip st-{esc(standing.value)}">{esc(symbol)} {n} {esc(words)}</span>')
    if group.open_alerts:
        chips.append(f'<span class="chip st-failed">▲ {group.open_alerts} open alert(s)</span>')
    dips = sum(len(lane.dips) for lane in group.lanes)
    if dips:
        chips.append(f'<span class="chip st-pending">▮ {dips} health dip(s)</span>')
    failed_runs = sum(1 for r in group.runs if r.status is RunStatus.FAILED and not r.inferred)
    if failed_runs:
        chips.append(f'<span class="chip st-failed">✗ {failed_runs} failed run(s)</span>')
    return "".join(chips)


def overview_html(report: ComplianceReport) -> str:
    rows = sorted(_run_rows(report.runs) + _notice_rows(report.notices), key=lambda r: (r[0], r[1], r[2]))
    return (
        '<section class="group overview" id="overview">'
        "<h2>Cycle overview <small>every maintenance run and Azure SQL maintenance notice, once</small></h2>"
        f"{overview_svg(report)}{_events_table(rows)}</section>"
    )


def group_html(group: GroupTimeline, report: ComplianceReport, index: int) -> str:
    sub = f"subscription {group.subscription_id}" if group.resource_group else "subscription-level"
    return (
        f'<section class="group" id="group-{index}" data-resource-group="{esc(group.resource_group)}">'
        f"<h2>{esc(group.title)} <small>{esc(sub)}</small></h2>"
        f'<p class="chips">{_group_chips(group)}</p>'
        f"{timeline_svg(group, report)}"
        f"{_events_table(_events(group, report))}</section>"
    )


CSS = """
:root { color-scheme: light; }
body { font-family: 'DejaVu Sans', 'Segoe UI', system-ui, -apple-system, Roboto, Arial, sans-serif;
  margin: 0 auto; padding: 16px 20px 40px; max-width: 1360px; color: #111; background: #fff; line-height: 1.35; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 6px; }
h2 small { font-size: 13px; color: #555; font-weight: normal; margin-left: 8px; }
.sub { margin: 0 0 10px; font-size: 15px; }
.sub b { white-space: nowrap; }
.banner { font-size: 18px; padding: 10px 14px; border-radius: 6px; margin: 10px 0 14px; border: 2px solid; }
.banner.bad { background: #FCE8DE; border-color: #D55E00; }
.banner.ok { background: #E3F4EE; border-color: #009E73; }
.summary { display: flex; flex-wrap: wrap; gap: 16px; margin-bottom: 14px; }
table.counts { border-collapse: collapse; min-width: 300px; font-size: 14px; }
table.counts caption { text-align: left; font-weight: bold; font-size: 15px; padding-bottom: 4px; }
table.counts th, table.counts td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }
table.counts th { font-weight: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; font-weight: bold; }
tr.bad th, tr.bad td { background: #FCE8DE; }
tr.warn th, tr.warn td { background: #FDF3DC; }
tr.ok td.num { color: #00704F; }
.legend { border: 1px solid #ccc; border-radius: 6px; padding: 4px 6px; margin: 8px 0 18px; }
.legend h2 { font-size: 15px; margin: 4px 4px 0; }
.group { border-top: 3px solid #222; padding-top: 10px; margin-top: 22px; page-break-inside: avoid; }
.chips { margin: 0 0 6px; }
.chip { display: inline-block; font-size: 13px; padding: 2px 8px; margin: 0 6px 4px 0; border-radius: 10px;
  border: 1px solid #999; background: #f4f4f4; }
.chip.st-compliant { border-color: #009E73; background: #E3F4EE; }
.chip.st-failed { border-color: #D55E00; background: #FCE8DE; font-weight: bold; }
.chip.st-pending, .chip.st-not-assessable { border-color: #E69F00; background: #FDF3DC; }
details summary { cursor: pointer; font-weight: bold; margin: 6px 0; }
table.events { border-collapse: collapse; width: 100%; font-size: 13px; }
table.events th, table.events td { border-bottom: 1px solid #e2e2e2; padding: 3px 6px; text-align: left;
  vertical-align: top; }
table.events td.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.ev-failed td, tr.ev-alert-critical td, tr.ev-alert-error td { background: #FCE8DE; }
tr.ev-alert-warning td, tr.ev-dip td { background: #FDF3DC; }
.notes { font-size: 13px; color: #333; }
nav.cycles { float: right; font-size: 14px; }
nav.cycles a { margin-left: 12px; color: #0072B2; }
section.empty { border: 1px solid #999; padding: 4px 16px; background: #F6F6F6; }
footer { margin-top: 28px; font-size: 12px; color: #555; }
svg { display: block; }
"""


@dataclass(frozen=True)
class PageLinks:
    """Navigation of a served report: where the previous and next cycles are, and when the
    page was generated. The hrefs are the caller's (relative links keep the page's path)."""

    previous_href: str
    next_href: str
    previous_label: str
    next_label: str
    generated_at: datetime


def _nav(links: PageLinks | None) -> str:
    if links is None:
        return ""
    return (
        '<nav class="cycles" aria-label="Cycles">'
        f'<a rel="prev" href="{esc(links.previous_href)}">← {esc(links.previous_label)}</a> '
        f'<a rel="next" href="{esc(links.next_href)}">{esc(links.next_label)} →</a>'
        "</nav>"
    )


def _empty(report: ComplianceReport) -> str:
    c = report.cycle
    if report.now < c.release_utc:
        why = f"This cycle has not started: its Patch Tuesday release is {fmt(c.release_utc)}."
    else:
        why = (
            "No maintenance run, health signal, SQL notice, assessment result or alert is recorded for it. "
            "Either Patch Watch was not watching then (it was deployed later, or its store was replaced), "
            "or nothing in its scope had events: check the previous or next cycle, and that the app's "
            "Event Grid subscriptions and action group are wired (see the operations guide)."
        )
    return f'<section class="empty"><h2>Nothing recorded for {esc(c.id)}</h2><p>{esc(why)}</p></section>'


def render_html(report: ComplianceReport, links: PageLinks | None = None) -> str:
    """The whole report, one self-contained HTML document; ``links`` adds the served page's
    cycle navigation and its generation stamp."""
    c = report.cycle
    kind = {
        "hotpatch": "hotpatch month (no reboot expected)",
        "planned-baseline": "planned baseline month (reboot expected)",
        "unplanned-baseline": "unplanned baseline month (reboot expected)",
    }.get(c.kind.value, c.kind.value)
    groups = "".join(group_html(g, report, i) for i, g in enumerate(report.groups))
    if not report.groups:
        groups = _empty(report)
    notes = "".join(f"<li>{esc(n)}</li>" for n in report.notes)
    notes_html = f'<ul class="notes">{notes}</ul>' if notes else ""
    title = f"Patch compliance {c.id}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header>{_nav(links)}<h1>{esc(title)} <small style='font-size:16px;font-weight:normal'>— {esc(kind)}</small></h1>"
        '<p class="sub">All times are <b>UTC</b>. '
        f"Patch Tuesday release <b>{esc(fmt(c.release_utc))}</b> · "
        f"install deadline <b>{esc(fmt(c.install_deadline_utc))}</b> · "
        f"next release <b>{esc(fmt(c.ends_utc))}</b> · "
        f"report as of <b>{esc(fmt(report.now))}</b></p></header>"
        f"{attention_html(report)}{summary_html(report)}{notes_html}{rejected_html(report)}"
        f'<div class="legend"><h2>How to read the timelines</h2>{legend_svg()}</div>'
        f"{overview_html(report)}{groups}"
        "<footer>Patch Watch compliance report · built from the outcome store, the patch cycle's store and the "
        "alert store · every time in UTC · resource groups needing attention come first."
        + (f" Generated at <time>{esc(fmt(links.generated_at))}</time>." if links else "")
        + "</footer>"
        "</body></html>\n"
    )


def rejected_html(report: ComplianceReport, limit: int = 50) -> str:
    """What was refused during the cycle (malformed, foreign, conflicting, quarantined rows)."""
    if not report.rejected:
        return ""
    rows = "".join(
        f"<tr><td>{esc(fmt(r.received_at))}</td><td>{esc(r.source)}</td><td>{esc(r.reason)}</td></tr>"
        for r in report.rejected[:limit]
    )
    more = f"<p>... and {len(report.rejected) - limit} more.</p>" if len(report.rejected) > limit else ""
    return (
        f'<section class="rejected"><h2>Refused ({len(report.rejected)})</h2>'
        "<table><tr><th>received</th><th>source</th><th>reason</th></tr>"
        f"{rows}</table>{more}</section>"
    )
