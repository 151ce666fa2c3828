"""Use cases: fan a scope's VMs out to the queue, and work one queue message.

A *scope* is a cycle (partition ``YYYY-MM``) or a maintenance run's verification
(``run-…``); each VM has one row per scope holding its state in the scope's current
round. One queue message per VM and step:

- a **start** message (no token) claims the VM (``queued -> starting``, a conditional
  write), starts ``assessPatches`` (or ``installPatches``), and enqueues a **poll**
  message carrying the poller's continuation token, visible after the operation's
  Retry-After. The worker never waits for the operation.
- a **poll** message takes one look; not done: it enqueues its successor (again after
  Retry-After); done: the result and its findings are recorded.

Handing over is *write, then send*: the row is updated (with its ETag) to name the
nonce of the one message it expects next (``Expect``) and the message that handed over
(``Prev``), then that message is sent. A message whose nonce is not expected (a
duplicate delivery, an orphan) is dropped, so a VM is worked by exactly one chain of
messages; the message named in ``Prev`` — redelivered because its invocation died
between the write and the send — sends the expected message again. A start message
claims its VM by its queue message id. Whatever still goes quiet is re-enqueued by the
timer's sweep.

A start that survives a lost row update: the claim (``queued -> starting``) records the
instant of the attempt (``Attempt``, with the round) before ``assessPatches`` is posted.
If the row update that follows an accepted POST is lost (a connection reset), the
redelivered start finds the row still ``starting`` with an earlier attempt, and asks ARM
first: an Azure VM's instance view shows its latest assessment
(``patchStatus.availablePatchSummary``); one that began after the attempt is the one ARM
accepted, and is adopted (followed in the instance view while ``InProgress``, recorded
when done) instead of being started again. Only a start with an earlier attempt on its
row pays that read; the first start of a round posts at once.

Failures: throttling defers the message (not an attempt); transient errors come back
with backoff up to ``QueuePolicy.attempts`` times, then the VM is failed with the last
reason; permanent errors (400/403/404) fail the VM at once with their reason; a
deallocated or stopped VM is recorded as not assessable. A message that cannot be read
is recorded as rejected and acknowledged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from shared.domain.assessment import (
    VmState,
    parse_assessment,
    parse_available_patch_summary,
    parse_install,
    parse_installation_summary,
)
from shared.domain.calendar import Cycle
from shared.domain.configuration import CONFIGURATION_KINDS, configuration_findings, reconcile_configuration
from shared.domain.cycle_state import InstallPlan, install_plan
from shared.domain.fleet import ResourceId, Vm, vm_key
from shared.domain.hotpatch import (
    ASSESSMENT_KINDS,
    Finding,
    assessment_findings,
    failure_finding,
    install_findings,
    not_assessable_finding,
    reconcile,
)
from shared.services.cycle_deps import (  # re-exported: importable from here as before
    ASSESS,
    INSTALL,
    POISON_QUEUE_NAME,
    QUEUE_NAME,
    CyclePolicy,  # noqa: F401
    Deps,
    Message,
    MessageError,
    QueuePolicy,  # noqa: F401
    row_key,
    utc_text,
)
from shared.services.ports import (
    ArmError,
    ConflictError,
    LroStep,
    NotAssessableError,
    PermanentError,
    QueuePort,
    Row,
    ThrottledError,
    TransientError,
)

VMS, CYCLES = "cyclevms", "cycles"


def _fields(op: str) -> dict[str, str]:
    """Row properties of each operation's state machine."""
    p = "" if op == ASSESS else "I"
    return {
        name: p + name
        for name in (
            "State",
            "Reason",
            "Attempts",
            "Expect",
            "Prev",
            "Claim",
            "Token",
            "StartedUtc",
            "FinishedUtc",
            "Result",
            "Attempt",
        )
    }


#: The poll token of an assessment adopted from the instance view (it has no operation token).
ADOPTED = "instance-view"
#: ARM's clock and ours may differ a little: an assessment that began this much before the
#: recorded attempt still counts as the attempt's.
ADOPT_SKEW_SECONDS = 60.0
ADOPTED_POLL_SECONDS = 15.0


