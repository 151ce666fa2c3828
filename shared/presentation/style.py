"""How the report looks, wherever it is drawn: the Okabe-Ito palette (distinguishable with
the common colour-vision deficiencies), the symbol, colour and words of each status (colour
is never the only cue), the page's dimensions, and how times, spans and durations are
written (always UTC, and saying so). Untrusted text is escaped with :func:`esc`."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from shared.domain.alerts import Severity
from shared.domain.outcomes import RunStatus
from shared.domain.report import Standing

# Okabe-Ito
BLUE, VERMILLION, ORANGE, YELLOW = "#0072B2", "#D55E00", "#E69F00", "#F0E442"
SKY, GREEN, PURPLE, BLACK, GREY = "#56B4E9", "#009E73", "#CC79A7", "#000000", "#6B6B6B"

WIDTH = 1320
LABEL_W = 250
X0, X1 = 262, WIDTH - 24
FONT = "'DejaVu Sans', 'Segoe UI', system-ui, -apple-system, Roboto, Arial, sans-serif"
RUN_ROW = 34
LANE_H = 40
MAX_TABLE_ROWS = 300

RUN_STYLE = {
    RunStatus.SUCCEEDED: (BLUE, "✓"),
    RunStatus.FAILED: (VERMILLION, "✗"),
    RunStatus.SCHEDULED: (GREY, "?"),
    RunStatus.IN_PROGRESS: (GREY, "…"),
    RunStatus.CANCELLED: (GREY, "⊘"),
    RunStatus.UNKNOWN: (YELLOW, "?"),
}
SEVERITY_STYLE = {  # fill, text colour: dark to light as severity falls, so it reads without colour too
    Severity.CRITICAL: (BLACK, "#FFFFFF"),
    Severity.ERROR: (VERMILLION, "#FFFFFF"),
    Severity.WARNING: (YELLOW, BLACK),
}
SEVERITY_RANK = {Severity.WARNING: 0, Severity.ERROR: 1, Severity.CRITICAL: 2}
STANDING_STYLE = {  # symbol, colour, words
    Standing.COMPLIANT: ("✓", GREEN, "compliant"),
    Standing.PENDING: ("!", "#8A5A00", "patches pending"),
    Standing.REBOOT_PENDING: ("↻", "#8A5A00", "reboot pending"),
    Standing.FAILED: ("✗", VERMILLION, "failed"),
    Standing.NOT_ASSESSABLE: ("○", GREY, "not assessable"),
    Standing.AWAITING: ("…", GREY, "not yet assessed"),
}


def esc(value: object) -> str:
    """Text from events and stores, safe in HTML/SVG text and quoted attributes."""
    return html.escape(str(value), quote=True)


def fmt(instant: datetime | None, *, day: bool = True, zone: bool = True) -> str:
    if instant is None:
        return "?"
    t = instant.astimezone(UTC)
    text = t.strftime("%a %d %b %H:%M") if day else t.strftime("%H:%M")
    return f"{text} UTC" if zone else text


def fmt_span(start: datetime | None, end: datetime | None, *, zone: bool = True) -> str:
    """``Sat 17 Oct 00:00-03:00 UTC`` (the end's day only when it differs)."""
    if start is None:
        return f"? – {fmt(end, zone=zone)}"
    if end is None:
        return f"{fmt(start, zone=False)} – (ongoing)"
    same_day = start.astimezone(UTC).date() == end.astimezone(UTC).date()
    return f"{fmt(start, zone=False)}–{fmt(end, day=not same_day, zone=zone)}"


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    minutes = round((end - start).total_seconds() / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours < 48 else f"{(end - start).days} days"


def text_width(text: str, size: float, bold: bool = False) -> float:
    return len(text) * size * (0.66 if bold else 0.61)


def clip(text: str, size: float, width: float) -> str:
    if text_width(text, size) <= width:
        return text
    keep = max(1, int(width / (size * 0.61)) - 1)
    return text[:keep] + "…"
