"""Maintenance schedules: Update Manager's ``recurEvery`` grammar and window expansion.

A maintenance configuration's window is ``startDateTime`` (local wall time),
``duration`` (``HH:MM``), ``timeZone`` (a Windows zone name) and ``recurEvery``:

- hourly ``6Hours``; daily ``Day``, ``3Days``;
- weekly ``Week``, ``2Weeks``, ``Week Saturday,Sunday``;
- monthly ``Month``, ``2Months``, ``Month day23,day24``, ``Month Last Sunday``,
  ``Month Fourth Monday``, ``Month Second Tuesday Offset4`` (offset -6..6 days).

Occurrences start at the configured local wall time; a window's end is computed in
local wall time too (start + duration), so an eight-hour window that spans a daylight
saving change lasts seven or nine real hours. A start that falls into a spring-forward
gap moves forward by the gap, as Windows and ``zoneinfo`` (fold=0) both do.
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_WIN_TZ_LOWER = {k.lower(): v for k, v in win_tz.items()}


class ScheduleError(ValueError):
    """A maintenance window definition that cannot be used; the message quotes it."""


def resolve_time_zone(name: str) -> ZoneInfo:
    """A Windows zone name (via CLDR's windowsZones table) or an IANA name."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise ScheduleError("time zone is empty: expected a Windows zone name such as 'Pacific Standard Time'")
    iana = _WIN_TZ_LOWER.get(cleaned.lower(), cleaned)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r}: expected a Windows zone name such as "
            "'Pacific Standard Time' or an IANA name such as 'America/Los_Angeles'"
        ) from None


def _weekday(token: str, text: str) -> int:
    t = token.strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if t in (name, name[:3]):
            return i
    raise ScheduleError(f"recurEvery {text!r}: {token.strip()!r} is not a weekday (Monday..Sunday)")


@dataclass(frozen=True)
class Recurrence:
    """A parsed ``recurEvery`` expression."""

    text: str
    unit: str  # "hour" | "day" | "week" | "month"
    interval: int = 1
    weekdays: tuple[int, ...] = ()
    month_days: tuple[int, ...] = ()
    week_of_month: int | None = None  # 1..4, or -1 for Last
    weekday: int | None = None
    offset_days: int = 0

    @classmethod
    def parse(cls, text: str) -> Recurrence:
        raw = text if isinstance(text, str) else ""
        m = re.fullmatch(r"\s*(\d+)?\s*(hour|day|week|month)s?\b\s*(.*?)\s*", raw, re.IGNORECASE)
        if not m:
            raise ScheduleError(
                f"recurEvery {raw!r}: expected a frequency such as 'Day', '3Days', "
                "'Week Saturday,Sunday', 'Month day23' or 'Month Second Tuesday Offset4'"
            )
        interval = int(m.group(1)) if m.group(1) else 1
        if interval < 1:
            raise ScheduleError(f"recurEvery {raw!r}: the interval {m.group(1)!r} must be at least 1")
        unit = m.group(2).lower()
        rest = m.group(3)
        if unit in ("hour", "day"):
            if rest:
                raise ScheduleError(f"recurEvery {raw!r}: unexpected {rest!r} after {unit}s")
            return cls(raw, unit, interval)
        tokens = [t for t in re.split(r"[,\s]+", rest) if t]
        if unit == "week":
            days = tuple(sorted({_weekday(t, raw) for t in tokens}))
            return cls(raw, unit, interval, weekdays=days)
        if not tokens:
            return cls(raw, unit, interval)
        if all(t.lower().startswith("day") for t in tokens):
            month_days = []
            for t in tokens:
                n = t[3:]
                if not n.isdigit() or not 1 <= int(n) <= 31:
                    raise ScheduleError(f"recurEvery {raw!r}: {t!r} is not a month day (day1..day31)")
                month_days.append(int(n))
            return cls(raw, unit, interval, month_days=tuple(sorted(set(month_days))))
        ordinal = ORDINALS.get(tokens[0].lower())
        if ordinal is None:
            raise ScheduleError(
                f"recurEvery {raw!r}: {tokens[0]!r} is neither a month day (day1..day31) "
                "nor a week of the month (First, Second, Third, Fourth, Last)"
            )
        if len(tokens) < 2:
            raise ScheduleError(f"recurEvery {raw!r}: a weekday must follow {tokens[0]!r}")
        weekday = _weekday(tokens[1], raw)
        offset = 0
        if len(tokens) > 3:
            raise ScheduleError(f"recurEvery {raw!r}: unexpected {' '.join(tokens[3:])!r}")
        if len(tokens) == 3:
            om = re.fullmatch(r"offset([+-]?\d+)", tokens[2], re.IGNORECASE)
            if not om:
                raise ScheduleError(f"recurEvery {raw!r}: {tokens[2]!r} is not an offset such as 'Offset4'")
            offset = int(om.group(1))
            if not -6 <= offset <= 6:
                raise ScheduleError(f"recurEvery {raw!r}: offset {offset} is outside -6..6 days")
        return cls(raw, unit, interval, week_of_month=ordinal, weekday=weekday, offset_days=offset)

    def month_targets(self, year: int, month: int, anchor_day: int) -> list[date]:
        """The dates this monthly recurrence picks for one month."""
        last = _calendar.monthrange(year, month)[1]
        if self.month_days:
            return [date(year, month, d) for d in self.month_days if d <= last]
        if self.week_of_month is None or self.weekday is None:
            return [date(year, month, anchor_day)] if anchor_day <= last else []
        if self.week_of_month == -1:
            d = date(year, month, last)
            d -= timedelta(days=(d.weekday() - self.weekday) % 7)
        else:
            d = date(year, month, 1)
            d += timedelta(days=(self.weekday - d.weekday()) % 7 + 7 * (self.week_of_month - 1))
        return [d + timedelta(days=self.offset_days)]