# -- fan-out ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FanOut:
    scope: str
    round: int
    roster: int
    queued: int
    not_assessable: int
    enqueued: int
    not_handled: int = 0


def _send_all(queue: QueuePort, messages: list[tuple[dict[str, Any], float]], workers: int = 8) -> list[str]:
    if len(messages) <= 4:
        return [queue.send(body, delay) for body, delay in messages]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda m: queue.send(*m), messages))


FAN_OUT_CHUNK = 100  # one Table transaction


def fan_out(
    deps: Deps,
    scope: str,
    cycle_id: str,
    round_: int,
    vms: Iterable[Vm],
    *,
    now: datetime,
    run_id: str = "",
    clock: Callable[[], float] = time.monotonic,
) -> FanOut:
    """Write the scope's roster for ``round_`` and enqueue one start message per assessable VM.

    Start messages are spread over time to match ARM's write budget for each
    subscription (what the pacer believes is left now, then its refill rate): message
    *k* becomes visible when the *k*-th write is expected to be available. Workers then
    find starts as fast as ARM will take them and are free for the polls in between,
    instead of holding a backlog of starts in the pacer. Rows are written and their
    messages sent chunk by chunk, so the first assessments start while the rest is
    still being written.

    Idempotent: VMs already in the round keep their state; those still ``queued`` are
    enqueued again (a crashed fan-out is finished by the next one; duplicates are dropped
    by the worker's claim).
    """
    t0 = clock()
    existing = {r["RowKey"]: r for r in deps.store.vm_rows(scope)}
    plan: list[tuple[Vm, dict[str, Any] | None]] = []  # (vm, entity to write or None)
    not_assessable: list[Vm] = []
    not_handled = 0
    roster = 0
    for vm in vms:
        roster += 1
        rk = row_key(vm.id)
        row = existing.get(rk)
        if row is not None and int(row.get("Round", -1)) >= round_:
            if row.get("State") == VmState.QUEUED.value and int(row.get("Round", -1)) == round_:
                plan.append((vm, None))
            continue
        if not vm.handled:
            state, reason = VmState.NOT_HANDLED, f"not handled: {vm.resource_type or 'unknown type'}"
            not_handled += 1
        elif vm.assessable:
            state, reason = VmState.QUEUED, ""
        else:
            state, reason = VmState.NOT_ASSESSABLE, f"not assessable: {vm.power_state}"
        entity = {
            "PartitionKey": scope,
            "RowKey": rk,
            "ResourceId": vm.id,
            "Name": vm.name,
            "Vm": json.dumps(vm.to_json(), sort_keys=True),
            "CycleId": cycle_id,
            "RunId": run_id,
            "Round": round_,
            "State": state.value,
            "Reason": reason,
            "PowerState": vm.power_state,
            "Attempts": 0,
            "Deferrals": 0,
            "Expect": "",
            "Token": "",
            "QueuedUtc": utc_text(now),
            "UpdatedUtc": utc_text(now),
            "FinishedUtc": "" if state is VmState.QUEUED else utc_text(now),
        }
        plan.append((vm, entity))
        if state is VmState.NOT_ASSESSABLE:
            not_assessable.append(vm)
    budgets: dict[str, tuple[float, float]] = {}
    position: Counter[str] = Counter()
    sent = 0
    for i in range(0, len(plan), FAN_OUT_CHUNK):
        chunk = plan[i : i + FAN_OUT_CHUNK]
        deps.store.batch_upsert(VMS, [e for _, e in chunk if e is not None])
        messages = []
        for vm, _ in chunk:
            if not vm.handled or not vm.assessable:
                continue
            sub = vm.subscription_id.lower()
            if sub not in budgets:
                budgets[sub] = deps.arm.start_budget(sub)
            available, rate = budgets[sub]
            k = position[sub]
            position[sub] += 1
            due = max(0.0, (k + 1 - available) / rate) if rate > 0 else 0.0
            body = Message(ASSESS, scope, cycle_id, round_, vm.id, run_id=run_id).to_json()
            messages.append((body, max(0.0, due - (clock() - t0))))
        _send_all(deps.queue, messages)
        sent += len(messages)
    if scope == cycle_id and not run_id:
        settle_configuration(deps, deps.policy.cycle(cycle_id), [vm for vm, _ in plan], now)
    if not_assessable:
        cycle = deps.policy.cycle(cycle_id)
        _settle_findings(
            deps,
            cycle,
            [(vm, [not_assessable_finding(vm, vm.power_state, cycle, now, run_id=run_id)]) for vm in not_assessable],
            now,
        )
    return FanOut(scope, round_, roster, sent, len(not_assessable), sent, not_handled)


