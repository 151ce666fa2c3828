"""The registered function app, indexed once as the Python worker indexes it."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import azure.functions as func


@lru_cache(maxsize=1)
def functions() -> tuple[func.Function, ...]:
    """``FunctionApp.get_functions()`` may only run once per process (it registers)."""
    import function_app

    return tuple(function_app.app.get_functions())


def function(name: str) -> func.Function:
    for f in functions():
        if f.get_function_name() == name:
            return f
    raise KeyError(f"no function named {name!r}; registered: {[f.get_function_name() for f in functions()]}")


def handler(name: str) -> Any:
    """The user function behind a registered function, to invoke as the worker would."""
    return function(name).get_user_function()


def bindings(name: str) -> list[dict[str, Any]]:
    return list(json.loads(function(name).get_function_json())["bindings"])
