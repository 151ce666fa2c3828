"""Azure region names, compared one way everywhere.

Azure writes one region several ways: its ARM name (``eastus2``, a resource's
``location`` and the ``name`` of ``GET /subscriptions/{id}/locations``), its display name
(``East US 2``, that endpoint's ``displayName`` and Service Health's
``impactedServices[].ImpactedRegions[].RegionName``), and the SQL maintenance
configurations write a token (``EastUS2`` in ``SQL_EastUS2_DB_1``). Source of the first
two: azure-rest-api-specs, ``specification/resources/resource-manager/Microsoft.Resources/
subscriptions/stable/2022-12-01/examples/GetLocations.json`` (our copy:
``tests/fixtures/published/arm/resources/GetLocations.json``).

:func:`region_key` maps every form to the ARM name's: whitespace, ``_`` and ``-`` dropped,
lower case. ARM names are letters and digits only, so no two regions share a key.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s_-]")


def region_key(name: str | None) -> str:
    """``East US 2``, ``eastus2``, ``EastUS2``, ``east_us_2`` and ``east-us-2`` -> ``eastus2``."""
    return _SEPARATORS.sub("", name or "").lower()