# -- findings --------------------------------------------------------------------------------------


def with_assignments(deps: Deps, vms: Iterable[Vm]) -> list[Vm]:
    """Each machine with the configurations assigned to it (directly or through a dynamic scope),
    as the schedule cache knows them; unchanged when there is no cache."""
    vms = list(vms)
    if deps.placements is None:
        return vms
    placed = deps.placements.scope_assignments()
    out = []
    for vm in vms:
        found = placed.get(vm.id.lower(), [])
        assigned = tuple(sorted({cfg for cfg, _ in found}, key=str.lower))
        out.append(replace(vm, assignments=assigned, scopes=tuple(sorted({v for _, v in found if v}))))
    return out


def settle_configuration(deps: Deps, cycle: Cycle, vms: Iterable[Vm], now: datetime) -> int:
    """Open, update or resolve each machine's ``schedule-ineffective`` finding for the cycle."""
    changes: list[Finding] = []
    for vm in vms:
        previous = deps.store.findings_for(cycle.id, vm.id, CONFIGURATION_KINDS)
        changes.extend(reconcile_configuration(previous, configuration_findings(vm, cycle, now), now))
    return deps.store.put_findings(changes) if changes else 0


def _settle_findings(deps: Deps, cycle: Cycle, results: list[tuple[Vm, list[Finding]]], now: datetime) -> int:
    """Record what changed against what was recorded for each VM (the kinds an assessment settles)."""
    changes: list[Finding] = []
    for vm, current in results:
        previous = [
            f
            for f in deps.store.findings_for(cycle.id, vm.id, ASSESSMENT_KINDS)
            if f.details.get("operation") != "installation"  # an install failure is settled by installs
        ]
        changes.extend(reconcile(previous, current, now))
    return deps.store.put_findings(changes)


# -- the worker -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handled:
    """What one message did (for logs and tests)."""

    outcome: str  # started, polled, completed, deferred, retried, failed, not-assessable, dropped, rejected
    detail: str = ""
    next_message: str = ""


def _parse_or_reject(deps: Deps, raw: bytes | str, source: str, now: datetime) -> Message | Handled:
    """The message, or (for a body that is not one) the rejection recorded under ``source``."""
    try:
        return Message.parse(raw)
    except MessageError as exc:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        deps.store.reject(source, str(exc), text, now)
        return Handled("rejected", str(exc))


