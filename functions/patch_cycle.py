"""The Patch Tuesday cycle: the hourly timer and the assessment queue's workers.

- ``patch_cycle_timer`` (NCRONTAB ``CYCLE_SCHEDULE``, UTC, read when the app is indexed):
  starts the month's cycle once its scheduled moment has passed (catching up after
  downtime, ``past_due`` or not), re-assesses every ``REASSESS_EVERY_DAYS``, sweeps the
  install deadline, tops up remediation when enabled.
- ``assessment_worker`` (queue ``assessments``): one message per VM and step.
- ``assessment_poison`` (queue ``assessments-poison``): messages the host gave up on; the
  VM is recorded as failed with the reason.

Thin handlers: decode the trigger, call one service, log what it did.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from shared.config import read_one

log = logging.getLogger("patchwatch.cycle")
bp = func.Blueprint()


@bp.function_name("patch_cycle_timer")
@bp.timer_trigger(schedule=read_one("CYCLE_SCHEDULE"), arg_name="timer", run_on_startup=False, use_monitor=True)
def patch_cycle_timer(timer: func.TimerRequest) -> None:
    from shared import runtime
    from shared.services.cycle import tick

    report = tick(runtime.deps(), runtime.utc_now())
    log.info("cycle tick (past_due=%s): %s", timer.past_due, json.dumps(report.to_json()))


@bp.function_name("assessment_worker")
@bp.queue_trigger(arg_name="msg", queue_name="assessments", connection="AzureWebJobsStorage")
def assessment_worker(msg: func.QueueMessage) -> None:
    from shared import runtime
    from shared.services.assessment import handle_message

    done = handle_message(
        runtime.deps(),
        msg.get_body(),
        message_id=msg.id or "",
        now=runtime.utc_now(),
        dequeue_count=msg.dequeue_count or 1,
    )
    log.info("assessment message %s: %s %s", msg.id, done.outcome, done.detail)


@bp.function_name("assessment_poison")
@bp.queue_trigger(arg_name="msg", queue_name="assessments-poison", connection="AzureWebJobsStorage")
def assessment_poison(msg: func.QueueMessage) -> None:
    from shared import runtime
    from shared.services.assessment import handle_poison

    done = handle_poison(runtime.deps(), msg.get_body(), message_id=msg.id or "", now=runtime.utc_now())
    log.warning("poison message %s: %s %s", msg.id, done.outcome, done.detail)
