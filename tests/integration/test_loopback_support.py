"""The loopback HTTPS server is trusted by the real Azure SDK pipeline (bearer token over TLS)."""

from __future__ import annotations

import json

from azure.mgmt.compute import ComputeManagementClient
from werkzeug.wrappers import Request, Response

from tests.support.loopback import LoopbackHttps, StaticTokenCredential

SUB = "11111111-2222-3333-4444-555555555555"


def test_real_compute_client_reaches_the_loopback_with_a_bearer_token() -> None:
    def handler(request: Request) -> Response:
        body = {"name": "vm1", "id": request.path, "location": "westeurope", "properties": {}}
        return Response(json.dumps(body), status=200, content_type="application/json")

    with LoopbackHttps(handler) as server, server.trust():
        client = ComputeManagementClient(StaticTokenCredential(), SUB, base_url=server.url)
        vm = client.virtual_machines.get("rg1", "vm1")
    assert vm.name == "vm1"
    (req,) = server.recorded("GET", "/virtualMachines/vm1")
    assert req.headers["Authorization"] == "Bearer loopback-token"
    assert req.query["api-version"]
