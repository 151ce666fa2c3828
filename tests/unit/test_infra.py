"""What the Bicep promises an operator: no keys in the app, every setting deployed on
purpose, events wired to functions that exist, roles no wider than the work.

The Bicep is read with pycep (the parser checkov uses); syntax and the scanner run in
``make infra-check``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.config import SETTINGS
from tests.support import app as app_support
from tests.support.azure_roles import BUILT_IN_ROLES, role_name
from tests.support.bicep import INFRA, ROOT, bicep_files, parse
from tests.support.fixtures import published

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
    "AzureWebJobsStorage": "identity-based AzureWebJobsStorage__*ServiceUri/__credential/__clientId instead",
    "ALERTS_TOPIC_KEY": "the alerts topic has local (key) auth disabled; the app publishes with Entra ID",
    # Issue 12 stays out of infra/ (issue 11's lane): until main.bicep wires it, set it on the app by hand.
    "HOTPATCH_IMAGES": "optional override of the hotpatch document's image list; empty is the default",
    "ASSESSMENT_FROM_RESOURCE_GRAPH": "on by default; set it on the app only to turn Resource Graph assessments off",
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
    assert {"AzureWebJobsStorage__tableServiceUri", "AzureWebJobsStorage__clientId"} <= set(settings)
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
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__tableServiceUri",
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


def _subscription(module: str) -> dict[str, Any]:
    resources = parse(MODULES / module)["resources"]
    (sub,) = [r for r in resources.values() if r["type"] == "Microsoft.EventGrid/systemTopics/eventSubscriptions"]
    return _body(sub)["properties"]


def _delivered(module: str, event: dict[str, Any], params: dict[str, Any] | None = None) -> bool:
    """Whether an Event Grid event passes the subscription's filter: includedEventTypes and
    StringIn advanced filters on ``data.*`` keys, both case-insensitive (Event Grid's
    documented semantics, articles/event-grid/event-filtering.md)."""
    flt = _subscription(module)["filter"]
    if event["eventType"].lower() not in {t.lower() for t in flt["includedEventTypes"]}:
        return False
    advanced = flt.get("advancedFilters", [])
    if isinstance(advanced, dict) and "operator" in advanced:  # empty(types) ? [] : typeFilter
        declared = parse(MODULES / module)["parameters"]
        values = (params or {}).get("healthResourceTypes", declared["healthResourceTypes"].get("default"))
        advanced = [] if not values else parse(MODULES / module)["variables"]["typeFilter"]["value"]
    for f in advanced:
        assert f["operatorType"] == "StringIn"
        node: Any = event
        for part in f["key"].split("."):
            node = node.get(part) if isinstance(node, dict) else None
        values = (params or {}).get("healthResourceTypes") if f["values"] == "healthResourceTypes" else f["values"]
        if str(node).lower() not in {str(v).lower() for v in values or []}:
            return False
    return True


def _health_event(resource_type: str) -> dict[str, Any]:
    event = copy.deepcopy(published("events/health-availability-status-changed.eventgrid.json"))
    event["data"]["resourceInfo"]["properties"]["targetResourceType"] = resource_type
    return dict(event)


def test_which_published_events_reach_which_function() -> None:
    pre = published("events/maintenance-pre-event.eventgrid.json")[0]
    post = published("events/maintenance-post-event.eventgrid.json")[0]
    assert _delivered("maintenanceEvents.bicep", pre) and _delivered("maintenanceEvents.bicep", post)
    assert not _delivered("maintenanceEvents.bicep", _health_event("Microsoft.Compute/virtualMachines"))
    # health_events receives the VMs' availability changes, with the deployed default types
    default = [t for t in parse(MAIN)["parameters"]["healthResourceTypes"]["default"].split(",") if t]
    deployed = {"healthResourceTypes": default}
    vm = _health_event("Microsoft.Compute/virtualMachines")
    assert _delivered("subscriptionEvents.bicep", vm, deployed)
    assert not _delivered(
        "subscriptionEvents.bicep", _health_event("Microsoft.Compute/virtualMachineScaleSets"), deployed
    )
    assert not _delivered("subscriptionEvents.bicep", pre, deployed)
    annotated = {**vm, "eventType": "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated"}
    assert _delivered("subscriptionEvents.bicep", annotated, deployed)
    # ... and what the functions receive they decode (the app's own event types)
    from shared.domain.events import EVENT_GRID_TYPES

    for module in ("maintenanceEvents.bicep", "subscriptionEvents.bicep"):
        assert {t.lower() for t in _subscription(module)["filter"]["includedEventTypes"]} <= {
            t.lower() for t in EVENT_GRID_TYPES
        }


@pytest.mark.parametrize("module", ["maintenanceEvents.bicep", "subscriptionEvents.bicep"])
def test_event_subscriptions_retry_and_keep_what_they_cannot_deliver(module: str) -> None:
    props = _subscription(module)
    assert props["destination"]["endpointType"] == "AzureFunction"
    assert props["destination"]["properties"]["resourceId"] == "${functionAppId}/functions/${functionName}"
    assert props["destination"]["properties"]["maxEventsPerBatch"] == 1
    assert set(props["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    assert props["deadLetterDestination"]["endpointType"] == "StorageBlob"


def test_alerts_topic_takes_cloud_events_from_entra_id_only() -> None:
    resources = parse(MODULES / "alertsTopic.bicep")["resources"]
    topic = _body(resources["topic"])["properties"]
    assert topic["inputSchema"] == "CloudEventSchemaV1_0"
    assert topic["disableLocalAuth"] is True
    example = _body(resources["exampleSubscription"])["properties"]
    assert example["eventDeliverySchema"] == "CloudEventSchemaV1_0"
    assert example["deadLetterDestination"]["endpointType"] == "StorageBlob"


def test_the_action_group_posts_the_common_alert_schema_to_action_group_alerts() -> None:
    group = _body(parse(MODULES / "actionGroup.bicep")["resources"]["actionGroup"])["properties"]
    (receiver,) = group["azureFunctionReceivers"]
    assert receiver["useCommonAlertSchema"] is True
    assert receiver["functionName"] == "functionName"
    assert "/api/${functionRoute}?code=" in receiver["httpTriggerUrl"]


# -- which activity-log events each alert rule passes --------------------------------------


def _json_inside(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _activity_field(event: Any, path: str) -> list[Any]:
    """The values at an activity-log field path (``a.b[*].c``; JSON strings are looked into,
    as ``properties.impactedServices`` is one)."""
    values = [event]
    for part in path.split("."):
        name, star = (part[:-3], True) if part.endswith("[*]") else (part, False)
        found = []
        for value in values:
            v = _json_inside(value)
            if isinstance(v, dict):
                match = next((v[k] for k in v if k.lower() == name.lower()), None)
                if match is None:
                    continue
                if star:
                    match = _json_inside(match)
                found.extend(match if star and isinstance(match, list) else [match])
        values = found
    return values


def _resolve(value: Any, params: dict[str, Any], loop: dict[str, Any]) -> Any:
    if isinstance(value, str) and value in loop:
        return loop[value]
    if isinstance(value, str) and value in params:
        return params[value]["default"]
    return value


def _passes(condition: dict[str, Any], event: dict[str, Any], params: dict[str, Any], loop: dict[str, Any]) -> bool:
    """An activity log alert condition (allOf / anyOf of field equals / containsAny, compared
    case-insensitively) over one event: the documented semantics of activityLogAlerts."""
    if "allOf" in condition or "anyOf" in condition:
        key = "allOf" if "allOf" in condition else "anyOf"
        leaves = condition[key]
        if isinstance(leaves, dict) and "loop_type" in leaves:  # [for x in array: {...}]
            detail = leaves["loop_type"]["detail"]
            items = _resolve(detail["array_name"], params, loop)
            leaves = [(leaves["config"], {**loop, detail["item_name"]: item}) for item in items]
        else:
            leaves = [(leaf, loop) for leaf in leaves]
        results = [_passes(leaf, event, params, scope) for leaf, scope in leaves]
        return all(results) if key == "allOf" else any(results)
    values = [str(v).lower() for v in _activity_field(event, condition["field"])]
    if "equals" in condition:
        return str(_resolve(condition["equals"], params, loop)).lower() in values
    wanted = {str(w).lower() for w in _resolve(condition["containsAny"], params, loop)}
    return bool(wanted & set(values))


def _rule(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    module = parse(MODULES / "subscriptionEvents.bicep")
    return _body(module["resources"][name])["properties"], module["parameters"]


def _service_health_event(service: str, incident_type: str = "Maintenance") -> dict[str, Any]:
    """An activity-log Service Health event with the published maintenance properties."""
    fragment = published("events/azure-monitor-alert.servicehealth-maintenance.alertcontext-fragment.json")
    props = dict(fragment["alertContext"]["properties"])
    props["incidentType"] = incident_type
    props["impactedServices"] = json.dumps([{"ImpactedRegions": [{"RegionName": "East US"}], "ServiceName": service}])
    return {"category": "ServiceHealth", "properties": props}


def _resource_health_event(resource_type: str, status: str = "Active") -> dict[str, Any]:
    """An activity-log Resource Health event with the published sample's properties."""
    context = published("events/azure-monitor-common-alert.resourcehealth.test-action.json")["data"]["alertContext"]
    return {**context, "category": "ResourceHealth", "resourceType": resource_type, "status": status}


