"""Event Grid: HealthResources AvailabilityStatusChanged and ResourceAnnotated (system
topic ``Microsoft.ResourceNotifications.HealthResources``), Event Grid or CloudEvents schema.

A malformed event is recorded as rejected and acknowledged; a transient store fault
raises, so Event Grid delivers the event again.
"""

from __future__ import annotations

import azure.functions as func

from functions._ingest import record_event
from shared.domain.events import HEALTH_DOOR

bp = func.Blueprint()


@bp.function_name("health_events")
@bp.event_grid_trigger(arg_name="event")
def health_events(event: func.EventGridEvent) -> None:
    record_event(event, "health_events", HEALTH_DOOR)
