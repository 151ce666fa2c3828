"""Paths to the published samples copied into tests/fixtures/published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PUBLISHED = Path(__file__).resolve().parents[1] / "fixtures" / "published"


def published(relative: str) -> Any:
    """Load a published sample, e.g. ``published("events/maintenance-pre-event.eventgrid.json")``."""
    return json.loads((PUBLISHED / relative).read_text())