@pytest.mark.parametrize(
    ("service", "incident_type", "passes"),
    [
        ("SQL Database", "Maintenance", True),
        ("SQL Managed Instance", "Maintenance", True),
        ("Virtual Machines", "Maintenance", False),
        ("App Service", "Maintenance", False),
        ("SQL Database", "Incident", False),
    ],
)
def test_service_health_rule_passes_only_sql_planned_maintenance(
    service: str, incident_type: str, passes: bool
) -> None:
    rule, params = _rule("plannedMaintenance")
    assert _passes(rule["condition"], _service_health_event(service, incident_type), params, {}) is passes
    assert rule["actions"]["actionGroups"] == [{"actionGroupId": "actionGroupId"}]


@pytest.mark.parametrize(
    ("resource_type", "status", "passes"),
    [
        ("Microsoft.Sql/servers/databases", "Active", True),
        ("Microsoft.Sql/servers/databases", "Resolved", True),  # health returns: the alert clears
        ("microsoft.sql/managedinstances", "Active", True),
        ("Microsoft.Sql/servers/databases", "Updated", False),  # may carry no health status
        ("Microsoft.Compute/virtualMachines", "Active", False),  # VMs come through HealthResources
        ("Microsoft.Sql/servers", "Active", False),
    ],
)
def test_resource_health_rule_passes_sql_databases_and_managed_instances_going_down_and_back(
    resource_type: str, status: str, passes: bool
) -> None:
    rule, params = _rule("sqlResourceHealth")
    assert _passes(rule["condition"], _resource_health_event(resource_type, status), params, {}) is passes
    assert rule["scopes"][0]["function"]["type"] == "subscription"
    assert rule["actions"]["actionGroups"] == [{"actionGroupId": "actionGroupId"}]


