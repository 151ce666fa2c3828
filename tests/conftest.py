"""Shared fixtures: a real Azurite per test session (per xdist worker)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.azurite import Azurite, running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with running_azurite() as az:
        yield az


@pytest.fixture
def storage_connection(azurite: Azurite) -> str:
    """Connection string of the session's Azurite."""
    return azurite.connection_string


@pytest.fixture
def unique_prefix() -> str:
    """A table/queue name prefix unique to one test, so tests share one Azurite safely."""
    return "t" + uuid.uuid4().hex[:10]


# CI runs are reproducible (same examples every run); local runs explore new ones.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
_hypothesis_settings.register_profile("dev", deadline=None)
_hypothesis_settings.load_profile("ci" if __import__("os").environ.get("CI") else "dev")