def handle_message(deps: Deps, raw: bytes | str, *, message_id: str, now: datetime, dequeue_count: int = 1) -> Handled:
    """Work one queue message (see the module docstring). Raises only for transient store faults."""
    msg = _parse_or_reject(deps, raw, f"{QUEUE_NAME}:{message_id}", now)
    if isinstance(msg, Handled):
        return msg
    row = deps.store.vm_row(msg.scope, vm_key(msg.vm))
    if row is None:
        reason = f"vm: {msg.vm} is not in the roster of {msg.scope}"
        deps.store.reject(f"{QUEUE_NAME}:{message_id}", reason, json.dumps(msg.to_json()), now)
        return Handled("rejected", reason)
    if msg.op == ASSESS and int(row.get("Round", -1)) != msg.round:
        return Handled("dropped", f"round {msg.round} superseded by round {row.get('Round')}")
    f = _fields(msg.op)
    state = row.get(f["State"]) or ""
    try:
        if not msg.token:
            me = f"start:{message_id}"
            earlier = _attempted(row.get(f["Attempt"]), msg.round)
            if state == VmState.QUEUED.value:
                attempt = f"{msg.round}@{utc_text(now)}" if earlier is None else row.get(f["Attempt"])
                row = deps.store.update(
                    VMS,
                    row,
                    {
                        f["State"]: VmState.STARTING.value,
                        f["Claim"]: message_id,
                        f["Attempt"]: attempt,
                        "UpdatedUtc": utc_text(now),
                    },
                )
            elif state == VmState.STARTING.value and row.get(f["Claim"]) == message_id:
                pass  # our own earlier delivery died mid-way: ARM may have accepted its start
            elif state == VmState.RUNNING.value and row.get(f["Prev"]) == me:
                return _resend(deps, msg, row)  # died between handing over and sending
            else:
                return Handled("dropped", f"duplicate start (state {state or 'none'})")
            if earlier is not None and msg.op == ASSESS:
                adopted = _adopt(deps, msg, row, earlier, now=now, me=me)
                if adopted is not None:
                    return adopted
            return _start(deps, msg, row, now, me)
        if state == VmState.RUNNING.value and msg.nonce and msg.nonce == row.get(f["Expect"]):
            return _poll(deps, msg, row, now)
        if state == VmState.RUNNING.value and msg.nonce and msg.nonce == row.get(f["Prev"]):
            return _resend(deps, msg, row)
        return Handled("dropped", f"not the expected message (state {state or 'none'})")
    except ConflictError as exc:
        return Handled("dropped", f"lost a race: {exc}")


def _attempted(value: Any, round_: int) -> datetime | None:
    """The instant of an earlier start attempt in this round (``"{round}@{utc}"``), if any."""
    text = str(value or "")
    head, sep, when = text.partition("@")
    if not sep or head != str(round_):
        return None
    try:
        return datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return None


def _adopt(deps: Deps, msg: Message, row: Row, attempted: datetime, *, now: datetime, me: str) -> Handled | None:
    """Adopt the assessment ARM accepted for an earlier attempt whose row update was lost;
    None when ARM shows none that began after the attempt (then it is started)."""
    try:
        summary = deps.arm.latest_assessment(msg.vm)
    except ArmError as exc:
        return _failure(deps, msg, row, exc, now, starting=True, me=me)
    latest = parse_available_patch_summary(summary) if summary else None
    if latest is None or latest.started_utc is None:
        return None
    if latest.started_utc < attempted - timedelta(seconds=ADOPT_SKEW_SECONDS):
        return None
    f = _fields(msg.op)
    extra = {f["StartedUtc"]: utc_text(now), f["Token"]: ADOPTED}
    if latest.running:
        delay = deps.policy.queue.delay(0, ADOPTED_POLL_SECONDS)
        return _handover(deps, msg, row, ADOPTED, delay, now=now, me=me, extra=extra, outcome="adopted")
    return _complete(deps, msg, row, LroStep(True, ADOPTED, 0.0, latest.body), now, extra=extra)


def _look_again(deps: Deps, msg: Message) -> LroStep:
    """One look at an adopted assessment, in the instance view (it has no operation to poll)."""
    summary = deps.arm.latest_assessment(msg.vm)
    latest = parse_available_patch_summary(summary) if summary else None
    if latest is None:  # bounded by the queue's attempts, then failed with this reason
        raise TransientError("the instance view no longer shows the adopted assessment")
    if latest.running:
        return LroStep(False, ADOPTED, deps.policy.queue.delay(0, ADOPTED_POLL_SECONDS))
    return LroStep(True, ADOPTED, 0.0, latest.body)


def _resend(deps: Deps, msg: Message, row: Row) -> Handled:
    """Send the message the row expects again (its sender may have died before sending it)."""
    f = _fields(msg.op)
    nxt = replace(msg, token=row.get(f["Token"]) or msg.token, nonce=row.get(f["Expect"]) or "")
    deps.queue.send(nxt.to_json(), 0)
    return Handled("resent", f"expected message {nxt.nonce} sent again", nxt.nonce)


