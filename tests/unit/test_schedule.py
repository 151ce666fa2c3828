"""recurEvery parsing and window expansion, across daylight saving in both hemispheres."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shared.domain.schedule import (
    MaintenanceSchedule,
    Recurrence,
    ScheduleError,
    chains,
    resolve_time_zone,
)


def starts(recur: str, first: date, end: date, start: str = "2026-01-01 02:00", tz: str = "UTC") -> list[str]:
    schedule = MaintenanceSchedule.from_config(recur, start, "02:00", tz)
    return [w.start_local.strftime("%Y-%m-%d %H:%M") for w in schedule.windows_local(first, end)]


@pytest.mark.parametrize(
    ("recur", "expected"),
    [
        ("Day", ["2026-01-01 02:00", "2026-01-02 02:00", "2026-01-03 02:00"]),
        ("3Days", ["2026-01-01 02:00", "2026-01-04 02:00", "2026-01-07 02:00"]),
        ("Week", ["2026-01-01 02:00", "2026-01-08 02:00"]),  # 1 Jan 2026 is a Thursday
        ("Week Saturday,Sunday", ["2026-01-03 02:00", "2026-01-04 02:00", "2026-01-10 02:00"]),
        ("2Weeks Monday", ["2026-01-12 02:00", "2026-01-26 02:00"]),
        ("6Hours", ["2026-01-01 02:00", "2026-01-01 08:00", "2026-01-01 14:00"]),
    ],
)
def test_daily_weekly_hourly(recur: str, expected: list[str]) -> None:
    assert starts(recur, date(2026, 1, 1), date(2026, 2, 1))[: len(expected)] == expected


@pytest.mark.parametrize(
    ("recur", "expected"),
    [
        ("Month", ["2026-01-01", "2026-02-01", "2026-03-01"]),
        ("2Months", ["2026-01-01", "2026-03-01", "2026-05-01"]),
        ("Month day23,day24", ["2026-01-23", "2026-01-24", "2026-02-23"]),
        ("Month day31", ["2026-01-31", "2026-03-31", "2026-05-31"]),  # months without a 31st are skipped
        ("Month Last Sunday", ["2026-01-25", "2026-02-22", "2026-03-29"]),
        ("Month Fourth Monday", ["2026-01-26", "2026-02-23", "2026-03-23"]),
        ("Month Second Tuesday", ["2026-01-13", "2026-02-10", "2026-03-10"]),  # Patch Tuesday
        ("Month Second Tuesday Offset4", ["2026-01-17", "2026-02-14", "2026-03-14"]),  # Patch Tuesday + 4
        ("Month First Monday Offset-6", ["2026-01-27", "2026-02-24", "2026-03-31"]),  # into the previous month
        ("month second tuesday offset+2", ["2026-01-15", "2026-02-12", "2026-03-12"]),
    ],
)
def test_monthly_forms(recur: str, expected: list[str]) -> None:
    got = [s[:10] for s in starts(recur, date(2026, 1, 1), date(2026, 7, 1))]
    assert got[: len(expected)] == expected


@pytest.mark.parametrize(
    ("recur", "quoted"),
    [
        ("Fortnight", "'Fortnight'"),
        ("Week Funday", "'Funday'"),
        ("Month Fifth Monday", "'Fifth'"),
        ("Month Second Tuesday Offset9", "offset 9"),
        ("Month Second Tuesday Plus4", "'Plus4'"),
        ("Month day32", "'day32'"),
        ("Month day0", "'day0'"),
        ("0Days", "'0'"),
        ("Day Monday", "'Monday'"),
        ("Month Last", "'Last'"),
        ("", "''"),
    ],
)
def test_invalid_expressions_quote_the_bad_part(recur: str, quoted: str) -> None:
    with pytest.raises(ScheduleError) as err:
        Recurrence.parse(recur)
    assert quoted in str(err.value)


@pytest.mark.parametrize(
    ("field", "args", "quoted"),
    [
        ("duration", ("Day", "2026-01-01 02:00", "3h", "UTC"), "'3h'"),
        ("duration", ("Day", "2026-01-01 02:00", "00:00", "UTC"), "'00:00'"),
        ("startDateTime", ("Day", "01/01/2026 02:00", "01:00", "UTC"), "'01/01/2026 02:00'"),
        ("time zone", ("Day", "2026-01-01 02:00", "01:00", "Atlantis Standard Time"), "'Atlantis Standard Time'"),
    ],
)
def test_invalid_fields_name_the_field_and_value(field: str, args: tuple[str, ...], quoted: str) -> None:
    with pytest.raises(ScheduleError) as err:
        MaintenanceSchedule.from_config(*args)
    assert field in str(err.value) and quoted in str(err.value)


def test_windows_zone_names_map_to_iana() -> None:
    assert resolve_time_zone("Pacific Standard Time").key == "America/Los_Angeles"
    assert resolve_time_zone("w. europe standard time").key == "Europe/Berlin"
    assert resolve_time_zone("AUS Eastern Standard Time").key == "Australia/Sydney"
    assert resolve_time_zone("India Standard Time").key in ("Asia/Calcutta", "Asia/Kolkata")
    assert resolve_time_zone("Europe/Paris").key == "Europe/Paris"


def _hours(w) -> float:  # type: ignore[no-untyped-def]
    return w.duration.total_seconds() / 3600


@pytest.mark.parametrize(
    ("tz", "local_start", "utc_start", "hours"),
    [
        # US spring forward (8 Mar 2026) and fall back (1 Nov 2026)
        ("Eastern Standard Time", "2026-03-07 22:00", datetime(2026, 3, 8, 3, tzinfo=UTC), 7),
        ("Eastern Standard Time", "2026-10-31 22:00", datetime(2026, 11, 1, 2, tzinfo=UTC), 9),
        # Europe: 29 Mar and 25 Oct 2026
        ("W. Europe Standard Time", "2026-03-28 22:00", datetime(2026, 3, 28, 21, tzinfo=UTC), 7),
        ("W. Europe Standard Time", "2026-10-24 22:00", datetime(2026, 10, 24, 20, tzinfo=UTC), 9),
        # Southern hemisphere: Sydney falls back 5 Apr and springs forward 4 Oct 2026
        ("AUS Eastern Standard Time", "2026-04-04 22:00", datetime(2026, 4, 4, 11, tzinfo=UTC), 9),
        ("AUS Eastern Standard Time", "2026-10-03 22:00", datetime(2026, 10, 3, 12, tzinfo=UTC), 7),
        # No daylight saving: always eight hours
        ("India Standard Time", "2026-03-28 22:00", datetime(2026, 3, 28, 16, 30, tzinfo=UTC), 8),
        ("Tokyo Standard Time", "2026-10-24 22:00", datetime(2026, 10, 24, 13, tzinfo=UTC), 8),
    ],
)
def test_eight_local_hours_are_seven_or_nine_across_dst(
    tz: str, local_start: str, utc_start: datetime, hours: int
) -> None:
    schedule = MaintenanceSchedule.from_config("Day", local_start, "08:00", tz)
    first = schedule.windows_local(
        date.fromisoformat(local_start[:10]), date.fromisoformat(local_start[:10]) + timedelta(days=1)
    )
    (w,) = first
    assert w.start_utc == utc_start
    assert _hours(w) == hours
    assert w.end_local.strftime("%H:%M") == "06:00"


def test_start_in_spring_forward_gap_moves_forward_by_the_gap() -> None:
    schedule = MaintenanceSchedule.from_config("Day", "2026-03-07 02:30", "01:00", "Pacific Standard Time")
    w = schedule.windows_local(date(2026, 3, 8), date(2026, 3, 9))[0]
    assert w.start_utc == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
    assert w.start_local.strftime("%H:%M %Z") == "03:30 PDT"


def test_start_and_expiration_bound_the_windows() -> None:
    schedule = MaintenanceSchedule.from_config(
        "Day", "2026-05-10 20:00", "02:00", "UTC", expiration_date_time="2026-05-13 20:00"
    )
    got = [w.start_local.day for w in schedule.windows_local(date(2026, 5, 1), date(2026, 6, 1))]
    assert got == [10, 11, 12]


def test_expiration_before_start_is_refused() -> None:
    with pytest.raises(ScheduleError, match="expirationDateTime"):
        MaintenanceSchedule.from_config("Day", "2026-05-10 20:00", "02:00", "UTC", "2026-05-01 00:00")


def test_window_at_finds_the_window_that_contains_an_instant() -> None:
    schedule = MaintenanceSchedule.from_config("Week Saturday", "2026-01-03 22:00", "08:00", "Eastern Standard Time")
    inside = datetime(2026, 3, 8, 9, 59, tzinfo=UTC)  # Sun 05:59 EDT, the 7-hour night
    w = schedule.window_at(inside)
    assert w is not None and w.start_utc == datetime(2026, 3, 8, 3, tzinfo=UTC)
    assert schedule.window_at(datetime(2026, 3, 8, 10, 0, tzinfo=UTC)) is None  # 06:00 EDT: just ended
    assert schedule.window_at(datetime(2026, 3, 8, 2, 59, tzinfo=UTC)) is None  # 21:59 EST: not yet


def test_windows_between_uses_utc_bounds() -> None:
    schedule = MaintenanceSchedule.from_config("Day", "2026-01-01 23:00", "01:00", "Tokyo Standard Time")
    got = schedule.windows_between(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 3, tzinfo=UTC))
    assert [w.start_utc for w in got] == [datetime(2026, 2, 1, 14, tzinfo=UTC), datetime(2026, 2, 2, 14, tzinfo=UTC)]


def test_chains_group_consecutive_nights() -> None:
    weekday = MaintenanceSchedule.from_config(
        "Week Monday,Tuesday,Wednesday,Thursday", "2026-01-01 22:00", "08:00", "GMT Standard Time"
    )
    groups = chains(weekday.windows_local(date(2026, 6, 1), date(2026, 6, 15)))
    assert [len(g) for g in groups] == [4, 4]
    assert groups[0][0].start_local.strftime("%a") == "Mon" and groups[0][-1].start_local.strftime("%a") == "Thu"
    assert [
        len(g) for g in chains(weekday.windows_local(date(2026, 6, 1), date(2026, 6, 15)), max_gap=timedelta(0))
    ] == [1] * 8


# -- properties ----------------------------------------------------------------------------

ZONES = [
    "Pacific Standard Time",
    "W. Europe Standard Time",
    "AUS Eastern Standard Time",
    "India Standard Time",
    "UTC",
    "Eastern Standard Time",
]
RECURS = st.sampled_from(
    [
        "Day",
        "2Days",
        "Week",
        "Week Saturday,Sunday",
        "2Weeks Tuesday,Friday",
        "Month",
        "Month day1,day15,day31",
        "Month Last Sunday",
        "Month Second Tuesday Offset3",
        "Month First Friday Offset-2",
        "3Months Third Wednesday",
        "6Hours",
        "8Hours",
    ]
)


@st.composite
def schedules(draw: st.DrawFn) -> MaintenanceSchedule:
    start = draw(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1)))
    minutes = draw(st.integers(90, 235))  # Update Manager's 1h30..3h55
    return MaintenanceSchedule.from_config(
        draw(RECURS),
        start.strftime("%Y-%m-%d %H:%M"),
        f"{minutes // 60:02d}:{minutes % 60:02d}",
        draw(st.sampled_from(ZONES)),
    )


def _exists(naive: datetime, zone) -> bool:  # type: ignore[no-untyped-def]
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


@settings(max_examples=60, deadline=None)
@given(schedules(), st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 6, 1)), st.integers(1, 120))
def test_windows_are_ordered_disjoint_and_start_at_the_configured_wall_time(
    s: MaintenanceSchedule, first: date, days: int
) -> None:
    windows = s.windows_local(first, first + timedelta(days=days))
    for a, b in itertools.pairwise(windows):
        assert a.start_utc < b.start_utc
        assert a.end_utc <= b.start_utc
    for w in windows:
        naive = datetime.combine(w.start_local.date(), s.start_local.time())
        if s.recurrence.unit != "hour":
            if _exists(naive, s.zone):
                assert w.start_local.replace(tzinfo=None) == naive
            else:  # in a spring-forward gap: moved forward, never back
                assert w.start_local.replace(tzinfo=None) > naive
        assert first <= w.start_local.date() < first + timedelta(days=days) or not _exists(naive, s.zone)
        assert w.start_local.replace(tzinfo=None) >= s.start_local


@settings(max_examples=60, deadline=None)
@given(
    schedules(),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 6, 1)),
    st.integers(0, 90),
    st.integers(0, 90),
)
@example(  # found by this property: April's first Friday minus two days falls on 31 March
    MaintenanceSchedule.from_config(
        "Month First Friday Offset-2", "2024-01-01 02:00", "02:00", "W. Europe Standard Time"
    ),
    date(2027, 1, 1),
    90,
    1,
)
def test_expanding_a_b_then_b_c_equals_a_c(s: MaintenanceSchedule, a: date, ab: int, bc: int) -> None:
    b, c = a + timedelta(days=ab), a + timedelta(days=ab + bc)
    assert s.windows_local(a, b) + s.windows_local(b, c) == s.windows_local(a, c)
