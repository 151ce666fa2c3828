"""HTTP ``POST /api/alerts`` (function key): Azure Monitor action groups, common alert
schema: Service Health planned maintenance (Azure SQL's advance notifications) and
Resource Health alerts. Event Grid and CloudEvents bodies are understood too.

202 when every event is recorded (or was already), 400 with the reasons when the body
or an event in it is malformed (the refusal is recorded; the rest of the body is
still recorded), 500 only for a transient store fault, so the sender retries.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func

from functions._ingest import record_body
from shared.services.ingest import StoreUnavailableError, webhook_answer

bp = func.Blueprint()


def _json(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.function_name("action_group_alerts")
@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def action_group_alerts(req: func.HttpRequest) -> func.HttpResponse:
    try:
        results = record_body(req.get_body(), "action_group_alerts")
    except StoreUnavailableError as exc:
        logging.getLogger("patchwatch.events").error("outcome store unavailable: %s", exc)
        return _json(500, {"error": "the outcome store is unavailable; deliver again later"})
    return _json(*webhook_answer(results))
