"""The watchdog at scale: 1,000 and 10,000 VM estates on Azurite, steady runs measured.

For each size, ``bench/estate.py`` builds the estate through the app's own writers (a
month of cycle rows, runs, health, SQL resources and notices, cached schedules) on one
in-memory Azurite. Then a child process (so its peak RSS is the watchdog's alone) wires the
watchdog as the timer does, offline (no ARM, no Log Analytics, no topic: storage only) and:

1. runs it once: the first run builds the fact base from the tables (``first_s``);
2. runs it three times 15 minutes apart with nothing new: the steady runs (median
   ``steady_s``, ``requests``, ``rows``);
3. ingests 100 new health events through the ingest path, then runs it again: what those
   100 events cost the next run (``after_100_events_requests``);
4. runs it once with ``WATCHDOG_FULL`` (every table read whole), for comparison (``full_s``).

Storage requests are counted at the transport (every table client of the process). The
last line is one JSON object: ``bench``, ``steady_s_10k``, ``requests_10k``,
``ratio_10k_1k`` (steady time at 10,000 / at 1,000), ``after_100_events_requests``,
``rss_mb_10k``, ``refresh_requests_10k`` (``bench/schedule_refresh.py``), ``report_s_10k``
(``bench/report_scale.py``) when those benches are present.
Targets: steady_s_10k <= 5, requests_10k <= 60, ratio_10k_1k <= 10, rss_mb_10k < 300.

``BENCH_SIZES`` (default ``1000,10000``) picks the estates.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime.fromisoformat("2026-10-31T12:00:00+00:00")
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,10000").split(",")]


def _child(connection: str, prefix: str, vm_ids: list[str]) -> dict[str, Any]:
    """One process: the watchdog's runs over the built estate (see the module's docstring)."""
    from bench.estate import RequestCounter, table_port
    from shared.adapters.outcome_store import outcome_store
    from shared.config import load_settings
    from shared.runtime.alerting import alert_policy, alerting_for_store
    from shared.services.ingest import IngestPolicy, ingest_payload
    from shared.services.watchdog import run_watchdog
    from tests.support.alert_events import availability

    env = {"AzureWebJobsStorage": connection, "OUTCOMES_TABLE_PREFIX": prefix}
    cfg = load_settings(env)
    store = outcome_store(cfg)
    deps = alerting_for_store(cfg, store)
    policy = alert_policy(cfg)
    counter = RequestCounter(port=table_port(store.target))
    out: dict[str, Any] = {}
    with counter.installed():
        t = time.perf_counter()
        first = run_watchdog(deps, policy, now=NOW)
        out["first_s"] = round(time.perf_counter() - t, 2)
        out["first_requests"] = counter.requests
        out["first_mode"] = first.facts.to_json() if first.facts else None
        steady = []
        for i in range(1, 4):
            counter.reset()
            t = time.perf_counter()
            report = run_watchdog(deps, policy, now=NOW + timedelta(minutes=15 * i))
            steady.append((time.perf_counter() - t, counter.requests, report.facts.mode if report.facts else ""))
        out["steady_s"] = round(statistics.median(s for s, _, _ in steady), 3)
        out["steady_requests"] = int(statistics.median(r for _, r, _ in steady))
        out["steady_modes"] = sorted({m for _, _, m in steady})
        out["steady_by_table"] = dict(counter.by_table)
        at = NOW + timedelta(minutes=50)
        for vm in vm_ids[:100]:
            ingest_payload(
                json.dumps(availability(vm, at, "Available", "Unavailable")),
                source="bench",
                store=store,
                policy=IngestPolicy(),
                now=at,
            )
        counter.reset()
        t = time.perf_counter()
        after = run_watchdog(deps, policy, now=NOW + timedelta(minutes=60))
        out["after_100_events_s"] = round(time.perf_counter() - t, 3)
        out["after_100_events_requests"] = counter.requests
        out["after_100_events_marks"] = after.facts.marks if after.facts else None
        full_deps = alerting_for_store(load_settings({**env, "WATCHDOG_FULL": "true"}), store)
        counter.reset()
        t = time.perf_counter()
        run_watchdog(full_deps, policy, now=NOW + timedelta(minutes=75))
        out["full_s"] = round(time.perf_counter() - t, 2)
        out["full_requests"] = counter.requests
    out["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def measure(size: int, connection: str) -> dict[str, Any]:
    from bench.estate import build_estate
    from shared.adapters.cycle_store import CycleStore
    from shared.adapters.storage import resolve_target

    target = resolve_target(connection)
    prefix = "ws" + uuid.uuid4().hex[:8]
    t = time.perf_counter()
    estate = build_estate(target, vms=size, now=NOW, prefix=prefix)
    built = time.perf_counter() - t
    vm_ids = [str(r["ResourceId"]) for r in CycleStore(target, prefix).vm_rows(estate.cycle_id)[:100]]
    args = json.dumps({"connection": connection, "prefix": prefix, "vm_ids": vm_ids})
    proc = subprocess.run(
        [sys.executable, __file__, "--child", args], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the watchdog run at {size} VMs failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"vms": size, "build_s": round(built, 1), **result}


def main() -> None:
    from shared.adapters.azurite import running_azurite

    results: dict[int, dict[str, Any]] = {}
    with running_azurite(in_memory=True) as az:
        for size in SIZES:
            results[size] = measure(size, az.connection_string)
            print(json.dumps({"estate": results[size]}), flush=True)
    big, small = results.get(10_000), results.get(1_000)
    summary: dict[str, Any] = {"bench": "watchdog_scale", "sizes": SIZES}
    if big is not None:
        summary.update(
            steady_s_10k=big["steady_s"],
            requests_10k=big["steady_requests"],
            after_100_events_requests=big["after_100_events_requests"],
            rss_mb_10k=big["rss_mb"],
            first_s_10k=big["first_s"],
            full_s_10k=big["full_s"],
        )
    if big is not None and small is not None:
        summary["ratio_10k_1k"] = round(big["steady_s"] / small["steady_s"], 2)
    for name, key in (("schedule_refresh", "refresh_requests"), ("report_scale", "report_s")):
        try:
            module = __import__(f"bench.{name}", fromlist=["measure"])
        except ImportError:
            continue
        try:
            measured = module.measure(10_000)
            summary[f"{key}_10k"] = measured.get(key, measured.get(key.replace("_s", "_seconds")))
        except Exception as exc:  # one bench's failure is reported, the rest stands
            summary[f"{key}_10k_error"] = str(exc)[:300]
    print(json.dumps(summary))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        a = json.loads(sys.argv[2])
        print(json.dumps(_child(a["connection"], a["prefix"], a["vm_ids"])))
    else:
        main()
