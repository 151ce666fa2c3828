"""Fan-out: a fleet assessed through the queue against ARM's documented write bucket.

1,200 VMs (``BENCH_VMS``) in one subscription behind the loopback ARM with ARM's
documented buckets (writes 200, refilled 10/s; reads 250, refilled 25/s). One
``assessPatches`` is a write, so the theoretical minimum is (1,200 - 200) / 10 = 100 s.
Each assessment completes ``BENCH_ASSESS_SECONDS`` (3) after it was accepted, and its 202
says ``Retry-After: 3``.

The registered timer starts the cycle (discovery, roster, one message per VM on an
Azurite queue); ``BENCH_WORKERS`` (8) concurrent workers consume the queue as the
Functions host does (batches, visibility, poison after 5 failures), invoking the
registered ``assessment_worker`` with the worker's ``QueueMessage``. Production
settings throughout: the SDK retry policy, the pacer's documented limits, the queue
policy; nothing is tuned for the bench.

Last line: ``{"bench": "fanout", "ratio": R, "throttled_share": T, "lost": L, ...}``
with R = time until every VM is assessed / the bucket's theoretical minimum, T = 429
answers / all requests, L = VMs not assessed (or assessed other than exactly once).
Targets: R <= 1.15, T <= 0.02, L = 0.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azure.functions.timer import TimerRequest  # noqa: E402

from shared import runtime  # noqa: E402
from shared.adapters.arm import ArmAdapter  # noqa: E402
from shared.adapters.azurite import running_azurite  # noqa: E402
from shared.adapters.cycle_store import CycleStore  # noqa: E402
from shared.adapters.queues import StorageQueue  # noqa: E402
from shared.adapters.retry import Pacer  # noqa: E402
from shared.adapters.storage import resolve_target  # noqa: E402
from shared.config import settings  # noqa: E402
from shared.domain.calendar import cycle_at  # noqa: E402
from shared.services.assessment import QUEUE_NAME, CyclePolicy, Deps  # noqa: E402
from tests.support.app import handler  # noqa: E402
from tests.support.arm_server import SUB, ArmSimulator, make_fleet  # noqa: E402
from tests.support.loopback import StaticTokenCredential  # noqa: E402
from tests.support.queue_host import QueueHost  # noqa: E402

VMS = int(os.environ.get("BENCH_VMS", "1200"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "8"))
ASSESS_SECONDS = float(os.environ.get("BENCH_ASSESS_SECONDS", "3"))
WRITES = (200.0, 10.0)
READS = (250.0, 25.0)


def main() -> None:
    theoretical = max(0.0, VMS - WRITES[0]) / WRITES[1]
    fleet = make_fleet(VMS)
    with (
        running_azurite(in_memory=True) as az,
        ArmSimulator(
            fleet, assess_seconds=ASSESS_SECONDS, retry_after=int(ASSESS_SECONDS), writes=WRITES, reads=READS
        ) as sim,
    ):
        os.environ.update(
            AzureWebJobsStorage=az.connection_string,
            OUTCOMES_TABLE_PREFIX="bench",
            TARGET_SUBSCRIPTION_IDS=SUB,
            ARM_ENDPOINT=sim.url,
        )
        settings.cache_clear()
        cfg = settings()
        target = resolve_target(az.connection_string)
        pacer = Pacer()  # ARM's documented limits; shared by every worker thread of this "instance"
        deps = Deps(
            store=CycleStore.from_settings(cfg),
            arm=ArmAdapter.from_settings(cfg, StaticTokenCredential(), pacer=pacer),
            queue=StorageQueue(target, QUEUE_NAME),
            policy=CyclePolicy.from_settings(cfg),
        )
        runtime.install(cfg, deps)
        host = QueueHost(
            az.connection_string,
            handler("assessment_worker"),
            poison_handler=handler("assessment_poison"),
            retry_visibility=30,
            batch=4,
        )
        host.reset()
        deps.store.ensure_tables()  # type: ignore[attr-defined]
        cycle_id = cycle_at(datetime.now(UTC), cfg.calendar).id

        started = time.time()
        handler("patch_cycle_timer")(TimerRequest(past_due=False))
        fanned_out = time.time() - started
        handled = host.drain(timeout=max(600.0, theoretical * 4), workers=WORKERS)
        drained = time.time() - started

        rows = deps.store.vm_rows(cycle_id)
        finished = [
            datetime.fromisoformat(r["FinishedUtc"].replace("Z", "+00:00")).timestamp()
            for r in rows
            if r.get("FinishedUtc")
        ]
        states: dict[str, int] = {}
        for r in rows:
            states[str(r.get("State"))] = states.get(str(r.get("State")), 0) + 1
        done_at = max(finished) - started if finished else float("inf")
        accepted = [sim.accepted_for(v) for v in fleet]
        not_assessed = sum(1 for n in accepted if n == 0) + (VMS - len(rows))
        duplicates = sum(1 for n in accepted if n > 1)
        requests = sim.counts["requests"]
        polls = len(sim.server.recorded("GET", "/operations/"))
        stats = pacer.stats()
        accepted_at = sorted(op.accepted for op in sim.operations.values())
        mono_start = time.monotonic() - (time.time() - started)
        milestones = {
            str(n): round(accepted_at[n - 1] - mono_start, 1) for n in (200, VMS // 2, VMS) if 0 < n <= len(accepted_at)
        }
        result = {
            "bench": "fanout",
            "ratio": round(done_at / theoretical, 3) if theoretical else None,
            "throttled_share": round(sim.counts["429"] / max(1, requests), 4),
            "lost": not_assessed + duplicates,
            "vms": VMS,
            "workers": WORKERS,
            "assess_seconds": ASSESS_SECONDS,
            "theoretical_min_s": theoretical,
            "all_assessed_after_s": round(done_at, 1),
            "fan_out_s": round(fanned_out, 1),
            "drained_after_s": round(drained, 1),
            "states": states,
            "duplicates": duplicates,
            "requests": requests,
            "throttled": sim.counts["429"],
            "assessments_accepted": sum(accepted),
            "polls": polls,
            "accepted_after_s": milestones,
            "queue_messages_handled": handled,
            "failed_invocations": len(host.errors),
            "pacer_waits": stats.waits,
            "pacer_waited_s": round(stats.waited_seconds, 1),
            "pacer_deferrals": stats.deferred,
        }
    print(
        f"{VMS} VMs: all assessed after {done_at:.1f} s (theoretical minimum {theoretical:.0f} s), "
        f"{sim.counts['429']} of {requests} requests throttled, {polls} polls, {handled} queue messages",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