@dataclass(frozen=True)
class Window:
    """One concrete maintenance window."""

    start_utc: datetime
    end_utc: datetime
    zone: ZoneInfo

    @property
    def time_zone(self) -> str:
        return self.zone.key

    @property
    def start_local(self) -> datetime:
        return self.start_utc.astimezone(self.zone)

    @property
    def end_local(self) -> datetime:
        return self.end_utc.astimezone(self.zone)

    @property
    def duration(self) -> timedelta:
        return self.end_utc - self.start_utc

    def contains(self, instant: datetime) -> bool:
        return self.start_utc <= instant < self.end_utc

    def to_json(self) -> dict[str, str]:
        return {
            "start_utc": self.start_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_utc": self.end_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "start_local": self.start_local.isoformat(),
            "end_local": self.end_local.isoformat(),
            "time_zone": self.time_zone,
        }


def _parse_local(text: str, what: str) -> datetime:
    cleaned = (text or "").strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
    raise ScheduleError(f"{what} {text!r}: expected local time as 'YYYY-MM-DD HH:MM'")


def parse_duration(text: str) -> timedelta:
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text or "")
    if not m or int(m.group(2)) >= 60:
        raise ScheduleError(f"duration {text!r}: expected HH:MM, such as '03:55'")
    value = timedelta(hours=int(m.group(1)), minutes=int(m.group(2)))
    if value <= timedelta(0):
        raise ScheduleError(f"duration {text!r}: must be longer than zero")
    return value


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class MaintenanceSchedule:
    """A recurring maintenance window, as a maintenance configuration defines it."""

    recurrence: Recurrence
    start_local: datetime  # naive wall time in ``zone``
    duration: timedelta
    zone: ZoneInfo
    expiration_local: datetime | None = None

    @classmethod
    def from_config(
        cls,
        recur_every: str,
        start_date_time: str,
        duration: str,
        time_zone: str,
        expiration_date_time: str | None = None,
    ) -> MaintenanceSchedule:
        recurrence = Recurrence.parse(recur_every)
        start = _parse_local(start_date_time, "startDateTime")
        expiration = _parse_local(expiration_date_time, "expirationDateTime") if expiration_date_time else None
        if expiration is not None and expiration <= start:
            raise ScheduleError(
                f"expirationDateTime {expiration_date_time!r} is not after startDateTime {start_date_time!r}"
            )
        return cls(recurrence, start, parse_duration(duration), resolve_time_zone(time_zone), expiration)

    # -- expansion -------------------------------------------------------------------

    def _local_starts(self, first: date, last: date) -> Iterator[datetime]:
        """Local start wall times whose dates fall in [first, last], in order."""
        rec, anchor = self.recurrence, self.start_local
        first = max(first, anchor.date())
        if first > last:
            return
        if rec.unit == "hour":
            step = timedelta(hours=rec.interval)
            gap = datetime.combine(first, time.min) - anchor
            t = anchor + max(0, -(-gap // step)) * step
            while t.date() <= last:
                if t.date() >= first:
                    yield t
                t += step
            return
        if rec.unit == "day":
            skip = (first - anchor.date()).days
            d = first + timedelta(days=(-skip) % rec.interval)
            while d <= last:
                yield datetime.combine(d, anchor.time())
                d += timedelta(days=rec.interval)
            return
        if rec.unit == "week":
            weekdays = rec.weekdays or (anchor.weekday(),)
            week0 = anchor.date() - timedelta(days=anchor.weekday())
            d = first
            while d <= last:
                if d.weekday() in weekdays and ((d - week0).days // 7) % rec.interval == 0:
                    yield datetime.combine(d, anchor.time())
                d += timedelta(days=1)
            return
        # monthly; an offset (-6..6 days) may move a date into the neighbouring month, either way:
        # look one month before ``first`` and up to the month a week after ``last``
        y, mo = first.year, first.month - 1
        if mo == 0:
            y, mo = y - 1, 12
        while date(y, mo, 1) <= last + timedelta(days=7):
            if ((y - anchor.year) * 12 + mo - anchor.month) % rec.interval == 0:
                for d in rec.month_targets(y, mo, anchor.day):
                    if first <= d <= last:
                        yield datetime.combine(d, anchor.time())
            y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)

    def _window(self, local_start: datetime) -> Window:
        return Window(_to_utc(local_start, self.zone), _to_utc(local_start + self.duration, self.zone), self.zone)

    def windows_local(self, first_day: date, end_day: date) -> list[Window]:
        """Windows whose local start lies in [first_day 00:00, end_day 00:00)."""
        out = []
        for t in self._local_starts(first_day, end_day - timedelta(days=1)):
            if t < self.start_local or (self.expiration_local and t >= self.expiration_local):
                continue
            out.append(self._window(t))
        return sorted(out, key=lambda w: w.start_utc)

    def windows_between(self, start_utc: datetime, end_utc: datetime) -> list[Window]:
        """Windows whose start instant lies in [start_utc, end_utc)."""
        first = (start_utc.astimezone(self.zone) - timedelta(days=1)).date()
        last = (end_utc.astimezone(self.zone) + timedelta(days=2)).date()
        return [w for w in self.windows_local(first, last) if start_utc <= w.start_utc < end_utc]

    def window_at(self, instant: datetime) -> Window | None:
        """The window that contains ``instant``, if any."""
        look_back = self.duration + timedelta(days=1)
        for w in self.windows_between(instant - look_back, instant + timedelta(seconds=1)):
            if w.contains(instant):
                return w
        return None


def chains(windows: Iterable[Window], max_gap: timedelta = timedelta(hours=24)) -> list[list[Window]]:
    """Group consecutive windows that maintenance may span: each starts within
    ``max_gap`` of the previous one's end (consecutive nights, by default)."""
    groups: list[list[Window]] = []
    for w in sorted(windows, key=lambda x: x.start_utc):
        if groups and w.start_utc - groups[-1][-1].end_utc <= max_gap:
            groups[-1].append(w)
        else:
            groups.append([w])
    return groups