def _vm_of(row: Row) -> Vm:
    data = row.json("Vm")
    if data:
        return Vm.from_json(data)
    rid = ResourceId.parse(row["ResourceId"])
    return Vm(row["ResourceId"], rid.name, rid.subscription_id, rid.resource_group)


def _plan(deps: Deps, msg: Message, vm: Vm) -> InstallPlan:
    return install_plan(deps.policy.cycle(msg.cycle_id), deps.policy.max_duration, hotpatch_vm=vm.hotpatch)


def _start(deps: Deps, msg: Message, row: Row, now: datetime, me: str) -> Handled:
    vm = _vm_of(row)
    try:
        if msg.op == ASSESS:
            step = deps.arm.start_assessment(vm.id)
        else:
            step = deps.arm.start_install(vm.id, _plan(deps, msg, vm), vm.os_type)
    except ArmError as exc:
        return _failure(deps, msg, row, exc, now, starting=True, me=me)
    f = _fields(msg.op)
    started = {f["StartedUtc"]: utc_text(now), f["Token"]: step.token}
    if step.done:
        return _complete(deps, msg, row, step, now, extra=started)
    return _handover(deps, msg, row, step.token, step.retry_after, now=now, me=me, extra=started, outcome="started")


def _handover(
    deps: Deps,
    msg: Message,
    row: Row,
    token: str,
    delay: float,
    *,
    now: datetime,
    me: str,
    nxt: Message | None = None,
    extra: dict[str, Any] | None = None,
    outcome: str = "polled",
) -> Handled:
    """Hand the VM to its next poll message: the row names it first, then it is sent."""
    f = _fields(msg.op)
    nonce = uuid.uuid4().hex
    nxt = replace(nxt or replace(msg, attempt=0), token=token, nonce=nonce)
    delay = max(delay, deps.policy.queue.min_poll_delay)
    deps.store.update(
        VMS,
        row,
        {
            **(extra or {}),
            f["State"]: VmState.RUNNING.value,
            f["Token"]: token,
            f["Expect"]: nonce,
            f["Prev"]: me,
            "UpdatedUtc": utc_text(now),
        },
    )
    deps.queue.send(nxt.to_json(), delay)
    return Handled(outcome, f"next look in {delay:.1f} s", nonce)


def _poll(deps: Deps, msg: Message, row: Row, now: datetime) -> Handled:
    try:
        if msg.op == ASSESS and msg.token == ADOPTED:
            step = _look_again(deps, msg)
        elif msg.op == ASSESS:
            step = deps.arm.resume_assessment(msg.vm, msg.token)
        else:
            step = deps.arm.resume_install(msg.vm, msg.token)
    except ArmError as exc:
        return _failure(deps, msg, row, exc, now, starting=False, me=msg.nonce)
    if not step.done:
        return _handover(deps, msg, row, msg.token, step.retry_after, now=now, me=msg.nonce)
    return _complete(deps, msg, row, step, now)


def _failure(deps: Deps, msg: Message, row: Row, exc: ArmError, now: datetime, *, starting: bool, me: str) -> Handled:
    f = _fields(msg.op)
    q = deps.policy.queue
    if isinstance(exc, NotAssessableError) and msg.op == ASSESS:
        return _not_assessable(deps, msg, row, exc.power_state, now)
    if isinstance(exc, PermanentError | NotAssessableError):
        return _fail(deps, msg, row, exc.reason, now)
    if isinstance(exc, ThrottledError):
        if msg.deferrals >= q.max_deferrals:
            return _fail(deps, msg, row, f"throttled {msg.deferrals} times: {exc.reason}", now)
        nxt, delay, outcome = replace(msg, deferrals=msg.deferrals + 1), q.delay(0, exc.delay), "deferred"
        changes: dict[str, Any] = {"Deferrals": int(row.get("Deferrals", 0) or 0) + 1}
    elif isinstance(exc, TransientError):
        attempt = msg.attempt + 1
        if attempt >= q.attempts:
            return _fail(deps, msg, row, f"gave up after {attempt} attempts: {exc.reason}", now)
        nxt, delay, outcome = replace(msg, attempt=attempt), q.delay(attempt, exc.retry_after), "retried"
        changes = {f["Attempts"]: attempt, f["Reason"]: exc.reason}
    else:
        return _fail(deps, msg, row, exc.reason, now)
    if not starting:  # the same poll again, later
        return _handover(deps, msg, row, msg.token, delay, now=now, me=me, nxt=nxt, extra=changes, outcome=outcome)
    # back to queued (written first), then a new start message that will claim it
    deps.store.update(
        VMS, row, {**changes, f["State"]: VmState.QUEUED.value, f["Claim"]: "", "UpdatedUtc": utc_text(now)}
    )
    deps.queue.send(replace(nxt, token="", nonce="").to_json(), delay)
    return Handled(outcome, exc.reason)


