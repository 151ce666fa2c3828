"""A loopback Event Grid custom topic: accepts CloudEvents batches as the real topic does,
records what was delivered and can fail on demand.

It answers ``POST /api/events`` (CloudEvents 1.0 batch, ``application/cloudevents-batch+json``)
with 200 when authorised by a bearer token or the ``aeg-sas-key`` header, 401 otherwise,
and with the injected status while a fault is armed. Only accepted batches count as
delivered (:attr:`delivered`); every request stays visible in :meth:`recorded`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.support.loopback import LoopbackHttps


class EventGridTopic(LoopbackHttps):
    def __init__(self, key: str = "") -> None:
        super().__init__(self._handle)
        self.key = key
        self.delivered: list[dict[str, Any]] = []
        self._fail_lock = threading.Lock()
        self._fail_remaining = 0
        self._fail_status = 503

    @property
    def endpoint(self) -> str:
        return f"{self.url}/api/events"

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` (nothing is delivered)."""
        with self._fail_lock:
            self._fail_remaining, self._fail_status = count, status

    def fail_always(self, status: int = 503) -> None:
        self.fail_next(10**9, status)

    def heal(self) -> None:
        self.fail_next(0)

    def delivered_ids(self) -> list[str]:
        return [e["id"] for e in self.delivered]

    def _handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path != "/api/events":
            return Response("not found", status=404)
        auth = request.headers.get("Authorization", "")
        sas = request.headers.get("aeg-sas-key", "")
        if not ((not self.key and auth.startswith("Bearer ")) or (self.key and sas == self.key)):
            return Response(
                json.dumps({"error": {"code": "Unauthorized"}}), status=401, content_type="application/json"
            )
        with self._fail_lock:
            if self._fail_remaining > 0:
                self._fail_remaining -= 1
                return Response(
                    json.dumps({"error": {"code": "ServiceUnavailable", "message": "injected fault"}}),
                    status=self._fail_status,
                    content_type="application/json",
                )
        if not request.content_type.startswith("application/cloudevents-batch+json"):
            return Response(
                json.dumps({"error": {"code": "BadRequest", "message": "expected CloudEvents"}}), status=400
            )
        batch = json.loads(request.get_data() or b"[]")
        for event in batch:
            missing = [k for k in ("id", "source", "type", "specversion") if k not in event]
            if missing or event["specversion"] != "1.0":
                return Response(
                    json.dumps({"error": {"code": "BadRequest", "message": f"missing {missing}"}}), status=400
                )
        with self._lock:
            self.delivered.extend(batch)
        return Response("", status=200)
