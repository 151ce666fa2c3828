"""The SQL maintenance window catalog, configuration overrides and eligibility."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from shared.domain.schedule import ScheduleError
from shared.domain.sql_catalog import (
    REGIONS,
    EligibilityPolicy,
    SqlResource,
    catalog_schedule,
    check_eligibility,
    describe_configuration,
    schedule_from_public_configuration,
)
from tests.support.fixtures import PUBLISHED

FIXTURES = PUBLISHED / "arm"

REQUIRED = [
    "Australia East",
    "Australia Southeast",
    "Brazil South",
    "Canada Central",
    "Canada East",
    "Central India",
    "Central US",
    "East US",
    "East US 2",
    "East Asia",
    "France South",
    "Germany West Central",
    "Japan East",
    "Korea Central",
    "North Central US",
    "North Europe",
    "South Central US",
    "Southeast Asia",
    "UK South",
    "UK West",
    "West Central US",
    "West Europe",
    "West US",
    "West US 2",
]


def test_catalog_covers_every_required_region() -> None:
    assert sorted(r.display_name for r in REGIONS) == sorted(REQUIRED)


@pytest.mark.parametrize("region", [r for r in REGIONS], ids=lambda r: r.arm_name)
def test_every_region_has_weekday_and_weekend_windows(region) -> None:  # type: ignore[no-untyped-def]
    kinds = ["MI"] + (["DB"] if region.databases else [])
    for kind in kinds:
        weekday = catalog_schedule(f"SQL_{region.config_token}_{kind}_1")
        weekend = catalog_schedule(f"SQL_{region.config_token}_{kind}_2")
        wd = weekday.windows_local(date(2026, 6, 1), date(2026, 6, 8))  # Mon 1 .. Sun 7 June 2026
        we = weekend.windows_local(date(2026, 6, 1), date(2026, 6, 8))
        assert [w.start_local.strftime("%a %H:%M") for w in wd] == ["Mon 22:00", "Tue 22:00", "Wed 22:00", "Thu 22:00"]
        assert [w.start_local.strftime("%a %H:%M") for w in we] == ["Fri 22:00", "Sat 22:00", "Sun 22:00"]
        assert all(w.end_local.strftime("%H:%M") == "06:00" for w in wd + we)


def test_korea_central_offers_windows_to_managed_instances_only() -> None:
    assert catalog_schedule("SQL_KoreaCentral_MI_1").zone.key == "Asia/Seoul"
    with pytest.raises(ScheduleError, match="managed instances only"):
        catalog_schedule("SQL_KoreaCentral_DB_1")


def test_names_are_matched_case_insensitively_and_canonicalised() -> None:
    assert describe_configuration("sql_eastus2_db_2").name == "SQL_EastUS2_DB_2"
    assert describe_configuration("SQL_WestEurope_MI_1").schedule_label == "weekday"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("SQL_Atlantis_DB_1", "'Atlantis'"), ("SQL_EastUS_DB_3", "SQL_{Region}"), ("EastUS_DB_1", "SQL_Default")],
)
def test_bad_configuration_names_say_why(name: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as err:
        describe_configuration(name)
    assert fragment in str(err.value)


def test_sql_default_is_17_to_08_local_and_needs_a_region() -> None:
    s = catalog_schedule("SQL_Default", "westeurope")
    (w,) = s.windows_local(date(2026, 7, 1), date(2026, 7, 2))
    assert w.start_utc == datetime(2026, 7, 1, 15, tzinfo=UTC)  # 17:00 CEST
    assert w.end_local.strftime("%Y-%m-%d %H:%M") == "2026-07-02 08:00"
    # the night the clocks go back in Europe lasts 16 hours
    (long_night,) = s.windows_local(date(2026, 10, 24), date(2026, 10, 25))
    assert long_night.duration.total_seconds() == 16 * 3600
    with pytest.raises(ScheduleError, match="region"):
        catalog_schedule("SQL_Default")


def test_weekend_window_across_dst_in_east_us() -> None:
    windows = catalog_schedule("SQL_EastUS_DB_2").windows_local(date(2026, 3, 1), date(2026, 3, 15))
    by_start = {w.start_local.strftime("%Y-%m-%d"): w.duration.total_seconds() / 3600 for w in windows}
    assert by_start["2026-03-07"] == 7
    assert by_start["2026-03-06"] == 8
    assert by_start["2026-03-08"] == 8


def test_configuration_read_from_azure_overrides_the_catalog() -> None:
    example = json.loads((FIXTURES / "maintenance" / "PublicMaintenanceConfigurations_GetForResource.json").read_text())
    body = example["responses"]["200"]["body"]
    schedule = schedule_from_public_configuration(body["properties"])  # "2Weeks" from Thu 30 Apr 2020 08:00, 5 h
    assert schedule.zone.key == "America/Los_Angeles"
    got = schedule.windows_local(date(2026, 6, 1), date(2026, 7, 1))
    assert [w.start_local.strftime("%a %d %H:%M") for w in got] == ["Thu 04 08:00", "Thu 18 08:00"]
    assert all((w.start_local.date() - date(2020, 4, 30)).days % 14 == 0 for w in got)
    assert all(w.duration.total_seconds() == 5 * 3600 for w in got)
    # keys in any case
    props = {
        "MaintenanceWindow": {
            "StartDateTime": "2026-01-01 21:00",
            "Duration": "08:00",
            "TimeZone": "Pacific Standard Time",
            "RecurEvery": "week Monday, Tuesday, Wednesday, Thursday",
        }
    }
    s = schedule_from_public_configuration(props)
    starts = [w.start_local.strftime("%a %H:%M") for w in s.windows_local(date(2026, 6, 1), date(2026, 6, 8))]
    assert starts == ["Mon 21:00", "Tue 21:00", "Wed 21:00", "Thu 21:00"]
    with pytest.raises(ScheduleError, match="duration"):
        schedule_from_public_configuration(
            {"maintenanceWindow": {"startDateTime": "2026-01-01 21:00", "timeZone": "UTC", "recurEvery": "Day"}}
        )


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (SqlResource("database", "eastus", service_objective="S0"), "service objective S0"),
        (SqlResource("database", "eastus", service_objective="Basic"), "service objective Basic"),
        (SqlResource("database", "eastus", service_objective="GP_DC_2"), "hardware DC"),
        (SqlResource("database", "eastus", service_objective="BC_Fsv2_8"), "hardware Fsv2"),
        (
            SqlResource("elastic_pool", "eastus", service_objective="HS_Gen5_4", edition="Hyperscale"),
            "Hyperscale elastic pools",
        ),
        (SqlResource("managed_instance", "westeurope", in_instance_pool=True), "instance pool"),
        (SqlResource("database", "koreacentral", service_objective="GP_Gen5_2"), "managed instances only"),
        (SqlResource("database", "mars", service_objective="GP_Gen5_2"), "'mars'"),
    ],
)
def test_ineligible_resources_say_why(resource: SqlResource, reason: str) -> None:
    result = check_eligibility(resource)
    assert not result.eligible
    assert any(reason in r for r in result.reasons), result.reasons


def test_eligible_resources_and_configurable_exclusions() -> None:
    assert check_eligibility(SqlResource("database", "East US 2", service_objective="GP_Gen5_2")).eligible
    assert check_eligibility(SqlResource("managed_instance", "koreacentral")).eligible
    assert check_eligibility(SqlResource("database", "eastus", service_objective="S2")).eligible
    stricter = EligibilityPolicy(
        excluded_service_objectives=frozenset({"S2"}), excluded_editions=frozenset({"Hyperscale"})
    )
    assert not check_eligibility(SqlResource("database", "eastus", service_objective="S2"), stricter).eligible
    assert not check_eligibility(SqlResource("database", "eastus", edition="Hyperscale"), stricter).eligible
    assert check_eligibility(SqlResource("database", "eastus", service_objective="S0"), stricter).eligible


@pytest.mark.parametrize(
    ("service_objective", "reason"),
    [("HS_Gen5_2", "service objective HS_Gen5_2"), ("GP_Gen4_2", "hardware Gen4"), ("BC_M_8", "hardware M")],
)
def test_the_default_exclusions_cover_hyperscale_gen4_and_m_series(service_objective: str, reason: str) -> None:
    result = check_eligibility(SqlResource("database", "westeurope", service_objective=service_objective))
    assert not result.eligible
    assert any(reason in r for r in result.reasons), result.reasons


def test_each_sql_exclusion_setting_changes_the_judgement() -> None:
    from shared.config import load_settings

    gen4 = SqlResource("database", "westeurope", service_objective="GP_Gen4_2")
    s2 = SqlResource("database", "westeurope", service_objective="S2")
    hs = SqlResource("database", "westeurope", service_objective="HS_Gen5_2")
    defaults = load_settings({}).sql_eligibility
    assert not check_eligibility(gen4, defaults).eligible and check_eligibility(s2, defaults).eligible
    custom = load_settings({"SQL_EXCLUDED_HARDWARE": "DC", "SQL_EXCLUDED_SERVICE_OBJECTIVES": "S2"}).sql_eligibility
    assert check_eligibility(gen4, custom).eligible  # Gen4 is no longer excluded
    assert not check_eligibility(s2, custom).eligible
    assert check_eligibility(hs, custom).eligible  # nor Hyperscale (HS_*)


def test_a_resource_that_cannot_choose_is_judged_against_the_default_policy_only() -> None:
    from shared.adapters.schedules import SqlResourceRef, sql_window

    sub = "00000000-1111-2222-3333-444444444444"
    chosen = f"/subscriptions/{sub}/providers/Microsoft.Maintenance/publicMaintenanceConfigurations/SQL_WestEurope_DB_1"
    db = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Sql/servers/s/databases/"
    eligible = sql_window(SqlResourceRef(db + "ok", "westeurope", chosen, "database", "GP_Gen5_2"), {})
    basic = sql_window(SqlResourceRef(db + "basic", "westeurope", chosen, "database", "Basic"), {})
    pooled = sql_window(
        SqlResourceRef(db + "mi", "westeurope", chosen, "managed_instance", "GP_Gen5", instance_pool=True), {}
    )
    assert eligible is not None and eligible.configuration == "SQL_WestEurope_DB_1"
    for judged in (basic, pooled):
        assert judged is not None and judged.configuration == "SQL_Default"
        (w,) = judged.schedule.windows_between(
            datetime(2026, 3, 2, 12, tzinfo=UTC), datetime(2026, 3, 3, 12, tzinfo=UTC)
        )
        assert (w.start_local.hour, w.time_zone) == (17, "Europe/Berlin")  # 17:00-08:00 local, every day
