"""Composition root: one FunctionApp, one blueprint per trigger family. No logic here."""

import azure.functions as func

from functions.plan_http import bp as plan_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(plan_bp)
