"""The report's SVG drawings: one timeline per resource group (the cycle's release and
install deadline, maintenance windows and runs, SQL maintenance notices, health dips,
annotations and alerts), the overview of every group, and the legend. Inline SVG with
shapes and line patterns beside the colours, every label clipped to fit and escaped.
Pure: the report model in, strings out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.domain.alerts import AlertState, Severity
from shared.domain.events import Availability
from shared.domain.outcomes import RunStatus
from shared.domain.report import (
    AlertMark,
    ComplianceReport,
    Dip,
    GroupTimeline,
    Lane,
    NoticeMark,
    RunMark,
    Standing,
)
from shared.presentation.style import (
    BLACK,
    BLUE,
    FONT,
    GREY,
    LABEL_W,
    LANE_H,
    ORANGE,
    PURPLE,
    RUN_ROW,
    RUN_STYLE,
    SEVERITY_RANK,
    SEVERITY_STYLE,
    SKY,
    STANDING_STYLE,
    VERMILLION,
    WIDTH,
    X0,
    X1,
    clip,
    duration,
    esc,
    fmt,
    fmt_span,
    text_width,
)

# -- geometry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    start: datetime
    end: datetime

    def x(self, instant: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        share = (instant - self.start).total_seconds() / span
        return round(X0 + max(0.0, min(1.0, share)) * (X1 - X0), 1)

    def bar(self, start: datetime, end: datetime, min_width: float = 5.0) -> tuple[float, float]:
        """x and width of [start, end], at least ``min_width`` wide (short spells stay visible)."""
        a, b = self.x(start), self.x(end)
        if b - a < min_width:
            mid = (a + b) / 2
            a, b = mid - min_width / 2, mid + min_width / 2
        return round(a, 1), round(b - a, 1)


def pack(options: Sequence[Sequence[tuple[float, float]]], gap: float = 10.0) -> list[tuple[int, int]]:
    """(row, option) per item: the first row in which one of the item's candidate extents
    ``(x, width)`` overlaps nothing already placed (greedy, in the order given)."""
    rows: list[list[tuple[float, float]]] = []
    out = []
    for candidates in options:
        for r, taken in enumerate(rows):
            fit = next(
                (
                    i
                    for i, (x, w) in enumerate(candidates)
                    if all(x + w + gap <= a or x >= a + b + gap for a, b in taken)
                ),
                None,
            )
            if fit is not None:
                taken.append(candidates[fit])
                out.append((r, fit))
                break
        else:
            rows.append([candidates[0]])
            out.append((len(rows) - 1, 0))
    return out


def label_options(x0: float, x1: float, width: float) -> list[tuple[float, float, str]]:
    """Candidate placements of a label for a mark spanning [x0, x1]: (extent start, text x,
    anchor) to its right, then ending at its left; only those inside the picture."""
    out = []
    if x0 + width <= WIDTH - 6:
        out.append((x0, x0, "start"))
    if x1 - width >= X0 - 4:
        out.append((x1 - width, x1, "end"))
    return out or [(max(0.0, x1 - width), x1, "end")]


def _title(text: str) -> str:
    return f"<title>{esc(text)}</title>"


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: float = 11,
    fill: str = BLACK,
    bold: bool = False,
    anchor: str = "start",
    halo: bool = False,
    extra: str = "",
) -> str:
    attrs = f'x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}"'
    if bold:
        attrs += ' font-weight="bold"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if halo:  # a white outline keeps text readable over lines and shading
        attrs += ' stroke="#FFFFFF" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
    return f"<text {attrs}{' ' + extra if extra else ''}>{esc(text)}</text>"


# -- shared SVG definitions (patterns) -------------------------------------------------------------

DEFS = f"""<defs>
<pattern id="pw-hatch-window" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="6" height="6" fill="#DCEBF7"/><line x1="0" y1="0" x2="0" y2="6" stroke="{SKY}" stroke-width="2"/></pattern>
<pattern id="pw-hatch-degraded" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">
<rect width="5" height="5" fill="#FBE3B5"/><line x1="0" y1="0" x2="0" y2="5" stroke="{ORANGE}" stroke-width="3"/></pattern>
<pattern id="pw-future" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="8" height="8" fill="#F7F7F7"/><line x1="0" y1="0" x2="0" y2="8" stroke="#E6E6E6" stroke-width="2"/></pattern>
</defs>"""


def _triangle(x: float, y: float, severity: Severity, *, filled: bool, size: float = 13) -> str:
    fill, ink = SEVERITY_STYLE[severity]
    h = size * 0.9
    points = f"{x:.1f},{y:.1f} {x - size / 2:.1f},{y + h:.1f} {x + size / 2:.1f},{y + h:.1f}"
    if filled:
        return (
            f'<polygon points="{points}" fill="{fill}" stroke="{BLACK}" stroke-width="1"/>'
            f'<text x="{x:.1f}" y="{y + h - 1.5:.1f}" font-size="9" font-weight="bold" fill="{ink}" '
            f'text-anchor="middle">!</text>'
        )
    return f'<polygon points="{points}" fill="#FFFFFF" stroke="{BLACK}" stroke-width="1.6"/>'


def _diamond(x: float, y: float, r: float = 5) -> str:
    return (
        f'<polygon points="{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}" '
        f'fill="#FFFFFF" stroke="{BLACK}" stroke-width="1.5"/>'
    )


# -- timelines ------------------------------------------------------------------------------------


def _markers(report: ComplianceReport, *, short: bool = False) -> list[tuple[datetime, str, str, str]]:
    """(instant, label, stroke dash, colour) of the vertical lines; ``short``: names only
    (the page's header and the overview give the times)."""
    c = report.cycle

    def label(name: str, at: datetime) -> str:
        return name if short else f"{name} · {fmt(at)}"

    out = [
        (c.release_utc, label("Patch Tuesday release", c.release_utc), "", BLACK),
        (c.install_deadline_utc, label("Install deadline", c.install_deadline_utc), "9 5", BLACK),
        (c.ends_utc, label("Next release", c.ends_utc), "2 3", GREY),
    ]
    if report.start <= report.now <= report.end:
        out.append((report.now, label("Report time", report.now), "1 3", BLUE))
    return sorted(out, key=lambda m: m[0])


def _axis(scale: Scale, y: float, height: float) -> tuple[str, str]:
    """Background (weekend shading, day grid) and the day/month labels above ``y``."""
    back: list[str] = []
    front: list[str] = []
    day = datetime.combine(scale.start.astimezone(UTC).date(), datetime.min.time(), UTC)
    last_month = None
    while day < scale.end:
        nxt = day + timedelta(days=1)
        a, b = scale.x(max(day, scale.start)), scale.x(min(nxt, scale.end))
        if day.weekday() >= 5:
            back.append(f'<rect x="{a}" y="{y}" width="{b - a:.1f}" height="{height}" fill="#EFEFEF"/>')
        if day >= scale.start:
            back.append(f'<line x1="{a}" y1="{y}" x2="{a}" y2="{y + height}" stroke="#DDDDDD" stroke-width="1"/>')
        if b - a >= 16:
            mid = (a + b) / 2
            weekend = day.weekday() >= 5
            front.append(
                _text(mid, y - 18, day.strftime("%a")[:2], size=9, fill=GREY, anchor="middle", halo=True)
                + _text(mid, y - 5, str(day.day), size=11, bold=weekend, anchor="middle", halo=True)
            )
        if (day.year, day.month) != last_month:
            label_x = max(a, X0)
            front.append(_text(label_x + 3, y - 32, day.strftime("%B %Y"), size=11, bold=True, halo=True))
            if last_month is not None:
                front.append(f'<line x1="{a}" y1="{y - 44}" x2="{a}" y2="{y}" stroke="{BLACK}" stroke-width="1"/>')
            last_month = (day.year, day.month)
        day = nxt
    return "".join(back), "".join(front)


def _run_words(run: RunMark) -> str:
    _, symbol = RUN_STYLE[run.status]
    words = f"{symbol} {run.configuration} · {fmt_span(run.window_start, run.window_end, zone=False)} · {run.label}"
    if run.overran:
        words += " · overran"
    return words + (" *" if run.inferred else "")


def _run_tip(run: RunMark) -> str:
    return (
        f"Run of {run.configuration}: {run.label}. Window {fmt_span(run.window_start, run.window_end)}"
        + (f"; post event {fmt(run.ended)}" if run.ended else "; no post event yet")
        + ("; overran its window" if run.overran else "")
        + (f"; machines: {', '.join(run.machines)}" if run.machines else "")
        + ("; machines not known" if run.inferred else "")
    )


def _notice_words(notice: NoticeMark) -> str:
    words = f"◆ SQL {notice.tracking_id} · {fmt_span(notice.start, notice.end, zone=False)} · {notice.status}"
    return words + ("" if notice.matched else " *")


def _notice_tip(notice: NoticeMark) -> str:
    return (
        f"{notice.title or 'Azure SQL planned maintenance'} ({notice.tracking_id}): {notice.status}. "
        f"Impact {fmt_span(notice.start, notice.end)}; {', '.join(notice.services)} in {', '.join(notice.regions)}"
        + (f"; may concern {', '.join(notice.resources)}" if notice.resources else "; no SQL resource of it known")
    )


def _notice_end(notice: NoticeMark) -> datetime:
    return notice.end or notice.start + timedelta(hours=1)


@dataclass
class _Canvas:
    """An SVG timeline being laid out top to bottom."""

    report: ComplianceReport
    scale: Scale
    y: float
    back: list[str]  # drawn first: lane stripes, window bands
    body: list[str]  # marks
    labels: list[str]  # text, drawn last

    def section_label(self, title: str, note: str) -> None:
        self.labels.append(_text(10, self.y + 16, title, size=12, bold=True))
        self.labels.append(_text(10, self.y + 31, note, size=10, fill=GREY))

    def runs(self, runs: Sequence[RunMark]) -> None:
        if not runs:
            return
        self.section_label("Maintenance runs", "window ▨ and run ▬")
        bars = [self.scale.bar(r.window_start, r.window_end, 6) for r in runs]
        words = [_run_words(r) for r in runs]
        options = [label_options(x, x + w, text_width(t, 11, bold=True)) for (x, w), t in zip(bars, words, strict=True)]
        placed = pack([[(a, text_width(t, 11, True)) for a, _, _ in o] for o, t in zip(options, words, strict=True)])
        for run, (wx, ww), text, opts, (row, pick) in zip(runs, bars, words, options, placed, strict=True):
            y = self.y + row * RUN_ROW
            colour, _ = RUN_STYLE[run.status]
            dash = ' stroke-dasharray="4 3"' if run.inferred else ""
            end = run.ended or min(max(self.report.now, run.window_start), run.window_end)
            rx, rw = self.scale.bar(run.window_start, end, 6)
            self.body.append(
                f'<g class="pw-run" data-status="{esc(run.status.value)}">{_title(_run_tip(run))}'
                f'<rect x="{wx}" y="{y + 15}" width="{ww}" height="16" fill="url(#pw-hatch-window)" stroke="{BLUE}" '
                f'stroke-width="1"{dash}/>'
                f'<rect x="{rx}" y="{y + 19}" width="{rw}" height="8" fill="{colour}" stroke="{BLACK}" '
                'stroke-width="0.6"/></g>'
            )
            _, tx, anchor = opts[pick]
            ink = colour if run.status is not RunStatus.SCHEDULED else BLACK
            self.labels.append(_text(tx, y + 11, text, fill=ink, bold=True, anchor=anchor, halo=True))
        self.y += max(RUN_ROW * (max(r for r, _ in placed) + 1), LANE_H) + 4
        self.rule()

    def notices(self, notices: Sequence[NoticeMark]) -> None:
        if not notices:
            return
        self.section_label("Azure SQL maintenance", "Service Health notices")
        bars = [self.scale.bar(n.start, _notice_end(n), 6) for n in notices]
        words = [_notice_words(n) for n in notices]
        options = [label_options(x, x + w, text_width(t, 11, bold=True)) for (x, w), t in zip(bars, words, strict=True)]
        placed = pack([[(a, text_width(t, 11, True)) for a, _, _ in o] for o, t in zip(options, words, strict=True)])
        for notice, (x, w), text, opts, (row, pick) in zip(notices, bars, words, options, placed, strict=True):
            y = self.y + row * RUN_ROW
            canceled = notice.status.lower() == "canceled"
            self.body.append(
                f'<g class="pw-notice">{_title(_notice_tip(notice))}'
                f'<rect x="{x}" y="{y + 17}" width="{w}" height="12" fill="{"#FFFFFF" if canceled else PURPLE}" '
                f'stroke="{BLACK}" stroke-width="1"' + (' stroke-dasharray="3 2"/>' if canceled else "/>") + "</g>"
            )
            _, tx, anchor = opts[pick]
            self.labels.append(_text(tx, y + 11, text, fill="#7A3A66", bold=True, anchor=anchor, halo=True))
        self.y += max(RUN_ROW * (max(r for r, _ in placed) + 1), LANE_H) + 4
        self.rule()

    def rule(self) -> None:
        self.back.append(f'<line x1="0" y1="{self.y - 2}" x2="{WIDTH}" y2="{self.y - 2}" stroke="#BBBBBB"/>')

    def lane(self, lane: Lane, index: int) -> None:
        y, now = self.y, self.report.now
        if index % 2 == 0:
            self.back.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{LANE_H}" fill="#EEF3F8" opacity="0.6"/>')
        self.labels.append(_lane_label(lane, y))
        texts: list[tuple[float, float, str, bool, str]] = []  # x, width, text, top band (alerts)?, colour
        for dip in lane.dips:
            shape, x, w, label = _dip_svg(dip, self.scale, y, now)
            self.body.append(shape)
            texts.append((x + w + 3, text_width(label, 10), label, False, "#8A3300"))
        for note in lane.annotations:
            x = self.scale.x(note.at)
            tip = _title(f"{fmt(note.at)}: {note.detail}")
            self.body.append(f'<g class="pw-annotation">{tip}{_diamond(x, y + 9)}</g>')
        for run in lane.runs:  # a maintenance configuration's own runs, on its lane
            colour, symbol = RUN_STYLE[run.status]
            wx, ww = self.scale.bar(run.window_start, run.window_end, 6)
            end = run.ended or min(max(now, run.window_start), run.window_end)
            rx, rw = self.scale.bar(run.window_start, end, 6)
            self.body.append(
                f'<g class="pw-run" data-status="{esc(run.status.value)}">{_title(_run_tip(run))}'
                f'<rect x="{wx}" y="{y + 21}" width="{ww}" height="12" fill="url(#pw-hatch-window)" stroke="{BLUE}"/>'
                f'<rect x="{rx}" y="{y + 24}" width="{rw}" height="6" fill="{colour}" stroke="{BLACK}" '
                'stroke-width="0.6"/></g>'
            )
            label = f"{symbol} {fmt(run.window_start, zone=False)}" + (" overran" if run.overran else "")
            texts.append((wx + ww + 3, text_width(label, 10), label, False, colour if colour != GREY else BLACK))
        # Alerts opened close together share one label (the most severe first) and stack their triangles.
        clusters: list[list[tuple[float, AlertMark]]] = []
        for alert in sorted(lane.alerts, key=lambda a: a.opened):
            x = self.scale.x(alert.opened)
            if clusters and x - clusters[-1][0][0] < 10:
                clusters[-1].append((x, alert))
            else:
                clusters.append([(x, alert)])
        for cluster in clusters:
            ordered = sorted(cluster, key=lambda c: SEVERITY_RANK[c[1].severity])
            words = []
            for _, alert in ordered:  # least severe drawn first: the most severe stays on top
                shape, _, label = _alert_svg(alert, self.scale, y, now)
                self.body.append(shape)
                words.append(label)
            label = " · ".join(reversed(words))
            texts.append((cluster[0][0] + 9, text_width(label, 10, True), label, True, BLACK))
        placed_until = {True: -1.0, False: -1.0}
        for x, w, text, top, ink in sorted(texts):
            if x >= placed_until[top] + 4 and x + w <= WIDTH - 4:
                self.labels.append(_text(x, y + (13 if top else 31), text, size=10, fill=ink, bold=top, halo=True))
                placed_until[top] = x + w
        self.y += LANE_H

    def note(self, text: str) -> None:
        self.labels.append(_text(10, self.y + 17, text, size=11))
        self.y += 26

    def svg(self, title: str, axis_y: float, markers: Sequence[tuple[datetime, str, str, str]]) -> str:
        report, scale = self.report, self.scale
        height = self.y + 10
        back, axis = _axis(scale, axis_y, height - axis_y)
        future = ""
        if report.now < report.end:
            fx = scale.x(max(report.now, report.start))
            future = (
                f'<rect x="{fx}" y="{axis_y}" width="{X1 - fx:.1f}" height="{height - axis_y}" fill="url(#pw-future)"/>'
            )
            self.labels.append(
                _text(X1 - 4, height - 4, "after the report time: not yet known", size=10, fill=GREY, anchor="end")
            )
        extents = [
            label_options(scale.x(t) + 4, scale.x(t) - 4, text_width(label, 10.5, True)) for t, label, _, _ in markers
        ]
        placed = pack(
            [[(a, text_width(m[1], 10.5, True)) for a, _, _ in o] for o, m in zip(extents, markers, strict=True)]
        )
        lines, marker_labels = [], []
        for (t, label, dash, colour), opts, (row, pick) in zip(markers, extents, placed, strict=True):
            x = scale.x(t)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            ly = 12 + 16 * row
            lines.append(
                f'<g class="pw-marker">{_title(label)}<line x1="{x}" y1="{ly + 3}" x2="{x}" y2="{height}" '
                f'stroke="{colour}" stroke-width="2.2"{dash_attr}/></g>'
            )
            _, tx, anchor = opts[pick]
            marker_labels.append(_text(tx, ly, label, size=10.5, fill=colour, bold=True, anchor=anchor, halo=True))
        return (
            f'<svg class="pw-timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
            f'width="100%" role="img" aria-label="{esc(title)}" font-family="{esc(FONT)}">'
            f"{_title(title)}{DEFS}"
            f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#FFFFFF"/>'
            f"{back}{''.join(self.back)}{future}"
            f'<line x1="{X0}" y1="{axis_y}" x2="{X1}" y2="{axis_y}" stroke="{BLACK}" stroke-width="1"/>'
            + _text(X0 - 8, axis_y - 5, "UTC", size=10, fill=GREY, bold=True, anchor="end")
            + f"{''.join(lines)}{axis}{''.join(self.body)}{''.join(self.labels)}{''.join(marker_labels)}</svg>"
        )


def _canvas(
    report: ComplianceReport, *, short: bool = False
) -> tuple[_Canvas, float, list[tuple[datetime, str, str, str]]]:
    scale = Scale(report.start, report.end)
    markers = _markers(report, short=short)
    extents = [
        label_options(scale.x(t) + 4, scale.x(t) - 4, text_width(label, 10.5, True)) for t, label, _, _ in markers
    ]
    rows = pack([[(a, text_width(m[1], 10.5, True)) for a, _, _ in o] for o, m in zip(extents, markers, strict=True)])
    top = 16 * (max((r for r, _ in rows), default=0) + 1) + 4
    axis_y = top + 48  # month, weekday and day labels sit above the axis line
    return _Canvas(report, scale, axis_y + 6, [], [], []), axis_y, markers


def overview_svg(report: ComplianceReport) -> str:
    """Every maintenance run and SQL notice of the cycle, once."""
    canvas, axis_y, markers = _canvas(report)
    canvas.runs(report.runs)
    canvas.notices(report.notices)
    if not report.runs and not report.notices:
        canvas.note("No maintenance run and no SQL maintenance notice recorded in this cycle.")
    return canvas.svg(f"Cycle {report.cycle.id}: maintenance runs and SQL notices (UTC)", axis_y, markers)


def timeline_svg(group: GroupTimeline, report: ComplianceReport) -> str:
    """One group's timeline: its resources' health and alerts over the windows that concern them."""
    canvas, axis_y, markers = _canvas(report, short=True)
    canvas.runs([r for r in group.runs if not r.inferred])
    canvas.notices(group.notices)
    lanes_top = canvas.y
    for i, lane in enumerate(group.lanes):
        canvas.lane(lane, i)
    if group.quiet:
        counts = ", ".join(f"{n} {k}" for k, n in group.quiet.items())
        canvas.note(f"+ {sum(group.quiet.values())} more resources not drawn: {counts}")
    if not group.lanes:
        canvas.note("No resource of this group has a result, a health signal or an alert in this cycle.")
    # Windows, as bands behind the lanes they concern: a run's on its machines' lanes (a run whose
    # machines are not known, dashed, on the group's virtual machines); a SQL resource's own windows
    # (its maintenance configuration) on its lane only.
    for run in group.runs:
        x, w = canvas.scale.bar(run.window_start, run.window_end, 4)
        dash = ' stroke-dasharray="3 3"' if run.inferred else ""
        for i, lane in enumerate(group.lanes):
            if lane.name in run.machines or (
                run.inferred and "/microsoft.compute/virtualmachines/" in lane.resource_id.lower()
            ):
                canvas.back.append(
                    f'<g class="pw-band" data-lane="{esc(lane.name)}">{_title(_run_tip(run))}<rect x="{x}" '
                    f'y="{lanes_top + i * LANE_H}" width="{w}" height="{LANE_H}" fill="url(#pw-hatch-window)" '
                    f'opacity="0.85" stroke="{BLUE}" stroke-width="0.8"{dash}/></g>'
                )
    for i, lane in enumerate(group.lanes):
        for start, end in lane.windows:
            x, w = canvas.scale.bar(start, end, 2)
            canvas.back.append(
                f'<g class="pw-sql-window" data-lane="{esc(lane.name)}">{_title(f"maintenance window {fmt_span(start, end)}")}'
                f'<rect x="{x}" y="{lanes_top + i * LANE_H}" width="{w}" height="{LANE_H}" fill="#EFE3EC" '
                f'stroke="{PURPLE}" stroke-width="0.8"/></g>'
            )
    for notice in group.notices:  # on the lanes of the SQL resources it may concern
        x, w = canvas.scale.bar(notice.start, _notice_end(notice), 4)
        for i, lane in enumerate(group.lanes):
            if lane.name in notice.resources:
                y = lanes_top + i * LANE_H
                canvas.back.append(
                    f'<rect x="{x}" y="{y}" width="{w}" height="{LANE_H}" fill="{PURPLE}" opacity="0.3"/>'
                )
    return canvas.svg(f"Timeline of {group.title}, {report.cycle.id} (UTC)", axis_y, markers)


def _dip_svg(dip: Dip, scale: Scale, y: float, now: datetime) -> tuple[str, float, float, str]:
    """(shape, x, width, label) of a health dip on a lane whose top is ``y``."""
    fill = VERMILLION if dip.state is Availability.UNAVAILABLE else "url(#pw-hatch-degraded)"
    end = dip.end or max(now, dip.start or now)
    if dip.start is None:
        x, w = scale.bar(end - timedelta(minutes=1), end, 6)
        stroke = ' stroke-dasharray="2 2"'
    else:
        x, w = scale.bar(dip.start, end, 6)
        stroke = ""
    span = fmt_span(dip.start, dip.end)
    took = duration(dip.start, dip.end)
    tip = f"{dip.state.value} {span}" + (f" ({took})" if took else "") + (f": {dip.detail}" if dip.detail else "")
    if dip.end is None:
        label = f"{dip.state.value} since {fmt(dip.start, zone=False)}, still at report time"
    elif dip.start is None:
        label = f"{dip.state.value} until {fmt(dip.end, zone=False)}"
    else:
        label = f"{dip.state.value} {fmt(dip.start, zone=False)} ({took})"
    shape = (
        f'<g class="pw-dip" data-state="{esc(dip.state.value)}">{_title(tip)}'
        f'<rect x="{x}" y="{y + 21}" width="{w}" height="12" fill="{fill}" stroke="{BLACK}" stroke-width="1"{stroke}/>'
        "</g>"
    )
    return shape, x, w, label


def _alert_svg(alert: AlertMark, scale: Scale, y: float, now: datetime) -> tuple[str, float, str]:
    x = scale.x(alert.opened)
    is_open = alert.state is AlertState.OPEN
    until = alert.resolved if alert.resolved is not None else now
    x2 = max(scale.x(until), x)
    line = ""
    if x2 - x > 2:
        style = 'stroke-width="3"' if is_open else 'stroke-width="1.5" stroke-dasharray="3 2"'
        line = f'<line x1="{x}" y1="{y + 16}" x2="{x2}" y2="{y + 16}" stroke="{BLACK}" {style}/>'
    state = "open" if is_open else f"resolved {fmt(alert.resolved)}"
    tip = f"Alert {alert.kind} ({alert.severity.value}), opened {fmt(alert.opened)}, {state}: {alert.message}"
    shape = (
        f'<g class="pw-alert" data-kind="{esc(alert.kind)}" data-state="{esc(alert.state.value)}">{_title(tip)}'
        f"{line}{_triangle(x, y + 3, alert.severity, filled=is_open)}</g>"
    )
    label = f"{alert.severity.value}: {alert.kind}" if is_open else f"{alert.kind} (resolved)"
    return shape, x, label


def _lane_label(lane: Lane, y: float) -> str:
    name = clip(lane.name, 12, LABEL_W - 14)
    parts = [
        f'<g class="pw-lane-label">{_title(lane.resource_id)}',
        _text(10, y + 16, name, size=12, bold=True),
    ]
    if lane.standing is not None:
        symbol, colour, words = STANDING_STYLE[lane.standing]
        detail = (
            words if lane.standing is not Standing.PENDING else lane.standing_detail.split(" patch")[0] + " pending"
        )
        parts.append(_text(10, y + 32, clip(f"{symbol} {detail}", 11, LABEL_W - 14), size=11, fill=colour))
    else:
        parts.append(_text(10, y + 32, lane.kind, size=10, fill=GREY))
    parts.append("</g>")
    return "".join(parts)


def legend_svg() -> str:
    """The key to every mark, with the same shapes the timelines use."""
    items: list[str] = []
    x, y = 10.0, 8.0

    def item(shape: str, words: str, width: float) -> None:
        nonlocal x, y
        if x + width > WIDTH - 10:
            x, y = 10.0, y + 30
        items.append(f'<g transform="translate({x:.0f},{y:.0f})">{shape}{_text(34, 16, words, size=12)}</g>')
        x += width

    item('<rect x="0" y="4" width="28" height="16" fill="url(#pw-hatch-window)" stroke="#0072B2"/>', "window", 110)
    for status, words in (
        (RunStatus.SUCCEEDED, "run succeeded"),
        (RunStatus.FAILED, "run failed"),
        (RunStatus.SCHEDULED, "no post event (yet)"),
    ):
        colour, symbol = RUN_STYLE[status]
        shape = f'<rect x="0" y="8" width="28" height="8" fill="{colour}" stroke="#000" stroke-width="0.6"/>'
        item(shape, f"{symbol} {words}", 190 if status is RunStatus.SCHEDULED else 150)
    item(
        '<rect x="0" y="4" width="28" height="16" fill="url(#pw-hatch-window)" stroke="#0072B2" stroke-dasharray="4 3"/>',
        "* machines not known: run shown for its subscription's groups",
        430,
    )
    item(f'<rect x="0" y="6" width="28" height="12" fill="{PURPLE}" stroke="#000"/>', "◆ Azure SQL maintenance", 225)
    item(f'<rect x="0" y="6" width="28" height="12" fill="{VERMILLION}" stroke="#000"/>', "unavailable", 130)
    item('<rect x="0" y="6" width="28" height="12" fill="url(#pw-hatch-degraded)" stroke="#000"/>', "degraded", 115)
    item(_diamond(14, 12), "health annotation (e.g. reboot)", 270)
    for sev in (Severity.CRITICAL, Severity.ERROR, Severity.WARNING):
        item(_triangle(14, 3, sev, filled=True), f"open alert, {sev.value}", 190)
    item(_triangle(14, 3, Severity.ERROR, filled=False), "resolved alert (line: how long it was open)", 370)
    item(f'<line x1="14" y1="0" x2="14" y2="24" stroke="{BLACK}" stroke-width="2.2"/>', "Patch Tuesday release", 210)
    item(
        f'<line x1="14" y1="0" x2="14" y2="24" stroke="{BLACK}" stroke-width="2.2" stroke-dasharray="9 5"/>',
        "install deadline",
        170,
    )
    item(
        f'<line x1="14" y1="0" x2="14" y2="24" stroke="{GREY}" stroke-width="2.2" stroke-dasharray="2 3"/>',
        "next release",
        140,
    )
    item(
        f'<line x1="14" y1="0" x2="14" y2="24" stroke="{BLUE}" stroke-width="2.2" stroke-dasharray="1 3"/>',
        "report time",
        140,
    )
    item('<rect x="0" y="4" width="28" height="16" fill="#EFEFEF"/>', "weekend", 110)
    height = y + 32
    return (
        f'<svg class="pw-legend" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" '
        f'role="img" aria-label="Legend" font-family="{esc(FONT)}">{DEFS}{"".join(items)}</svg>'
    )
