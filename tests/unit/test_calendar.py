"""The Patch Tuesday calendar: release instants across US daylight saving, cycle kinds, deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.calendar import (
    CalendarPolicy,
    CycleKind,
    YearMonth,
    cycle_at,
    cycle_for_month,
    patch_tuesday,
    release_instant,
)


def _us_dst(day: date) -> bool:
    """US daylight saving since 2007, written independently of zoneinfo:
    from the second Sunday of March to the first Sunday of November."""

    def nth_sunday(year: int, month: int, n: int) -> date:
        first = date(year, month, 1)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))

    return nth_sunday(day.year, 3, 2) <= day < nth_sunday(day.year, 11, 1)


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2026, 4, date(2026, 4, 14)),
        (2026, 3, date(2026, 3, 10)),
        (2026, 11, date(2026, 11, 10)),
        (2024, 10, date(2024, 10, 8)),  # the 1st is a Tuesday: second Tuesday is the 8th
        (2025, 7, date(2025, 7, 8)),
        (2027, 6, date(2027, 6, 8)),
        (2026, 9, date(2026, 9, 8)),
        (2030, 1, date(2030, 1, 8)),
        (2025, 2, date(2025, 2, 11)),
    ],
)
def test_patch_tuesday_known_dates(year: int, month: int, expected: date) -> None:
    assert patch_tuesday(year, month) == expected


@pytest.mark.parametrize(
    ("year", "month", "utc"),
    [
        (2026, 1, datetime(2026, 1, 13, 18, tzinfo=UTC)),  # PST
        (2026, 3, datetime(2026, 3, 10, 17, tzinfo=UTC)),  # PDT since 8 March
        (2027, 3, datetime(2027, 3, 9, 18, tzinfo=UTC)),  # DST starts 14 March 2027: still PST
        (2026, 10, datetime(2026, 10, 13, 17, tzinfo=UTC)),
        (2026, 11, datetime(2026, 11, 10, 18, tzinfo=UTC)),  # PST again since 1 November
    ],
)
def test_release_instant_follows_redmond_daylight_saving(year: int, month: int, utc: datetime) -> None:
    assert release_instant(year, month) == utc


def test_every_month_2020_2035_releases_on_a_tuesday_at_10_redmond() -> None:
    month = YearMonth(2020, 1)
    while month <= YearMonth(2035, 12):
        day = patch_tuesday(month.year, month.month)
        assert day.weekday() == 1 and 8 <= day.day <= 14
        expected_hour = 17 if _us_dst(day) else 18
        assert release_instant(month.year, month.month) == datetime(
            day.year, day.month, day.day, expected_hour, tzinfo=UTC
        ), str(month)
        month = month.next()


@given(st.integers(1900, 2200), st.integers(1, 12))
def test_patch_tuesday_is_always_a_tuesday_between_the_8th_and_14th(year: int, month: int) -> None:
    day = patch_tuesday(year, month)
    assert day.weekday() == 1
    assert 8 <= day.day <= 14
    assert (day.year, day.month) == (year, month)


def test_cycle_kinds_follow_baseline_months_and_unplanned_configuration() -> None:
    policy = CalendarPolicy(unplanned_baselines=frozenset({YearMonth(2026, 5)}))
    assert cycle_for_month(YearMonth(2026, 4), policy).kind is CycleKind.PLANNED_BASELINE
    assert cycle_for_month(YearMonth(2026, 5), policy).kind is CycleKind.UNPLANNED_BASELINE
    assert cycle_for_month(YearMonth(2026, 6), policy).kind is CycleKind.HOTPATCH
    assert cycle_for_month(YearMonth(2026, 6), policy).reboot_expected is False
    assert cycle_for_month(YearMonth(2026, 5), policy).reboot_expected is True
    custom = CalendarPolicy(baseline_months=frozenset({2, 8}))
    assert cycle_for_month(YearMonth(2026, 8), custom).kind is CycleKind.PLANNED_BASELINE
    assert cycle_for_month(YearMonth(2026, 1), custom).kind is CycleKind.HOTPATCH


def test_deadline_is_days_times_24_hours_after_release_even_across_dst() -> None:
    # October 2026 release is PDT; 30 x 24 h later the clocks have gone back: 17:00Z stays 17:00Z.
    cycle = cycle_for_month(YearMonth(2026, 10), CalendarPolicy())
    assert cycle.install_deadline_utc == datetime(2026, 11, 12, 17, tzinfo=UTC)
    short = cycle_for_month(YearMonth(2026, 10), CalendarPolicy(deadline_days=14))
    assert short.install_deadline_utc == datetime(2026, 10, 27, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0, date(2026, 4, 14)), (4, date(2026, 4, 18)), (-30, date(2026, 3, 15)), (30, date(2026, 5, 14))],
)
def test_offset_moves_the_scheduled_date(offset: int, expected: date) -> None:
    cycle = cycle_for_month(YearMonth(2026, 4), CalendarPolicy(offset_days=offset))
    assert cycle.scheduled_date == expected
    assert cycle.patch_tuesday == date(2026, 4, 14)


@pytest.mark.parametrize("offset", [-31, 31])
def test_offset_out_of_range_is_refused(offset: int) -> None:
    with pytest.raises(ValueError, match=r"-30\.\.30"):
        CalendarPolicy(offset_days=offset)


def test_cycle_at_switches_exactly_at_the_release_instant() -> None:
    policy = CalendarPolicy()
    release = datetime(2026, 4, 14, 17, tzinfo=UTC)
    assert cycle_at(release - timedelta(seconds=1), policy).month == YearMonth(2026, 3)
    assert cycle_at(release, policy).month == YearMonth(2026, 4)
    # early January belongs to December's cycle of the previous year
    assert cycle_at(datetime(2026, 1, 2, tzinfo=UTC), policy).month == YearMonth(2025, 12)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_cycle_at_contains_now_and_cycles_tile_time(now: datetime) -> None:
    cycle = cycle_at(now, CalendarPolicy())
    assert cycle.contains(now)
    nxt = cycle_for_month(cycle.month.next(), CalendarPolicy())
    assert nxt.release_utc == cycle.ends_utc


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cycle_at(datetime(2026, 4, 1), CalendarPolicy())


def test_year_month_parsing_names_the_format() -> None:
    assert YearMonth.parse("2026-04") == YearMonth(2026, 4)
    for bad in ("2026-4-1", "April", "2026-13", "26-04"):
        with pytest.raises(ValueError):
            YearMonth.parse(bad)
    assert YearMonth(2026, 12).next() == YearMonth(2027, 1)
    assert YearMonth(2026, 1).previous() == YearMonth(2025, 12)
