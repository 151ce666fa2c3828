"""The Patch Tuesday calendar and the hotpatch cycle.

A *cycle* runs from one month's Patch Tuesday release to the next month's. Its kind
says whether VMs enrolled in hotpatching are expected to reboot: baseline months
(planned, quarterly by default, or unplanned, from configuration) install a cumulative
update that needs a reboot; the months in between ship hotpatches that do not.

Everything here is pure: instants are timezone-aware UTC ``datetime`` values passed in
by the caller, never read from the clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

REDMOND = ZoneInfo("America/Los_Angeles")
RELEASE_LOCAL_TIME = time(10, 0)
DEFAULT_BASELINE_MONTHS: frozenset[int] = frozenset({1, 4, 7, 10})
DEFAULT_DEADLINE_DAYS = 30
MIN_OFFSET_DAYS, MAX_OFFSET_DAYS = -30, 30


class CycleKind(enum.StrEnum):
    HOTPATCH = "hotpatch"
    PLANNED_BASELINE = "planned-baseline"
    UNPLANNED_BASELINE = "unplanned-baseline"

    @property
    def reboot_expected(self) -> bool:
        return self is not CycleKind.HOTPATCH


@dataclass(frozen=True, order=True)
class YearMonth:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, got {self.month}")
        if not 1 <= self.year <= 9998:
            raise ValueError(f"year out of range: {self.year}")

    @classmethod
    def parse(cls, text: str) -> YearMonth:
        """Parse ``YYYY-MM``."""
        parts = text.strip().split("-")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
            raise ValueError(f"expected a month as YYYY-MM, got {text!r}")
        return cls(int(parts[0]), int(parts[1]))

    def next(self) -> YearMonth:
        return YearMonth(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> YearMonth:
        return YearMonth(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def patch_tuesday(year: int, month: int) -> date:
    """The second Tuesday of the month (always day 8 to 14)."""
    first = date(year, month, 1)
    first_tuesday = 1 + (1 - first.weekday()) % 7  # Tuesday is weekday 1
    return date(year, month, first_tuesday + 7)


def release_instant(year: int, month: int) -> datetime:
    """Patch Tuesday at 10:00 in Redmond, as a UTC instant (17:00 or 18:00 UTC)."""
    local = datetime.combine(patch_tuesday(year, month), RELEASE_LOCAL_TIME, REDMOND)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class CalendarPolicy:
    """What an operator configures about the monthly cycle."""

    baseline_months: frozenset[int] = DEFAULT_BASELINE_MONTHS
    unplanned_baselines: frozenset[YearMonth] = field(default_factory=frozenset)
    offset_days: int = 0
    deadline_days: int = DEFAULT_DEADLINE_DAYS

    def __post_init__(self) -> None:
        bad = sorted(m for m in self.baseline_months if not 1 <= m <= 12)
        if bad:
            raise ValueError(f"baseline months must be 1..12, got {bad}")
        if not MIN_OFFSET_DAYS <= self.offset_days <= MAX_OFFSET_DAYS:
            raise ValueError(f"offset days must be {MIN_OFFSET_DAYS}..{MAX_OFFSET_DAYS}, got {self.offset_days}")
        if not 1 <= self.deadline_days <= 90:
            raise ValueError(f"deadline days must be 1..90, got {self.deadline_days}")

    def kind_of(self, month: YearMonth) -> CycleKind:
        if month.month in self.baseline_months:
            return CycleKind.PLANNED_BASELINE
        if month in self.unplanned_baselines:
            return CycleKind.UNPLANNED_BASELINE
        return CycleKind.HOTPATCH


@dataclass(frozen=True)
class Cycle:
    """One month's patch cycle, from its release to the next month's release."""

    month: YearMonth
    kind: CycleKind
    patch_tuesday: date
    release_utc: datetime
    scheduled_date: date
    scheduled_utc: datetime
    install_deadline_utc: datetime
    ends_utc: datetime

    @property
    def id(self) -> str:
        return str(self.month)

    @property
    def reboot_expected(self) -> bool:
        return self.kind.reboot_expected

    def contains(self, instant: datetime) -> bool:
        return self.release_utc <= instant < self.ends_utc

    def to_json(self) -> dict[str, object]:
        """The ``plan`` command's machine contract."""
        return {
            "month": str(self.month),
            "patch_tuesday": self.patch_tuesday.isoformat(),
            "scheduled_date": self.scheduled_date.isoformat(),
            "release_utc": format_utc(self.release_utc),
            "cycle_kind": self.kind.value,
            "reboot_expected": self.reboot_expected,
            "install_deadline_utc": format_utc(self.install_deadline_utc),
        }


def format_utc(instant: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for an aware instant."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cycle_for_month(month: YearMonth, policy: CalendarPolicy) -> Cycle:
    tuesday = patch_tuesday(month.year, month.month)
    release = release_instant(month.year, month.month)
    scheduled_date = tuesday + timedelta(days=policy.offset_days)
    scheduled = datetime.combine(scheduled_date, RELEASE_LOCAL_TIME, REDMOND).astimezone(UTC)
    nxt = month.next()
    return Cycle(
        month=month,
        kind=policy.kind_of(month),
        patch_tuesday=tuesday,
        release_utc=release,
        scheduled_date=scheduled_date,
        scheduled_utc=scheduled,
        install_deadline_utc=release + timedelta(hours=24 * policy.deadline_days),
        ends_utc=release_instant(nxt.year, nxt.month),
    )


def cycle_at(now: datetime, policy: CalendarPolicy) -> Cycle:
    """The cycle in force at ``now``: the latest release at or before it."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    month = YearMonth(now.astimezone(UTC).year, now.astimezone(UTC).month)
    cycle = cycle_for_month(month, policy)
    if now < cycle.release_utc:
        cycle = cycle_for_month(month.previous(), policy)
    return cycle
