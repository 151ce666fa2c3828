"""One region normalisation: every way Azure writes a region compares equal."""

from __future__ import annotations

from shared.domain.region import region_key
from shared.domain.sql_catalog import REGIONS, describe_configuration, find_region
from tests.support.fixtures import published


def test_arm_and_display_names_of_the_published_locations_share_one_key() -> None:
    locations = published("arm/resources/GetLocations.json")["responses"]["200"]["body"]["value"]
    assert locations
    for loc in locations:
        assert region_key(loc["displayName"]) == region_key(loc["name"]) == loc["name"]
    assert len({region_key(loc["name"]) for loc in locations}) == len(locations)


def test_catalog_regions_are_found_however_written() -> None:
    for r in REGIONS:
        spaced = r.display_name
        for form in (spaced, r.arm_name, spaced.upper(), spaced.replace(" ", "_"), spaced.replace(" ", "-")):
            assert find_region(form) is r, form
    assert describe_configuration("SQL_EastUS2_DB_1").region is find_region("East US 2")
    assert len({region_key(r.display_name) for r in REGIONS}) == len(REGIONS)


def test_nothing_is_not_a_region() -> None:
    assert region_key(None) == region_key("") == region_key("  ") == ""
    assert find_region("") is None and find_region("Atlantis") is None