def test_both_alert_rules_are_wired_with_the_action_group_once_the_functions_exist() -> None:
    module = parse(MODULES / "subscriptionEvents.bicep")
    for name in ("plannedMaintenance", "sqlResourceHealth"):
        condition = json.dumps(module["resources"][name]["config"]["condition"])
        assert "wireEvents" in condition and "actionGroupId" in condition, name
    target = _body(parse(MAIN)["modules"]["targets"])["params"]
    assert "actionGroupId" in json.dumps(target["actionGroupId"]) and "wireEvents" in json.dumps(
        target["actionGroupId"]
    )


def test_health_events_filter_keeps_only_types_the_health_resources_topic_reports() -> None:
    # The topic reports single-instance VMs, scale sets and scale-set VMs (event-schema-health-resources.md).
    reported = {
        "microsoft.compute/virtualmachines",
        "microsoft.compute/virtualmachinescalesets",
        "microsoft.compute/virtualmachinescalesets/virtualmachines",
    }
    default = parse(MAIN)["parameters"]["healthResourceTypes"]["default"]
    types = {t.strip().lower() for t in default.split(",") if t.strip()}
    assert types and types <= reported, f"types the topic never reports: {sorted(types - reported)}"


# -- what is granted to whom ------------------------------------------------------------------


