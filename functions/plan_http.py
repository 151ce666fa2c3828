"""HTTP ``GET /api/plan?month=YYYY-MM``: the month's cycle, as the ``plan`` command prints it."""

from __future__ import annotations

import json

import azure.functions as func

from shared.config import settings
from shared.domain.calendar import YearMonth, cycle_for_month

bp = func.Blueprint()


@bp.function_name("plan")
@bp.route(route="plan", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def plan(req: func.HttpRequest) -> func.HttpResponse:
    try:
        month = YearMonth.parse(req.params.get("month", ""))
    except ValueError as exc:
        return func.HttpResponse(json.dumps({"error": f"month: {exc}"}), status_code=400, mimetype="application/json")
    body = cycle_for_month(month, settings().calendar).to_json()
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
