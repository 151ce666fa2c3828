"""Composition root: log redaction installed, one FunctionApp, one blueprint per trigger family. No logic here."""

import azure.functions as func

from functions.action_group_http import bp as action_group_bp
from functions.follow_ups import bp as follow_ups_bp
from functions.health_events import bp as health_events_bp
from functions.maintenance_events import bp as maintenance_events_bp
from functions.patch_cycle import bp as patch_cycle_bp
from functions.plan_http import bp as plan_bp
from functions.report_http import bp as report_bp
from functions.watchdog import bp as watchdog_bp
from shared import telemetry

telemetry.install()  # every log record redacted before any handler (the worker's) sees it

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(plan_bp)
app.register_functions(report_bp)
app.register_functions(maintenance_events_bp)
app.register_functions(health_events_bp)
app.register_functions(action_group_bp)
app.register_functions(follow_ups_bp)
app.register_functions(patch_cycle_bp)
app.register_functions(watchdog_bp)
