"""Queue ``follow-ups``: what a recorded maintenance event calls for, carried out with ARM.

- ``follow_up_worker``: ``verify-run`` after a post event (the run's machines assessed
  through the assessment queue) and ``gate-run`` after a pre event (cancel the run when
  too many of its machines are unhealthy, before the cancellation cut-off). A transient
  fault raises, so the host retries the message; a malformed message is logged and dropped.
- ``follow_up_poison``: messages the host gave up on, kept as rejections in the outcome
  store so that an operator sees them (``replay``, the report) instead of losing them.
"""

from __future__ import annotations

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("patchwatch.follow_ups")


@bp.function_name("follow_up_worker")
@bp.queue_trigger(arg_name="msg", queue_name="follow-ups", connection="AzureWebJobsStorage")
def follow_up_worker(msg: func.QueueMessage) -> None:
    from shared import runtime
    from shared.services.follow_ups import FollowUpError, run_follow_up

    try:
        run_follow_up(msg.get_body(), execute=runtime.execute_actions)
    except FollowUpError as exc:
        log.error("dropped follow-up message %s: %s", msg.id, exc)


@bp.function_name("follow_up_poison")
@bp.queue_trigger(arg_name="msg", queue_name="follow-ups-poison", connection="AzureWebJobsStorage")
def follow_up_poison(msg: func.QueueMessage) -> None:
    from shared import runtime
    from shared.adapters.outcome_store import outcome_store
    from shared.config import settings
    from shared.services.follow_ups import record_given_up

    record_given_up(outcome_store(settings()), msg.get_body(), message_id=msg.id or "", now=runtime.utc_now())
