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

``--instances N`` (default 1) runs N instances of the app, as Flex Consumption scales out:
this process is the first (it fires the timer, then works the queue), and N - 1 worker
processes (``--worker``) consume the same queue, each with its own registered
``assessment_worker``, its own QueueHost and its own pacer. The loopback ARM runs in this
process, so all of them spend ONE write bucket (same subscription, region and principal),
as the instances of one app (one managed identity) do.

Last line: ``{"bench": "fanout", "instances": N, "ratio": R, "throttled_share": T,
"lost": L, "duplicates": D, ...}`` with R = time until every VM is assessed / the bucket's
theoretical minimum, T = 429 answers / all requests, L = VMs never assessed or not
finished, D = VMs whose assessment ARM accepted more than once.
Targets (at every N, 4 included): R <= 1.15, T <= 0.02, L = 0, D = 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from shared.config import Settings, settings  # noqa: E402
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


def _instance(cfg: Settings, connection: str) -> tuple[Deps, Pacer, QueueHost]:
    """One instance of the app: its adapters (its own pacer, ARM's documented limits, shared by
    every worker thread of the instance), installed for the registered functions, and its host."""
    pacer = Pacer()
    deps = Deps(
        store=CycleStore.from_settings(cfg),
        arm=ArmAdapter.from_settings(cfg, StaticTokenCredential(), pacer=pacer),
        queue=StorageQueue(resolve_target(connection), QUEUE_NAME),
        policy=CyclePolicy.from_settings(cfg),
    )
    runtime.install(cfg, deps)
    host = QueueHost(
        connection,
        handler("assessment_worker"),
        poison_handler=handler("assessment_poison"),
        retry_visibility=30,
        batch=4,
    )
    return deps, pacer, host


def _instance_figures(pacer: Pacer, host: QueueHost, handled: int) -> dict[str, Any]:
    stats = pacer.stats()
    return {
        "queue_messages_handled": handled,
        "failed_invocations": len(host.errors),
        "pacer_waits": stats.waits,
        "pacer_waited_s": round(stats.waited_seconds, 1),
        "pacer_deferrals": stats.deferred,
        "pacer_throttled": stats.throttled,
    }


def worker(timeout: float) -> None:
    """Another instance: wait for the parent's go (the timer is about to fire), work the queue
    until it is empty, print this instance's figures as the last line."""
    settings.cache_clear()
    cfg = settings()
    _, pacer, host = _instance(cfg, os.environ["AzureWebJobsStorage"])  # noqa: SIM112 (the host's own name)
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + 60
    while host.pending() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    handled = host.drain(timeout=timeout, workers=WORKERS)
    print(json.dumps(_instance_figures(pacer, host, handled)), flush=True)


def main(instances: int) -> None:
    theoretical = max(0.0, VMS - WRITES[0]) / WRITES[1]
    timeout = max(600.0, theoretical * 4)
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
        deps, pacer, host = _instance(cfg, az.connection_string)
        host.reset()
        deps.store.ensure_tables()  # type: ignore[attr-defined]
        cycle_id = cycle_at(datetime.now(UTC), cfg.calendar).id
        others = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", "--timeout", str(timeout)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(instances - 1)
        ]
        for proc in others:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "a worker did not start"

        started = time.time()
        for proc in others:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        handler("patch_cycle_timer")(TimerRequest(past_due=False))
        fanned_out = time.time() - started
        handled = host.drain(timeout=timeout, workers=WORKERS)
        per_instance = [_instance_figures(pacer, host, handled)]
        for proc in others:
            out, _ = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise SystemExit(f"a worker instance failed (exit {proc.returncode})")
            per_instance.append(json.loads(out.strip().splitlines()[-1]))
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
        unfinished = sum(1 for r in rows if not r.get("FinishedUtc"))
        lost = max(sum(1 for n in accepted if n == 0) + (VMS - len(rows)), unfinished)
        duplicates = sum(1 for n in accepted if n > 1)
        requests = sim.counts["requests"]
        polls = len(sim.server.recorded("GET", "/operations/"))
        accepted_at = sorted(op.accepted for op in sim.operations.values())
        mono_start = time.monotonic() - (time.time() - started)
        milestones = {
            str(n): round(accepted_at[n - 1] - mono_start, 1) for n in (200, VMS // 2, VMS) if 0 < n <= len(accepted_at)
        }
        throttled_when: Counter[str] = Counter(f"{int((t - mono_start) // 10) * 10}s" for t in sim.throttled_at)
        result = {
            "bench": "fanout",
            "instances": instances,
            "ratio": round(done_at / theoretical, 3) if theoretical else None,
            "throttled_share": round(sim.counts["429"] / max(1, requests), 4),
            "lost": lost,
            "duplicates": duplicates,
            "vms": VMS,
            "workers": WORKERS,
            "assess_seconds": ASSESS_SECONDS,
            "theoretical_min_s": theoretical,
            "all_assessed_after_s": round(done_at, 1),
            "fan_out_s": round(fanned_out, 1),
            "drained_after_s": round(drained, 1),
            "states": states,
            "requests": requests,
            "throttled": sim.counts["429"],
            "throttled_after": dict(sorted(throttled_when.items(), key=lambda kv: int(kv[0][:-1]))),
            "assessments_accepted": sum(accepted),
            "polls": polls,
            "accepted_after_s": milestones,
            "queue_messages_handled": sum(int(i["queue_messages_handled"]) for i in per_instance),
            "failed_invocations": sum(int(i["failed_invocations"]) for i in per_instance),
            "pacer_waits": sum(int(i["pacer_waits"]) for i in per_instance),
            "pacer_deferrals": sum(int(i["pacer_deferrals"]) for i in per_instance),
            "per_instance": per_instance,
        }
    print(
        f"{instances} instance(s), {VMS} VMs: all assessed after {done_at:.1f} s (theoretical minimum "
        f"{theoretical:.0f} s), {sim.counts['429']} of {requests} requests throttled, {polls} polls, "
        f"{duplicates} assessed twice, {lost} lost",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1, choices=range(1, 17), metavar="N",
                        help="instances of the app consuming the queue (1-16; default 1)")  # fmt: skip
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.timeout)
    else:
        main(args.instances)
