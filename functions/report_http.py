"""HTTP ``GET /api/report?cycle=YYYY-MM[&format=html|json]``: the compliance report the
``report`` command writes, served from the app's own store (function key)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("report")
@bp.route(route="report", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def report(req: func.HttpRequest) -> func.HttpResponse:
    from shared.config import settings
    from shared.runtime import load_report, utc_now
    from shared.services.report import report_answer

    cfg, now = settings(), utc_now()
    answer = report_answer(req.params, now, cfg.calendar, lambda month: load_report(cfg, month, now))
    return func.HttpResponse(
        answer.body, status_code=answer.status, headers=dict(answer.headers), mimetype=answer.content_type
    )
