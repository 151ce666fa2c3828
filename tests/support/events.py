"""Event test data and the worker's own way of handing events to functions.

- :func:`sample` loads a file of the bundled month (``samples/events``);
  :func:`published` (re-exported) loads Microsoft's published samples.
- :func:`trigger_event` builds what the Python worker passes to an Event Grid triggered
  function, with azure-functions' own ``EventGridEventInConverter`` (an
  ``EventGridEvent``, or a ``CloudEvent`` for a CloudEvents body).
- :func:`post` builds the ``HttpRequest`` an action group's POST becomes.
- :func:`app_settings` points the app's settings (and so its store) at a test Azurite.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from shared.adapters.outcome_store import TableOutcomeStore
from shared.adapters.storage import resolve_target
from shared.config import settings
from tests.support.fixtures import published

__all__ = ["SAMPLES", "app_settings", "post", "published", "sample", "store_for", "trigger_event"]

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "events"


def sample(name: str) -> Any:
    """A file of the bundled month, parsed (a fresh copy each time)."""
    return json.loads((SAMPLES / name).read_text())


def one(value: Any) -> Any:
    """The single event of a body that may be an array."""
    return copy.deepcopy(value[0] if isinstance(value, list) else value)


def trigger_event(envelope: dict[str, Any]) -> func.EventGridEvent | func.CloudEvent:
    """What the worker hands an Event Grid triggered function for one array element."""
    return EventGridEventInConverter.decode(meta.Datum(json.dumps(envelope), "json"), trigger_metadata={})


def post(body: bytes | str | Any, route: str = "alerts") -> func.HttpRequest:
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    return func.HttpRequest(
        "POST", f"http://localhost/api/{route}", headers={"Content-Type": "application/json"}, body=data
    )


def store_for(connection: str, prefix: str) -> TableOutcomeStore:
    return TableOutcomeStore(resolve_target(connection), prefix)


@contextlib.contextmanager
def app_settings(monkeypatch: pytest.MonkeyPatch, connection: str, prefix: str, **values: str) -> Iterator[None]:
    """The app's settings (read once per process) pointed at ``connection`` with table prefix ``prefix``."""
    monkeypatch.setenv("AzureWebJobsStorage", connection)
    monkeypatch.setenv("OUTCOMES_TABLE_PREFIX", prefix)
    monkeypatch.delenv("OUTCOMES_STORAGE", raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    try:
        yield
    finally:
        settings.cache_clear()
