"""The compile-level check of infra/ against Bicep's published type definitions: infra/
passes it, and each kind of mistake the Bicep compiler or ARM would refuse is caught."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.support.bicep import INFRA, bicep_files, parse
from tests.support.bicep_types import check_file, covered

MODULES = INFRA / "modules"


def test_every_resource_in_infra_fits_the_published_types() -> None:
    problems = [p for f in bicep_files() for p in check_file(f, parse(f))]
    assert problems == []
    declared = {
        f"{e['type']}@{e['api_version']}" for f in bicep_files() for e in parse(f).get("resources", {}).values()
    }
    assert declared <= set(covered())


def _mutated(module: str, resource: str, change: Any) -> list[str]:
    path = MODULES / module
    parsed = copy.deepcopy(parse(path))
    change(parsed["resources"][resource])
    return check_file(Path(path), parsed)


def _body(entry: dict[str, Any]) -> dict[str, Any]:
    config = entry["config"]
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return dict(config)


def _set(entry: dict[str, Any], dotted: str, value: Any) -> None:
    node = entry["config"]
    while "config" in node and ("condition" in node or "loop_type" in node):
        node = node["config"]
    *path, last = dotted.split(".")
    for key in path:
        node = node[key]
    node[last] = value


@pytest.mark.parametrize(
    ("module", "resource", "mutate", "expected"),
    [
        (  # an API version Microsoft never published for the type
            "subscriptionEvents.bicep",
            "plannedMaintenance",
            lambda e: e.update(api_version="2021-13-01"),
            "is not a published resource type and API version",
        ),
        (  # a misspelled property
            "storage.bicep",
            "account",
            lambda e: _set(e, "properties.allowSharedKeyAcess", False),
            "allowSharedKeyAcess: is not a property",
        ),
        (  # the wrong casing of a property
            "monitoring.bicep",
            "appInsights",
            lambda e: _set(e, "properties.disableLocalAuth", True),
            "is spelled 'DisableLocalAuth'",
        ),
        (  # a value outside the type's enum
            "alertsTopic.bicep",
            "topic",
            lambda e: _set(e, "properties.inputSchema", "CloudEvents"),
            "'CloudEvents' is not one of",
        ),
        (  # a destination type Event Grid does not have (discriminator)
            "subscriptionEvents.bicep",
            "healthToFunction",
            lambda e: _set(e, "properties.destination.endpointType", "Function"),
            "'Function' is not one of",
        ),
        (  # a property of another destination type
            "subscriptionEvents.bicep",
            "healthToFunction",
            lambda e: _set(e, "properties.destination.properties.queueName", "q"),
            "queueName: is not a property",
        ),
        (  # a read-only property
            "identity.bicep",
            "identity",
            lambda e: _set(e, "properties", {"clientId": "x"}),
            "clientId: is read-only",
        ),
        (  # a string where the type wants a boolean
            "storage.bicep",
            "account",
            lambda e: _set(e, "properties.supportsHttpsTrafficOnly", "yes"),
            "'yes' is not a boolean",
        ),
        (  # a required property left out
            "targetSubscription.bicep",
            "readerAssignment",
            lambda e: _body(e)["properties"].pop("principalId"),
            "properties.principalId: is required",
        ),
    ],
    ids=[
        "api-version",
        "property",
        "casing",
        "enum",
        "discriminator",
        "variant-property",
        "read-only",
        "kind",
        "required",
    ],
)
def test_the_type_check_catches_what_the_compiler_would(module: str, resource: str, mutate: Any, expected: str) -> None:
    problems = _mutated(module, resource, mutate)
    assert any(expected in p for p in problems), problems
