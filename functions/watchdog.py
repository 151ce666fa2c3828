"""The watchdog timer (NCRONTAB ``WATCHDOG_SCHEDULE``, UTC, read when the app is indexed;
every 15 minutes by default): evaluates the rules only time can settle (a missing post
event, a missed window, a passed deadline, a machine that did not come back), records
the alerts that open or resolve, and publishes every pending one. A missed tick changes
nothing: the next one judges the same recorded state at its own ``now``.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from shared.config import read_one

log = logging.getLogger("patchwatch.watchdog")
bp = func.Blueprint()


@bp.function_name("watchdog_timer")
@bp.timer_trigger(schedule=read_one("WATCHDOG_SCHEDULE"), arg_name="timer", run_on_startup=False, use_monitor=True)
def watchdog_timer(timer: func.TimerRequest) -> None:
    from shared.runtime.alerting import watchdog

    report = watchdog()
    log.info("watchdog (past_due=%s): %s", timer.past_due, json.dumps(report.to_json()))
