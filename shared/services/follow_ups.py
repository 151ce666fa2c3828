"""After an event is recorded: hand its follow-ups over, then alert on what it settles.

The event functions only record and hand over. The ARM work a follow-up needs (listing
a run's machines and assessing them after a post event; the health gate that may
cancel a run after a pre event) runs in the ``follow_up_worker`` queue function, so a
slow or throttled ARM never holds an Event Grid delivery open, and a failing follow-up
is retried by the queue rather than by Event Grid redelivering the whole batch.

A hand-over that fails raises: the event is delivered again, ingest lists its
follow-ups again (duplicates included) and the executors de-duplicate by ``key``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from shared.domain.events import storable_text
from shared.domain.outcomes import Rejection
from shared.limits import MAX_BODY_BYTES, MAX_DEPTH
from shared.services.ingest import IngestResult, Outcome

log = logging.getLogger("patchwatch.events")

QUEUE_NAME = "follow-ups"
KNOWN_ACTIONS = frozenset({"verify-run", "gate-run"})


class FollowUpError(ValueError):
    """A follow-up message that cannot be carried out, whatever the retries."""


def settle(
    result: IngestResult,
    *,
    hand_over: Callable[[dict[str, Any]], object],
    alert: Callable[[Any], object],
) -> IngestResult:
    """Log the outcome, hand each follow-up to the queue, then evaluate the alert rules
    the event settles (alerting never fails the recording)."""
    if result.outcome is Outcome.REJECTED:
        log.warning("rejected %s: %s", result.source, result.reason)
    else:
        log.info("%s %s", result.outcome.value, result.source)
    for action in result.actions:
        hand_over(dict(action))
    if result.recorded:  # duplicates too: a redelivery after a crash still alerts
        alert(result.event)
    return result


def decode_message(body: bytes) -> dict[str, Any]:
    """A follow-up from its queue message, or :class:`FollowUpError` naming the problem."""
    if len(body) > MAX_BODY_BYTES:
        raise FollowUpError(f"message: {len(body):,} bytes is over the {MAX_BODY_BYTES:,}-byte limit")
    try:
        action = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FollowUpError(f"message is not JSON: {exc}") from None
    except RecursionError:
        raise FollowUpError(f"message: nested deeper than the {MAX_DEPTH}-level limit") from None
    if not isinstance(action, dict):
        raise FollowUpError(f"message is a JSON {type(action).__name__}, expected an object")
    kind = action.get("action")
    if kind not in KNOWN_ACTIONS:
        raise FollowUpError(f"action: {kind!r} is not one of {sorted(KNOWN_ACTIONS)}")
    for key in ("key", "correlation_id"):
        if not isinstance(action.get(key), str) or not action[key]:
            raise FollowUpError(f"{key}: missing or not a string")
    return action


def run_follow_up(
    body: bytes, *, execute: Callable[[Iterable[dict[str, Any]]], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Carry out one queued follow-up. A malformed message raises :class:`FollowUpError`
    (the caller logs and drops it); a transient fault propagates (the queue retries)."""
    results = execute([decode_message(body)])
    for r in results:
        log.info("follow-up %s %s: %s", r.get("action"), r.get("correlation_id"), r.get("outcome"))
    return results


def record_given_up(store: Any, body: bytes, *, message_id: str, now: Any) -> None:
    """Keep a follow-up the queue gave up on as a rejection, with what it was for."""
    raw = body.decode("utf-8", "replace")
    try:
        action = decode_message(body)
        problem = f"{action['action']} for {action['correlation_id']} failed after the queue's retries"
    except FollowUpError as exc:
        problem = f"unreadable follow-up: {exc}"
    log.error("follow-up message %s given up: %s", message_id, problem)
    store.record_given_up(
        Rejection(
            source=f"follow-ups-poison:{message_id}"[:500],
            field="follow-up",
            problem=problem,
            received_at=now,
            raw=storable_text(raw[:16_000]),
            raw_size=len(body),
            digest=hashlib.sha256(body).hexdigest(),
        )
    )
