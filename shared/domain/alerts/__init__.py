"""Alerts: the model, the rules that raise them, and how a stored alert changes.

Rules are pure functions over recorded facts and ``now``. Each returns a :class:`Verdict`
for every identity it *could* settle: firing or clear. An identity a rule cannot settle
(its facts lie outside the look-back, a window it cannot know, a machine that never sent
a heartbeat) gets no verdict at all, so an alert is never resolved - nor raised - for
want of information. Facts dated after ``now`` are ignored: a rule sees the world as it
was at ``now``, which is what ``replay --now`` asks for.

The package, each module readable in one sitting:

- :mod:`.model` - kinds, identities, verdicts, stored alerts, transitions, the CloudEvent;
- :mod:`.facts` - the recorded facts the rules read and the policy they apply;
- one module per family of rules: :mod:`.runs` (Update Manager runs), :mod:`.sql_notices`
  (SQL maintenance from Service Health notices), :mod:`.cycle` (the Patch Tuesday cycle of
  each VM) and :mod:`.health` (health and reboots after maintenance);
- :mod:`.evaluation` - every rule together, one verdict per identity.

Everything is importable from here (``from shared.domain.alerts import evaluate``).
No Azure SDK, no I/O, no clock.
"""

from .cycle import (
    baseline_missed,
    deadline_missed,
    schedule_ineffective,
    unplanned_baseline_suspected,
    vm_not_assessable,
    vms_failed,
)
from .evaluation import Facts, evaluate, maintenance_outside_window, maintenance_overran, patch_failed
from .facts import (
    DONE_STAGES,
    START_STAGES,
    AlertPolicy,
    HealthFact,
    Heartbeats,
    ResourceWindow,
    RunFacts,
    SqlNoticeFacts,
    VmCycleFacts,
    WatchedConfiguration,
    mentions_reboot,
)
from .health import Activity, maintenance_activities, unexpected_reboot, unhealthy_after_maintenance, vm_windows
from .model import (
    EVENT_SETTLED,
    EVENT_SOURCE,
    EVENT_TYPE_PREFIX,
    MAX_TRANSITIONS,
    SEVERITY,
    TIME_SETTLED,
    Alert,
    AlertKey,
    AlertKind,
    AlertState,
    Severity,
    Transition,
    TransitionKind,
    Verdict,
    alert_event,
    apply_verdict,
    event_id,
    event_type,
    merge_verdicts,
)
from .runs import (
    maintenance_run_outcome,
    maintenance_window_missed,
    runs_failed,
    runs_outside_window,
    runs_overran,
)
from .sql_notices import (
    attribute_notice,
    maintenance_unconfirmed,
    notices_outside_window,
    notices_overran,
    sql_chain_end,
)

__all__ = [
    "DONE_STAGES",
    "EVENT_SETTLED",
    "EVENT_SOURCE",
    "EVENT_TYPE_PREFIX",
    "MAX_TRANSITIONS",
    "SEVERITY",
    "START_STAGES",
    "TIME_SETTLED",
    "Activity",
    "Alert",
    "AlertKey",
    "AlertKind",
    "AlertPolicy",
    "AlertState",
    "Facts",
    "HealthFact",
    "Heartbeats",
    "ResourceWindow",
    "RunFacts",
    "Severity",
    "SqlNoticeFacts",
    "Transition",
    "TransitionKind",
    "Verdict",
    "VmCycleFacts",
    "WatchedConfiguration",
    "alert_event",
    "apply_verdict",
    "attribute_notice",
    "baseline_missed",
    "deadline_missed",
    "evaluate",
    "event_id",
    "event_type",
    "maintenance_activities",
    "maintenance_outside_window",
    "maintenance_overran",
    "maintenance_run_outcome",
    "maintenance_unconfirmed",
    "maintenance_window_missed",
    "mentions_reboot",
    "merge_verdicts",
    "notices_outside_window",
    "notices_overran",
    "patch_failed",
    "runs_failed",
    "runs_outside_window",
    "runs_overran",
    "schedule_ineffective",
    "sql_chain_end",
    "unexpected_reboot",
    "unhealthy_after_maintenance",
    "unplanned_baseline_suspected",
    "vm_not_assessable",
    "vm_windows",
    "vms_failed",
]
