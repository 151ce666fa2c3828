"""Event Grid: Update Manager's Pre/PostMaintenanceEvent (system topic type
``Microsoft.Maintenance.MaintenanceConfigurations``), Event Grid or CloudEvents schema.

A malformed event is recorded as rejected and acknowledged; a transient store fault
raises, so Event Grid delivers the event again.
"""

from __future__ import annotations

import azure.functions as func

from functions._ingest import record_event
from shared.domain.events import MAINTENANCE_DOOR

bp = func.Blueprint()


@bp.function_name("maintenance_events")
@bp.event_grid_trigger(arg_name="event")
def maintenance_events(event: func.EventGridEvent) -> None:
    record_event(event, "maintenance_events", MAINTENANCE_DOOR)