def _file_vars(path: Path) -> dict[str, Any]:
    return {k: v.get("value") for k, v in parse(path).get("variables", {}).items()}


def _granted_role(path: Path, role: Any) -> str:
    """The published name of an assigned built-in role, or ``custom`` for a role defined in infra/."""
    if isinstance(role, dict) and role.get("function", {}).get("type") == "subscription_resource_id":
        ref = role["function"]["parameters"]["resource_name_1"]
        guid = _file_vars(path).get(ref, ref)
        assert guid in BUILT_IN_ROLES, f"{path.name}: role id {guid} is not in the published built-in roles table"
        return role_name(guid)
    return "custom"


def _principal(value: Any) -> str:
    if value == "appPrincipalId":
        return "app"
    if "identity" in json.dumps(value) and "topic" in json.dumps(value):
        return "alerts topic"
    return json.dumps(value)


def _grants() -> set[tuple[str, str, str, str]]:
    """(file, role, principal, scope) of every role assignment infra/ makes."""
    out = set()
    for path, name, entry in _resources("Microsoft.Authorization/roleAssignments"):
        props = _body(entry)["properties"]
        assert props["principalType"] == "ServicePrincipal", f"{path.name}:{name}"
        scope = _body(entry).get("scope", parse(path).get("globals", {}).get("scope", {}).get("value", "resourceGroup"))
        out.add(
            (path.name, _granted_role(path, props["roleDefinitionId"]), _principal(props["principalId"]), str(scope))
        )
    return out


def test_each_identity_gets_exactly_the_roles_its_work_needs() -> None:
    grants = {(f, role, who) for f, role, who, _ in _grants()}
    assert grants == {
        ("targetSubscription.bicep", "Reader", "app"),  # Resource Graph, SQL, configurations, runs, health
        ("targetSubscription.bicep", "custom", "app"),  # VM patch operator on the whole subscription
        ("patchRoleAssignment.bicep", "custom", "app"),  # ... or only on PATCH_ROLE_SCOPES groups
        ("maintenanceEvents.bicep", "Reader", "app"),  # the configuration's schedule
        ("maintenanceEvents.bicep", "custom", "app"),  # run canceller (CANCEL_UNHEALTHY_RUNS)
        ("workspaceReader.bicep", "Log Analytics Reader", "app"),
        ("alertsTopic.bicep", "EventGrid Data Sender", "app"),
        ("alertsTopic.bicep", "Storage Queue Data Message Sender", "alerts topic"),
        ("storage.bicep", "Storage Blob Data Owner", "app"),
        ("storage.bicep", "Storage Queue Data Contributor", "app"),
        ("storage.bicep", "Storage Table Data Contributor", "app"),
        ("monitoring.bicep", "Monitoring Metrics Publisher", "app"),
    }
    scopes = {(f, role): scope for f, role, _, scope in _grants()}
    assert scopes[("maintenanceEvents.bicep", "Reader")] == "configuration"
    assert scopes[("maintenanceEvents.bicep", "custom")] == "configuration"
    assert scopes[("alertsTopic.bicep", "EventGrid Data Sender")] == "topic"
    assert scopes[("alertsTopic.bicep", "Storage Queue Data Message Sender")] == "alertsQueue"
    assert scopes[("workspaceReader.bicep", "Log Analytics Reader")] == "workspace"


def test_every_role_id_in_infra_is_a_published_built_in_role() -> None:
    """Any GUID written into infra/ is a role id (names come from guid()): each must be in
    the table kept from the published built-in roles list, so a mistyped id fails here."""
    literal = re.compile(r"'([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})'")
    found = {(p.name, g.lower()) for p in bicep_files() for g in literal.findall(p.read_text())}
    assert found, "no role id found: the scan is broken"
    unknown = sorted((f, g) for f, g in found if g not in BUILT_IN_ROLES)
    assert not unknown, f"role ids not in the published built-in roles table: {unknown}"


