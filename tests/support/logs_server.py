"""A loopback Log Analytics query endpoint for azure-monitor-query's ``LogsQueryClient``.

It answers ``POST /v1/workspaces/{id}/query`` for the heartbeat query that
``shared/adapters/health.py`` sends: it reads the VM ids from the query's ``in~ (...)``
list and the period from the request's ``timespan``, and summarises the ``Heartbeat``
rows it holds (first and last ``TimeGenerated`` per VM) the way Log Analytics would.
A partial answer (``partial=True``) leaves out the VMs in ``partial_missing`` and carries
the ``PartialError`` that makes the SDK return a ``LogsQueryPartialResult``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from werkzeug.wrappers import Request, Response

from tests.support.loopback import LoopbackHttps


def _parse(t: str) -> datetime:
    return datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(UTC)


class LogsWorkspace(LoopbackHttps):
    def __init__(self, workspace_id: str) -> None:
        super().__init__(self._handle)
        self.workspace_id = workspace_id
        self.heartbeats: list[tuple[str, datetime]] = []
        self.partial = False
        self.partial_missing: set[str] = set()
        self.fail_status = 0

    def beat(self, resource_id: str, *times: datetime) -> None:
        with self._lock:
            self.heartbeats.extend((resource_id, t) for t in times)

    def _handle(self, request: Request) -> Response:
        m = re.fullmatch(r"/v1/workspaces/([^/]+)/query", request.path)
        if request.method != "POST" or not m:
            return Response("not found", status=404)
        if m.group(1) != self.workspace_id:
            err = {"error": {"code": "WorkspaceNotFoundError", "message": f"workspace {m.group(1)} not found"}}
            return Response(json.dumps(err), status=404, content_type="application/json")
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return Response(json.dumps({"error": {"code": "AuthorizationRequired"}}), status=401)
        if self.fail_status:
            err = {"error": {"code": "ServiceError", "message": "injected fault"}}
            return Response(json.dumps(err), status=self.fail_status, content_type="application/json")
        body = request.get_json()
        query: str = body["query"]
        if not query.lstrip().startswith("Heartbeat"):
            err = {"error": {"code": "BadArgumentError", "message": "this loopback answers Heartbeat queries only"}}
            return Response(json.dumps(err), status=400, content_type="application/json")
        ids_part = re.search(r"in~\s*\((.*?)\)", query, re.S)
        wanted = {s.lower() for s in re.findall(r'"([^"]+)"', ids_part.group(1))} if ids_part else set()
        start, end = (_parse(p) for p in body["timespan"].split("/"))
        summary: dict[str, list[datetime]] = {}
        with self._lock:
            rows = list(self.heartbeats)
        for rid, t in rows:
            if rid.lower() in wanted and start <= t <= end:
                summary.setdefault(rid.lower(), []).append(t)
        if self.partial:
            summary = {k: v for k, v in summary.items() if k not in {x.lower() for x in self.partial_missing}}
        table = {
            "name": "PrimaryResult",
            "columns": [
                {"name": "ResourceId", "type": "string"},
                {"name": "FirstHeartbeat", "type": "datetime"},
                {"name": "LastHeartbeat", "type": "datetime"},
            ],
            "rows": [
                [rid, min(ts).strftime("%Y-%m-%dT%H:%M:%SZ"), max(ts).strftime("%Y-%m-%dT%H:%M:%SZ")]
                for rid, ts in sorted(summary.items())
            ],
        }
        answer: dict = {"tables": [table]}
        if self.partial:
            answer["error"] = {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [{"code": "EngineError", "message": "Query exceeded a shard's limit", "innererror": {}}],
            }
        return Response(json.dumps(answer), status=200, content_type="application/json")
