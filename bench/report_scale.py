"""``report --cycle`` at scale: an estate of ``--vms`` machines (bench/estate.py, through the
app's own writers, alerts raised by one watchdog run), then the command run as a user runs
it, each time in a fresh process:

1. ``first``: the cycle's summaries do not exist yet; the command computes them from the
   sources (reading only this cycle's rows where the tables allow) and stores them;
2. ``report``: the summaries are there (as the watchdog keeps them): one partition read;
3. ``sources``: the report computed from the sources themselves as before summaries
   (every alert, the health table scanned), for comparison (``--no-sources`` skips it).

Each step counts every storage request of its process, its wall time and its peak RSS.
The summarised report's JSON is compared with the one computed from the sources (``same``).
Then the cost of keeping the summaries fresh: a refresh of the cycle's own row
(``refresh_cycle_*``) and of one resource group (``refresh_group_*``).

Last line: ``{"bench": "report_scale", "vms": N, "report_s": ..., "requests": ...,
"rss_mb": ..., ...}``. Target: ``report_s`` <= 5 at 10,000 VMs.
``measure(vms)`` returns the same dict; ``measure_store(connection, prefix, cycle_id,
sample_group=...)`` measures the steps on a store built elsewhere (bench/watchdog_scale.py).

    .venv/bin/python bench/report_scale.py --vms 10000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.estate import RequestCounter, build_estate, table_port  # noqa: E402

NOW = datetime(2026, 10, 31, 12, tzinfo=UTC)
PREFIX = "rs"


def _child(args: argparse.Namespace) -> None:
    """One step in this (fresh) process; prints one JSON line."""
    from shared.adapters.storage import resolve_target

    target = resolve_target(os.environ["AzureWebJobsStorage"])  # noqa: SIM112 (the Functions host's name)
    counter = RequestCounter(port=table_port(target))
    out = io.StringIO()
    t0 = time.perf_counter()
    with counter.installed():
        if args.step == "sources":
            from shared.config import load_settings
            from shared.domain.calendar import YearMonth, cycle_for_month
            from shared.runtime import report_sources
            from shared.services.report import compliance_report

            cfg = load_settings()
            cycle = cycle_for_month(YearMonth.parse(args.cycle), cfg.calendar)
            report = compliance_report(report_sources(target, args.prefix, cfg.sql_eligibility), cycle, NOW)
            out.write(json.dumps(report.to_json()) + "\n")
        elif args.step.startswith("refresh"):
            from shared.config import load_settings
            from shared.runtime import refresh_summaries

            groups = set(args.groups.split(",")) if args.groups else set()
            refresh_summaries(args.cycle, groups, cfg=load_settings())
        else:
            from shared.cli import main

            with contextlib.redirect_stdout(out):
                code = main(["report", "--cycle", args.cycle, "--now", NOW.isoformat(), "--json"])
            if code:
                raise SystemExit(f"report exited {code}")
    seconds = time.perf_counter() - t0
    lines = out.getvalue().strip().splitlines()
    report_json = json.loads(lines[-1]) if lines else None
    if report_json is not None:
        report_json.pop("html", None)
    print(json.dumps({"seconds": seconds, **counter.to_json(), "report": report_json}))


def _run_step(connection: str, prefix: str, cycle: str, step: str, groups: str = "") -> dict[str, Any]:
    env = {**os.environ, "AzureWebJobsStorage": connection, "OUTCOMES_TABLE_PREFIX": prefix}
    cmd = [sys.executable, __file__, "--child", step, "--cycle", cycle, "--prefix", prefix, "--groups", groups]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode:
        raise RuntimeError(f"step {step} failed ({proc.returncode}): {stderr[-2000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["rss_mb"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


def measure_store(
    connection: str, prefix: str, cycle_id: str, *, sample_group: str, sources: bool = True, progress: Any = None
) -> dict[str, Any]:
    """The report's steps on an existing store (tables ``prefix*`` at ``connection``), each in a
    fresh process: summaries computed (``first_*``), read (``report_s``, ``requests``,
    ``rss_mb``), refreshed (the cycle's row; ``sample_group``, a ``{subscription}/{resource
    group}``), and the report from the sources (``sources_*``, ``same``)."""
    say = progress or (lambda _m: None)
    first = _run_step(connection, prefix, cycle_id, "first")
    say(f"first report (summaries computed): {first['seconds']:.2f} s, {first['requests']} requests")
    again = _run_step(connection, prefix, cycle_id, "report")
    say(f"report from summaries: {again['seconds']:.2f} s, {again['requests']} requests")
    refresh_cycle = _run_step(connection, prefix, cycle_id, "refresh-cycle")
    refresh_group = _run_step(connection, prefix, cycle_id, "refresh-group", sample_group)
    base = _run_step(connection, prefix, cycle_id, "sources") if sources else None
    if base is not None:
        say(f"report from the sources: {base['seconds']:.2f} s, {base['requests']} requests")
    result: dict[str, Any] = {
        "report_s": round(again["seconds"], 3),
        "report_wall_s": round(again["wall_s"], 3),
        "requests": again["requests"],
        "rss_mb": round(again["rss_mb"], 1),
        "first_s": round(first["seconds"], 3),
        "first_requests": first["requests"],
        "first_rss_mb": round(first["rss_mb"], 1),
        "refresh_cycle_s": round(refresh_cycle["seconds"], 3),
        "refresh_cycle_requests": refresh_cycle["requests"],
        "refresh_group_s": round(refresh_group["seconds"], 3),
        "refresh_group_requests": refresh_group["requests"],
        "alerts": again["report"]["summary"]["alerts_by_kind"],
    }
    if base is not None:
        result.update(
            sources_s=round(base["seconds"], 3),
            sources_requests=base["requests"],
            sources_rss_mb=round(base["rss_mb"], 1),
            same=base["report"] == {k: v for k, v in again["report"].items() if k in base["report"]},
            ratio_sources_summaries=round(base["seconds"] / again["seconds"], 1),
        )
    return result


def measure(vms: int, *, sources: bool = True, months: int = 1, progress: Any = None) -> dict[str, Any]:
    """Build an estate of ``vms`` machines on a fresh Azurite and measure the report's steps."""
    from shared.adapters.azurite import running_azurite
    from shared.adapters.storage import resolve_target
    from shared.domain.report import GroupKey
    from shared.domain.report.summary import group_name

    say = progress or (lambda _m: None)
    with running_azurite(in_memory=True) as az:
        target = resolve_target(az.connection_string)
        estate = build_estate(target, vms=vms, months=months, now=NOW, prefix=PREFIX, alerts=True, progress=say)
        say(f"estate built in {estate.seconds:.1f} s ({estate.requests} requests)")
        group = group_name(GroupKey.of(estate.sample_vm_ids[0]))
        steps = measure_store(
            az.connection_string, PREFIX, estate.cycle_id, sample_group=group, sources=sources, progress=say
        )
    return {
        "bench": "report_scale",
        "vms": vms,
        "months": months,
        **steps,
        "groups": len(estate.resource_groups),
        "build_s": round(estate.seconds, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--vms", type=int, default=1000)
    p.add_argument("--months", type=int, default=1)
    p.add_argument("--no-sources", action="store_true", help="skip the report computed from the sources")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--cycle", help=argparse.SUPPRESS)
    p.add_argument("--prefix", default=PREFIX, help=argparse.SUPPRESS)
    p.add_argument("--groups", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.step = args.child
        _child(args)
        return
    print(json.dumps(measure(args.vms, sources=not args.no_sources, months=args.months, progress=print)))


if __name__ == "__main__":
    main()
