"""Loopback ARM routes for maintenance configurations and SQL resources.

Bodies are the published REST examples (``tests/fixtures/published/arm/maintenance`` and
``/sql``), varied per configuration and resource:

- ``GET .../resourcegroups/{rg}/providers/Microsoft.Maintenance/maintenanceConfigurations/{name}``
- ``GET /subscriptions/{sub}/providers/Microsoft.Maintenance/publicMaintenanceConfigurations/{name}``
- ``GET /subscriptions/{sub}/providers/Microsoft.Maintenance/configurationAssignments``
- ``GET /subscriptions/{sub}/providers/Microsoft.Sql/servers``
- ``GET .../providers/Microsoft.Sql/servers/{server}/databases``
- ``GET /subscriptions/{sub}/providers/Microsoft.Sql/managedInstances``
- ``GET /subscriptions/{sub}/locations``: the published GetLocations example (East US, East US 2)
  and the regions added with ``add_region`` (the example's shape, our coordinates)

:class:`ScheduleRoutes` answers these (or None for anything else), so it can serve alone
(:class:`ScheduleArm`) or in front of another loopback ARM.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.support.fixtures import published
from tests.support.loopback import LoopbackHttps

_I = re.IGNORECASE
_UM = re.compile(
    r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.maintenance/maintenanceconfigurations/([^/]+)$",
    _I,
)
_PUBLIC = re.compile(
    r"^/subscriptions/([^/]+)/providers/microsoft\.maintenance/publicmaintenanceconfigurations/([^/]+)$", _I
)
_ASSIGN = re.compile(r"^/subscriptions/([^/]+)/providers/microsoft\.maintenance/configurationassignments$", _I)
_SERVERS = re.compile(r"^/subscriptions/([^/]+)/providers/microsoft\.sql/servers$", _I)
_DBS = re.compile(
    r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.sql/servers/([^/]+)/databases$", _I
)
_MIS = re.compile(r"^/subscriptions/([^/]+)/providers/microsoft\.sql/managedinstances$", _I)
_LOCATIONS = re.compile(r"^/subscriptions/([^/]+)/locations$", _I)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return _json({"error": {"code": code, "message": message}}, status)


class ScheduleRoutes:
    """The state behind the routes: add configurations, assignments and SQL resources."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.update_manager: dict[str, dict[str, Any]] = {}  # lower-case id -> resource body
        self.public: dict[str, dict[str, Any]] = {}  # lower-case name -> resource body
        self.assignments: dict[str, list[dict[str, Any]]] = {}  # subscription -> bodies
        self.servers: dict[str, list[dict[str, Any]]] = {}
        self.databases: dict[str, list[dict[str, Any]]] = {}  # lower-case server id -> bodies
        self.managed_instances: dict[str, list[dict[str, Any]]] = {}
        self.forbidden: set[str] = set()  # lower-case paths answered with 403
        self.regions: list[dict[str, Any]] = list(
            published("arm/resources/GetLocations.json")["responses"]["200"]["body"]["value"]
        )
        self.hits: list[str] = []

    # -- building the world --------------------------------------------------------------

    def add_configuration(
        self,
        configuration_id: str,
        *,
        recur: str,
        start: str,
        duration: str,
        time_zone: str,
        location: str = "westeurope",
    ) -> None:
        """An Update Manager configuration (InGuestPatch), shaped as the published public one."""
        body = copy.deepcopy(published("arm/maintenance/PublicMaintenanceConfigurations_GetForResource.json"))
        body = body["responses"]["200"]["body"]
        body.update(
            id=configuration_id,
            name=configuration_id.rsplit("/", 1)[-1],
            type="Microsoft.Maintenance/maintenanceConfigurations",
            location=location,
        )
        props = body["properties"]
        props.update(maintenanceScope="InGuestPatch", visibility="Custom")
        props["maintenanceWindow"] = {
            "startDateTime": start,
            "expirationDateTime": "9999-12-31 00:00",
            "duration": duration,
            "timeZone": time_zone,
            "recurEvery": recur,
        }
        self.update_manager[configuration_id.lower()] = body

    def add_public(self, name: str, *, recur: str, start: str, duration: str, time_zone: str, location: str) -> None:
        """A public (SQL) configuration; the List example writes durations as HH:MM:SS, so do we."""
        body = copy.deepcopy(published("arm/maintenance/PublicMaintenanceConfigurations_List.json"))
        body = body["responses"]["200"]["body"]["value"][0]
        body.update(name=name, location=location)
        body["id"] = body["id"].rsplit("/", 1)[0] + "/" + name
        body["properties"]["maintenanceWindow"].update(
            startDateTime=f"{start}:00", duration=f"{duration}:00", timeZone=time_zone, recurEvery=recur
        )
        self.public[name.lower()] = body

    def assign(self, subscription: str, resource_id: str, configuration_id: str) -> None:
        name = configuration_id.rsplit("/", 1)[-1]
        self.assignments.setdefault(subscription.lower(), []).append(
            {
                "id": f"{resource_id}/providers/Microsoft.Maintenance/configurationAssignments/{name}",
                "name": name,
                "type": "Microsoft.Maintenance/configurationAssignments",
                "location": "westeurope",
                "properties": {"maintenanceConfigurationId": configuration_id, "resourceId": resource_id},
            }
        )

    def assign_dynamic(
        self,
        subscription: str,
        name: str,
        configuration_id: str,
        filter_: dict[str, Any] | None = None,
        *,
        resource_group: str = "",
    ) -> str:
        """A dynamic scope: the published subscription-level assignment (or the resource-group one)
        with its ``filter`` replaced when given; listed with the subscription's assignments."""
        example = "arm/maintenance/ConfigurationAssignmentsForSubscriptions_CreateOrUpdate.json"
        body = copy.deepcopy(published(example)["responses"]["200"]["body"])
        scope = f"/subscriptions/{subscription}" + (f"/resourcegroups/{resource_group}" if resource_group else "")
        body.update(id=f"{scope}/providers/Microsoft.Maintenance/configurationAssignments/{name}", name=name)
        props = body["properties"]
        props.update(maintenanceConfigurationId=configuration_id, resourceId=scope)
        if filter_ is not None:
            props["filter"] = filter_
        self.assignments.setdefault(subscription.lower(), []).append(body)
        return str(body["id"])

    def add_region(self, name: str, display: str, latitude: str, longitude: str) -> None:
        """A region shaped as the published GetLocations entries, at the given coordinates."""
        body = copy.deepcopy(self.regions[0])
        body.update(id=body["id"].rsplit("/", 1)[0] + "/" + name, name=name, displayName=display,
                    regionalDisplayName=display)  # fmt: skip
        body["metadata"].update(latitude=latitude, longitude=longitude, pairedRegion=[])
        body.pop("availabilityZoneMappings", None)
        self.regions.append(body)

    def add_database(
        self, subscription: str, group: str, server: str, name: str, *, location: str, configuration: str
    ) -> str:
        server_id = f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Sql/servers/{server}"
        servers = self.servers.setdefault(subscription.lower(), [])
        if not any(s["id"].lower() == server_id.lower() for s in servers):
            servers.append(
                {
                    "id": server_id,
                    "name": server,
                    "location": location,
                    "type": "Microsoft.Sql/servers",
                    "properties": {},
                }
            )
        body = copy.deepcopy(published("arm/sql/GetVCoreDatabase.json")["responses"]["200"]["body"])
        db_id = f"{server_id}/databases/{name}"
        body.update(id=db_id, name=name, location=location)
        body["properties"]["maintenanceConfigurationId"] = (
            f"/subscriptions/{subscription}/providers/Microsoft.Maintenance/publicMaintenanceConfigurations/{configuration}"
        )
        self.databases.setdefault(server_id.lower(), []).append(body)
        return db_id

    def add_managed_instance(
        self, subscription: str, group: str, name: str, *, location: str, configuration: str
    ) -> str:
        body = copy.deepcopy(published("arm/sql/ManagedInstanceCreateMax.json")["responses"]["200"]["body"])
        mi_id = f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Sql/managedInstances/{name}"
        body.update(id=mi_id, name=name, location=location)
        body["properties"]["maintenanceConfigurationId"] = (
            f"/subscriptions/{subscription}/providers/Microsoft.Maintenance/publicMaintenanceConfigurations/{configuration}"
        )
        self.managed_instances.setdefault(subscription.lower(), []).append(body)
        return mi_id

    # -- Resource Graph ----------------------------------------------------------------------

    @staticmethod
    def _graph_shape(body: dict[str, Any], subscription: str) -> dict[str, Any]:
        """A resource as Resource Graph's tables show it: lower-case ``type``, with
        ``subscriptionId`` and ``resourceGroup`` columns beside the ARM body."""
        doc = dict(body)  # top-level keys are replaced below, nothing nested: a shallow copy will do
        rid = str(doc.get("id") or "")
        parts = rid.split("/")
        group = parts[4].lower() if len(parts) > 4 and parts[3].lower() == "resourcegroups" else ""
        doc.update(type=str(doc.get("type") or "").lower(), subscriptionId=subscription, resourceGroup=group)
        return doc

    def graph_docs(self, table: str) -> list[dict[str, Any]]:
        """What this state adds to a Resource Graph table: configuration assignments to
        ``maintenanceresources``; maintenance configurations, SQL databases and managed
        instances to ``resources``."""
        with self._lock:
            if table == "maintenanceresources":
                return [self._graph_shape(b, sub) for sub, bodies in self.assignments.items() for b in bodies]
            if table != "resources":
                return []
            docs = [self._graph_shape(b, str(b["id"]).split("/")[2]) for b in self.update_manager.values()]
            for bodies in self.databases.values():
                for b in bodies:
                    doc = self._graph_shape(b, str(b["id"]).split("/")[2])
                    doc["type"] = "microsoft.sql/servers/databases"
                    docs.append(doc)
            for sub, bodies in self.managed_instances.items():
                for b in bodies:
                    doc = self._graph_shape(b, sub)
                    doc["type"] = "microsoft.sql/managedinstances"
                    docs.append(doc)
            return docs

    # -- answering -------------------------------------------------------------------------

    def route(self, request: Request) -> Response | None:
        path = request.path.rstrip("/")
        matchers = (_UM, _PUBLIC, _ASSIGN, _SERVERS, _DBS, _MIS, _LOCATIONS)
        if request.method != "GET" or not any(m.match(path) for m in matchers):
            return None
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _error(401, "AuthenticationFailed", "no bearer token")
        if not request.args.get("api-version"):
            return _error(400, "MissingApiVersionParameter", "api-version is required")
        with self._lock:
            self.hits.append(path)
            if path.lower() in self.forbidden:
                return _error(403, "AuthorizationFailed", f"the client may not read {path}")
            if m := _UM.match(path):
                body = self.update_manager.get(path.lower())
                return _json(body) if body else _error(404, "ResourceNotFound", f"{m.group(3)} was not found")
            if m := _PUBLIC.match(path):
                body = self.public.get(m.group(2).lower())
                return _json(body) if body else _error(404, "ResourceNotFound", f"{m.group(2)} was not found")
            if m := _ASSIGN.match(path):
                return _json({"value": self.assignments.get(m.group(1).lower(), [])})
            if m := _SERVERS.match(path):
                return _json({"value": self.servers.get(m.group(1).lower(), [])})
            if _DBS.match(path):
                server_id = path.rsplit("/databases", 1)[0].lower()
                return _json({"value": self.databases.get(server_id, [])})
            if m := _MIS.match(path):
                return _json({"value": self.managed_instances.get(m.group(1).lower(), [])})
            if _LOCATIONS.match(path):
                return _json({"value": self.regions})
        return None


class ScheduleArm(LoopbackHttps):
    """The schedule routes alone on a loopback HTTPS server."""

    def __init__(self) -> None:
        self.routes = ScheduleRoutes()
        super().__init__(self._handle)

    def _handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path.lower() == "/providers/microsoft.resourcegraph/resources":
            from tests.support.arm_server import graph_answer

            self.routes.hits.append(request.path)
            body = json.loads(request.get_data() or b"{}")
            table = (body.get("query") or "").strip().split("|", 1)[0].strip().lower()
            return graph_answer(self.routes.graph_docs(table), body, page_size=1000)
        return self.routes.route(request) or _error(404, "NotFound", f"no route for {request.method} {request.path}")