def _custom_role_actions(path: Path, name: str, **flags: bool) -> list[str]:
    """The actions a custom role grants for the given parameter values."""
    variables = _file_vars(path)
    (perm,) = _body(parse(path)["resources"][name])["properties"]["permissions"]
    actions = perm["actions"]
    if isinstance(actions, dict) and "operator" in actions:  # cond ? a : b
        ops = actions["operator"]["operands"]
        actions = ops["true_value"] if flags[ops["condition"]] else ops["false_value"]
    if isinstance(actions, dict) and actions.get("function", {}).get("type") == "concat":
        parts = actions["function"]["parameters"]
        return [a for part in parts.values() if part for a in variables[part]]
    return list(variables[actions]) if isinstance(actions, str) else list(actions)


def test_the_vm_patch_role_assesses_and_installs_only_with_remediation() -> None:
    """Both machine kinds the cycle handles (Azure VMs, Arc-enabled servers) get their own
    assess action; install only with remediation."""
    path = MODULES / "targetSubscription.bicep"
    assert sorted(_custom_role_actions(path, "patchRole", remediate=False)) == [
        "Microsoft.Compute/virtualMachines/assessPatches/action",
        "Microsoft.HybridCompute/machines/assessPatches/action",
    ]
    assert sorted(_custom_role_actions(path, "patchRole", remediate=True)) == [
        "Microsoft.Compute/virtualMachines/assessPatches/action",
        "Microsoft.Compute/virtualMachines/installPatches/action",
        "Microsoft.HybridCompute/machines/assessPatches/action",
        "Microsoft.HybridCompute/machines/installPatches/action",
    ]
    for _, name, entry in _resources("Microsoft.Authorization/roleDefinitions"):
        text = json.dumps(_body(entry)["properties"]["permissions"])
        assert "*" not in text, f"custom role {name} uses a wildcard"
        assert "/read'" not in text and "virtualMachines/read" not in text, f"{name} repeats what Reader grants"


def test_the_run_canceller_is_defined_at_subscription_scope_and_assignable_only_in_the_configurations_group() -> None:
    path = MODULES / "runCancellerRole.bicep"
    assert parse(path)["globals"]["scope"]["value"] == "subscription"
    assert sorted(_custom_role_actions(path, "runCanceller")) == [
        "Microsoft.Maintenance/applyUpdates/read",
        "Microsoft.Maintenance/applyUpdates/write",
    ]
    (scope,) = _body(parse(path)["resources"]["runCanceller"])["properties"]["assignableScopes"]
    assert scope == "configurationGroupId"
    group = _file_vars(path)["configurationGroupId"]
    assert group.startswith("/subscriptions/") and "/resourceGroups/" in group and "providers" not in group
    module = _body(parse(MAIN)["modules"]["cancellerRoles"])
    assert "subscription" in json.dumps(parse(MAIN)["modules"]["cancellerRoles"]["config"])
    assert module["params"]["configurationId"] == "configurationId"


def test_the_event_store_accepts_no_shared_keys() -> None:
    for module in ("eventStore.bicep", "storage.bicep"):
        account = _body(parse(MODULES / module)["resources"]["account"])["properties"]
        assert account["allowSharedKeyAccess"] is False, module
        assert account["defaultToOAuthAuthentication"] is True, module


def test_azd_deploys_this_app_with_the_python_function_host() -> None:
    text = (ROOT / "azure.yaml").read_text()
    service = _body(parse(MODULES / "functionApp.bicep")["resources"]["app"])
    tag_param = parse(MODULES / "functionApp.bicep")["parameters"]["serviceName"]["default"]
    assert re.search(rf"^  {tag_param}:.*\n    project: \.\n    language: python\n    host: function$", text, re.M)
    assert "azd-service-name" in json.dumps(service["tags"])
    assert re.search(r"^  path: infra\n  module: main$", text, re.M)
    assert "azure.yaml" in (ROOT / ".funcignore").read_text().split()