def _finish(deps: Deps, msg: Message, row: Row, changes: dict[str, Any], now: datetime) -> Row:
    f = _fields(msg.op)
    return deps.store.update(
        VMS,
        row,
        {**changes, f["Expect"]: "", f["Prev"]: "", f["FinishedUtc"]: utc_text(now), "UpdatedUtc": utc_text(now)},
    )


def _fail(deps: Deps, msg: Message, row: Row, reason: str, now: datetime) -> Handled:
    f = _fields(msg.op)
    _finish(deps, msg, row, {f["State"]: VmState.FAILED.value, f["Reason"]: reason[:30000]}, now)
    vm = _vm_of(row)
    cycle = deps.policy.cycle(msg.cycle_id)
    operation = "assessment" if msg.op == ASSESS else "installation"
    finding = failure_finding(vm, operation, reason, cycle, now, run_id=msg.run_id)
    if msg.op == ASSESS:
        _settle_findings(deps, cycle, [(vm, [finding])], now)
    else:
        deps.store.put_findings([finding])
        _installation_done(deps, msg, ok=False, now=now)
    return Handled("failed", reason)


def _not_assessable(deps: Deps, msg: Message, row: Row, power_state: str, now: datetime) -> Handled:
    reason = f"not assessable: {power_state}"
    _finish(deps, msg, row, {"State": VmState.NOT_ASSESSABLE.value, "Reason": reason, "PowerState": power_state}, now)
    vm = _vm_of(row)
    cycle = deps.policy.cycle(msg.cycle_id)
    _settle_findings(deps, cycle, [(vm, [not_assessable_finding(vm, power_state, cycle, now, run_id=msg.run_id)])], now)
    return Handled("not-assessable", reason)


def _complete(
    deps: Deps, msg: Message, row: Row, step: LroStep, now: datetime, *, extra: dict[str, Any] | None = None
) -> Handled:
    f = _fields(msg.op)
    vm = _vm_of(row)
    cycle = deps.policy.cycle(msg.cycle_id)
    if msg.op == ASSESS:
        try:
            result = parse_assessment(step.body)
        except ValueError as exc:
            return _fail(deps, msg, row, f"unusable result: {exc}", now)
        changes = {
            **(extra or {}),
            f["State"]: result.state.value,
            f["Reason"]: result.error,
            f["Result"]: json.dumps(result.summary(), sort_keys=True),
            "PowerState": "running",
        }
        if msg.run_id:  # a run's verification also keeps what the run installed
            changes["LastInstall"] = json.dumps(_last_installation(deps, vm), sort_keys=True)
        _finish(deps, msg, row, changes, now)
        current = assessment_findings(vm, result, cycle, now, run_id=msg.run_id)
        _settle_findings(deps, cycle, [(vm, current)], now)
        if deps.policy.remediate and any(f.kind == "deadline-missed" for f in current):
            from shared.services.remediation import top_up

            top_up(deps, cycle, now)
        return Handled("completed", f"{result.status}: {result.critical_and_security} critical/security pending")
    try:
        install = parse_install(step.body)
    except ValueError as exc:
        return _fail(deps, msg, row, f"unusable result: {exc}", now)
    state = VmState.SUCCEEDED if install.ok else VmState.FAILED
    changes = {
        **(extra or {}),
        f["State"]: state.value,
        f["Reason"]: install.error,
        f["Result"]: json.dumps(install.summary(), sort_keys=True),
    }
    _finish(deps, msg, row, changes, now)
    deps.store.put_findings(install_findings(vm, install, cycle, now))
    _installation_done(deps, msg, ok=install.ok, now=now)
    return Handled("completed", f"installation {install.status}: {install.installed} installed")


