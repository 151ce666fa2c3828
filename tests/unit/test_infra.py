"""What the Bicep promises an operator: no keys in the app, every setting deployed on
purpose, events wired to functions that exist, roles no wider than the work.

The Bicep is read with pycep (the parser checkov uses); syntax and the scanner run in
``make infra-check``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.config import SETTINGS
from tests.support import app as app_support
from tests.support.bicep import INFRA, ROOT, bicep_files, parse

MAIN = INFRA / "main.bicep"
MODULES = INFRA / "modules"

# The functions the deployment wires events to (the conventions' planned names).
PLANNED_WIRING = {"maintenance_events", "health_events", "action_group_alerts"}

# Settings whose Azure value comes from a resource the deployment creates, not a parameter.
DERIVED = {
    "AZURE_CLIENT_ID": "the user-assigned identity's client id",
    "ALERTS_TOPIC_ENDPOINT": "the alerts topic's endpoint",
    "LOG_ANALYTICS_WORKSPACE_ID": "the heartbeat workspace's customer id",
}
# Parameter-backed, but an empty parameter means "take it from the deployment".
DEFAULT_FROM_DEPLOYMENT = {
    "OUTCOMES_STORAGE": "the app account's table endpoint",
    "AZURE_CLOUD": "the cloud the deployment runs in",
}
# Deliberately not set in Azure.
OMITTED = {
    "AzureWebJobsStorage": "identity-based AzureWebJobsStorage__accountName/__credential/__clientId instead",
    "ALERTS_TOPIC_KEY": "the alerts topic has local (key) auth disabled; the app publishes with Entra ID",
    # Issue 12 stays out of infra/ (issue 11's lane): until main.bicep wires it, set it on the app by hand.
    "HOTPATCH_IMAGES": "optional override of the hotpatch document's image list; empty is the default",
}

BUILTIN_ROLES = {
    "acdd72a7-3c48-4c3a-bc47-5aab5f8b5d45": "Reader",
    "73c42c96-874c-492b-b04d-ab87d138a893": "Log Analytics Reader",
    "d5a91429-5739-47e2-a06b-3470a27159e7": "EventGrid Data Sender",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a": "Storage Queue Data Message Sender",
}
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _body(entry: dict[str, Any]) -> dict[str, Any]:
    """The object of a resource or module, through ``if (...)`` and ``[for ...]`` wrappers."""
    config = entry["config"]
    while isinstance(config, dict) and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return dict(config)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _resources(type_: str) -> list[tuple[Path, str, dict[str, Any]]]:
    return [
        (path, name, entry)
        for path in bicep_files()
        for name, entry in parse(path).get("resources", {}).items()
        if entry["type"] == type_ and not entry["existing"]
    ]


def _app_settings() -> dict[str, Any]:
    main = parse(MAIN)["variables"]["appSettings"]["value"]
    platform = parse(MODULES / "functionApp.bicep")["variables"]["platformSettings"]["value"]
    assert not set(main) & set(platform), "main.bicep must not override the platform settings"
    return {**main, **platform}


def _parameter_env() -> dict[str, tuple[str, str]]:
    """main.parameters.json: Bicep parameter -> (azd environment variable, default)."""
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    out = {}
    for name, entry in params.items():
        m = re.fullmatch(r"\$\{([A-Z0-9_]+)(?:=([^}]*))?\}", entry["value"])
        assert m, f"main.parameters.json: {name} should be ${{ENV_VAR}} or ${{ENV_VAR=default}}"
        out[name] = (m.group(1), m.group(2) or "")
    return out


def test_no_storage_keys_or_connection_strings_reach_the_app() -> None:
    settings = _app_settings()
    assert "AzureWebJobsStorage" not in settings
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__clientId"} <= set(settings)
    text = json.dumps(settings)
    for forbidden in ("AccountKey", "SharedAccessSignature", "DefaultEndpointsProtocol", "listKeys", "list_func"):
        assert forbidden not in text, f"app settings carry {forbidden}"
    # Application Insights: the connection string is only an ingestion address, since local
    # auth is off and the app authenticates with Entra ID.
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith("Authorization=AAD")
    ((_, _, insights),) = _resources("Microsoft.Insights/components")
    assert _body(insights)["properties"]["DisableLocalAuth"] is True
    # The app's account refuses keys altogether; Flex deploys its package with the identity.
    app_account = parse(MODULES / "storage.bicep")["resources"]["account"]
    assert _body(app_account)["properties"]["allowSharedKeyAccess"] is False
    site = _body(parse(MODULES / "functionApp.bicep")["resources"]["app"])
    auth = site["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert auth["type"] == "UserAssignedIdentity"
    assert site["properties"]["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    # The only key read anywhere is the action_group_alerts function key, for the action group.
    users = [p.name for p in bicep_files() if "listKeys" in p.read_text()]
    assert users == ["actionGroup.bicep"]


def test_every_setting_is_deployed_from_a_parameter_or_deliberately_left() -> None:
    settings = _app_settings()
    params = parse(MAIN)["parameters"]
    env = _parameter_env()
    for s in SETTINGS:
        if s.name in OMITTED:
            assert s.name not in settings, f"{s.name} is meant to stay unset: {OMITTED[s.name]}"
            continue
        assert s.name in settings, f"main.bicep does not set {s.name}"
        used = {leaf for leaf in _leaves(settings[s.name]) if isinstance(leaf, str) and leaf in params}
        if s.name in DERIVED:
            assert not used, f"{s.name} should come from {DERIVED[s.name]}, not a parameter"
            continue
        assert len(used) == 1, f"{s.name} should be wired from one parameter, found {sorted(used)}"
        (param,) = used
        default = params[param]["default"]
        default = str(default).lower() if isinstance(default, bool) else str(default)
        expected = "" if s.name in DEFAULT_FROM_DEPLOYMENT else s.default
        assert default == expected, f"parameter {param} defaults to {default!r}, {s.name} to {s.default!r}"
        assert env.get(param) == (s.name, expected), (
            f"main.parameters.json should map {param} to ${{{s.name}={expected}}} so `azd env set {s.name}` works"
        )
    unknown = {k for k in settings if k not in {s.name for s in SETTINGS}} - {
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    }
    assert not unknown, f"app settings that shared/config.py does not declare: {sorted(unknown)}"


def _wired_functions() -> dict[str, str]:
    """Function name -> module that wires it, from the literals main.bicep passes in."""
    main = parse(MAIN)
    names = {k: v["value"] for k, v in main["variables"].items() if k.endswith("FunctionName")}
    wired = {}
    for module in main["modules"].values():
        for param, value in _body(module).get("params", {}).items():
            if param.endswith(("functionName", "FunctionName")):
                wired[names[value]] = module["detail"]["path"]
    return wired


def test_events_are_wired_to_the_registered_functions() -> None:
    wired = _wired_functions()
    assert set(wired) == PLANNED_WIRING
    registered = {f.get_function_name() for f in app_support.functions()}
    missing = set(wired) - registered
    assert not missing, f"infra wires events to functions the app does not register: {sorted(missing)}"
    for name in ("maintenance_events", "health_events"):
        (trigger,) = [b for b in app_support.bindings(name) if b["type"].endswith("Trigger")]
        assert trigger["type"] == "eventGridTrigger", f"{name} must be an Event Grid trigger"
    (http,) = [b for b in app_support.bindings("action_group_alerts") if b["type"] == "httpTrigger"]
    route = parse(MAIN)["variables"]["alertsFunctionRoute"]["value"]
    assert http["route"] == route, "the action group posts to /api/<route>: the function must answer there"
    assert "POST" in [m.upper() for m in http["methods"]]
    assert http["authLevel"].lower() == "function", "the action group URL carries a function key"


@pytest.mark.parametrize(
    ("module", "event_types"),
    [
        (
            "maintenanceEvents.bicep",
            {"Microsoft.Maintenance.PreMaintenanceEvent", "Microsoft.Maintenance.PostMaintenanceEvent"},
        ),
        (
            "subscriptionEvents.bicep",
            {
                "Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged",
                "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated",
            },
        ),
    ],
)
def test_event_subscriptions_retry_and_keep_what_they_cannot_deliver(module: str, event_types: set[str]) -> None:
    resources = parse(MODULES / module)["resources"]
    (sub,) = [r for r in resources.values() if r["type"] == "Microsoft.EventGrid/systemTopics/eventSubscriptions"]
    props = _body(sub)["properties"]
    assert props["destination"]["endpointType"] == "AzureFunction"
    assert props["destination"]["properties"]["resourceId"] == "${functionAppId}/functions/${functionName}"
    assert props["destination"]["properties"]["maxEventsPerBatch"] == 1
    assert set(props["filter"]["includedEventTypes"]) == event_types
    assert set(props["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    assert props["deadLetterDestination"]["endpointType"] == "StorageBlob"
    topics = [r for r in resources.values() if r["type"] == "Microsoft.EventGrid/systemTopics"]
    (topic,) = topics
    expected_type = (
        "Microsoft.Maintenance.MaintenanceConfigurations"
        if module.startswith("maintenance")
        else "Microsoft.ResourceNotifications.HealthResources"
    )
    assert _body(topic)["properties"]["topicType"] == expected_type


def test_alerts_topic_takes_cloud_events_from_entra_id_only() -> None:
    resources = parse(MODULES / "alertsTopic.bicep")["resources"]
    topic = _body(resources["topic"])["properties"]
    assert topic["inputSchema"] == "CloudEventSchemaV1_0"
    assert topic["disableLocalAuth"] is True
    example = _body(resources["exampleSubscription"])["properties"]
    assert example["eventDeliverySchema"] == "CloudEventSchemaV1_0"
    assert example["deadLetterDestination"]["endpointType"] == "StorageBlob"


def test_service_health_maintenance_reaches_action_group_alerts_in_the_common_schema() -> None:
    rule = _body(parse(MODULES / "subscriptionEvents.bicep")["resources"]["plannedMaintenance"])["properties"]
    conditions = {c["field"]: c["equals"] for c in rule["condition"]["allOf"]}
    assert conditions == {"category": "ServiceHealth", "properties.incidentType": "Maintenance"}
    group = _body(parse(MODULES / "actionGroup.bicep")["resources"]["actionGroup"])["properties"]
    (receiver,) = group["azureFunctionReceivers"]
    assert receiver["useCommonAlertSchema"] is True
    assert receiver["functionName"] == "functionName"
    assert "/api/${functionRoute}?code=" in receiver["httpTriggerUrl"]


def test_roles_are_no_wider_than_the_work() -> None:
    target = parse(MODULES / "targetSubscription.bicep")
    base = target["variables"]["readVmsAndAssess"]["value"]
    install = target["variables"]["installActions"]["value"]
    assert base == ["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/assessPatches/action"]
    assert install == ["Microsoft.Compute/virtualMachines/installPatches/action"]
    (perm,) = _body(target["resources"]["patchRole"])["properties"]["permissions"]
    actions = perm["actions"]["operator"]["operands"]
    assert actions["condition"] == "remediate", "installPatches only when remediation is on"
    assert actions["false_value"] == "readVmsAndAssess"
    for _, name, entry in _resources("Microsoft.Authorization/roleDefinitions"):
        text = json.dumps(_body(entry)["properties"]["permissions"])
        assert "*" not in text, f"custom role {name} uses a wildcard"
    for path, name, entry in _resources("Microsoft.Authorization/roleAssignments"):
        props = _body(entry)["properties"]
        assert props["principalType"] == "ServicePrincipal", f"{path.name}:{name}"
        for guid in _GUID.findall(json.dumps(props["roleDefinitionId"])):
            assert guid in BUILTIN_ROLES, f"{path.name}:{name} assigns an unexpected role {guid}"


def test_azd_deploys_this_app_with_the_python_function_host() -> None:
    text = (ROOT / "azure.yaml").read_text()
    service = _body(parse(MODULES / "functionApp.bicep")["resources"]["app"])
    tag_param = parse(MODULES / "functionApp.bicep")["parameters"]["serviceName"]["default"]
    assert re.search(rf"^  {tag_param}:.*\n    project: \.\n    language: python\n    host: function$", text, re.M)
    assert "azd-service-name" in json.dumps(service["tags"])
    assert re.search(r"^  path: infra\n  module: main$", text, re.M)
    assert "azure.yaml" in (ROOT / ".funcignore").read_text().split()