def _last_installation(deps: Deps, vm: Vm) -> dict[str, Any]:
    """What the VM's last installation did, for a run's verification; the reason if ARM would not say."""
    try:
        summary = parse_installation_summary(deps.arm.last_installation(vm.id))
    except ArmError as exc:
        return {"error": f"last installation unknown: {exc.reason}"}
    return summary.summary() if summary is not None else {}


def _installation_done(deps: Deps, msg: Message, *, ok: bool, now: datetime) -> None:
    from shared.services.remediation import finished, top_up

    cycle = deps.policy.cycle(msg.cycle_id)
    finished(deps, cycle, ok=ok)
    top_up(deps, cycle, now)


# -- poison messages ----------------------------------------------------------------------------------


def handle_poison(deps: Deps, raw: bytes | str, *, message_id: str, now: datetime) -> Handled:
    """A message the host gave up on (maxDequeueCount failures): the VM is failed, with the reason."""
    msg = _parse_or_reject(deps, raw, f"{POISON_QUEUE_NAME}:{message_id}", now)
    if isinstance(msg, Handled):
        return msg
    row = deps.store.vm_row(msg.scope, vm_key(msg.vm))
    if row is None or (msg.op == ASSESS and int(row.get("Round", -1)) != msg.round):
        deps.store.reject(
            f"{POISON_QUEUE_NAME}:{message_id}", "poison message for a VM or round no longer current", str(raw), now
        )
        return Handled("dropped", "not current")
    f = _fields(msg.op)
    state = row.get(f["State"]) or ""
    if state in {s.value for s in VmState if s.terminal}:
        return Handled("dropped", f"already {state}")
    reason = (
        f"poison: the {msg.op} {'poll' if msg.token else 'start'} message failed on every delivery "
        f"and was moved to {POISON_QUEUE_NAME}"
    )
    last = row.get(f["Reason"]) or ""
    try:
        return _fail(deps, msg, row, f"{reason}; last error: {last}" if last else reason, now)
    except ConflictError:
        return Handled("dropped", "changed meanwhile")


# -- sweeping quiet VMs -----------------------------------------------------------------------------


def sweep(deps: Deps, scope: str, round_: int, now: datetime) -> int:
    """Re-enqueue VMs of the round that went quiet (a lost message); returns how many."""
    stale_before = utc_text(now - deps.policy.queue.stale_after)
    revived = 0
    for found in deps.store.vm_rows(scope):
        row = found
        for op in (ASSESS, INSTALL):
            if op == ASSESS and int(row.get("Round", -1)) != round_:
                continue
            f = _fields(op)
            state = row.get(f["State"]) or ""
            if state not in (VmState.QUEUED.value, VmState.STARTING.value, VmState.RUNNING.value):
                continue
            if (row.get("UpdatedUtc") or "") >= stale_before:
                continue
            msg = Message(
                op,
                scope,
                row.get("CycleId") or scope,
                int(row.get("Round", round_)),
                row["ResourceId"],
                run_id=row.get("RunId") or "",
            )
            try:
                if state == VmState.RUNNING.value:
                    _handover(deps, msg, row, row.get(f["Token"]) or "", 0, now=now, me="sweep", outcome="revived")
                else:
                    deps.store.update(
                        VMS, row, {f["State"]: VmState.QUEUED.value, f["Claim"]: "", "UpdatedUtc": utc_text(now)}
                    )
                    deps.queue.send(msg.to_json())
            except ConflictError:
                continue
            revived += 1
            break  # one revival per VM per sweep (the row changed)
    return revived
