"""The watchdog's fact base: every recorded fact the alert rules may read, kept between runs.

A full watchdog run reads the whole look-back period (a month of runs, every health signal,
every notice, three cycles of VM rows): its cost grows with the estate. The fact base holds
those facts, as rule inputs, so an incremental run re-reads only the scopes the change feed
(``shared/adapters/change_feed.py``) names. Both paths end in :func:`select`, which picks
what a run at ``now`` reads: so an incremental run and a full one see the same facts by
construction, and ``tests/e2e/test_watchdog_incremental.py`` checks it on random worlds.

What it holds, and from when it is complete:

- ``runs``: every run of the months in ``months`` (loaded whole), plus any run a mark named;
- ``notices`` and ``health``: everything from ``horizon`` on (a run whose look-back starts
  earlier rebuilds);
- ``vms``: every VM row and open finding of the cycles in ``cycles`` (loaded whole).

Nothing here does I/O: the reads are the watchdog's (``shared/services/watchdog.py``), the
storage is ``shared/adapters/factbase_store.py``. The codec is JSON: the stored base is data,
never code.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .alerts import HealthFact, RunFacts, VmCycleFacts
from .calendar import CalendarPolicy, YearMonth, cycle_at
from .outcomes import NoticeOutcome

FORMAT = 2  # 2: a run no longer stores its month (derived from its start)
SHARDS = 16


@dataclass
class StoredRun:
    """A run as the rules read it, with the instant :meth:`runs_between` selects it by."""

    run_start: datetime
    facts: RunFacts


@dataclass
class FactBase:
    horizon: datetime
    built_at: datetime
    months: set[str] = field(default_factory=set)
    cycles: set[str] = field(default_factory=set)
    runs: dict[str, StoredRun] = field(default_factory=dict)  # correlation id, lower-case
    notices: dict[str, NoticeOutcome] = field(default_factory=dict)  # tracking id, upper-case
    health: dict[str, tuple[HealthFact, ...]] = field(default_factory=dict)  # resource id, lower; newest first
    vms: dict[str, dict[str, VmCycleFacts]] = field(default_factory=dict)  # cycle id -> VM row key
    dirty: set[int] = field(default_factory=set)  # shards changed since loaded

    # -- changing it ---------------------------------------------------------------------

    def put_run(self, cid: str, run: StoredRun | None) -> None:
        self._put(self.runs, cid.lower(), run, shard_of("r", cid.lower()))

    def put_notice(self, tid: str, notice: NoticeOutcome | None) -> None:
        self._put(self.notices, tid.upper(), notice, shard_of("n", tid.upper()))

    def put_health(self, rid: str, facts: tuple[HealthFact, ...]) -> None:
        self._put(self.health, rid.lower(), facts or None, shard_of("h", rid.lower()))

    def put_vm(self, cycle_id: str, row_key: str, facts: VmCycleFacts | None) -> None:
        self._put(self.vms.setdefault(cycle_id, {}), row_key, facts, shard_of("v", f"{cycle_id}|{row_key}"))

    def _put(self, table: dict[str, Any], k: str, value: Any, shard: int) -> None:
        """Set (or, for None, drop) one entry and note its shard as changed."""
        if value is None:
            if table.pop(k, None) is None:
                return
        else:
            table[k] = value
        self.dirty.add(shard)

    def prune(self, since: datetime, keep_cycles: Iterable[str]) -> None:
        """Forget what no run from ``since`` on can read (``now`` only moves forward)."""
        keep = set(keep_cycles)
        oldest = _month(since - timedelta(days=1))
        for cid, run in list(self.runs.items()):
            if run.run_start < since - timedelta(days=1):
                self.put_run(cid, None)
        self.months = {m for m in self.months if m >= oldest}
        for tid, n in list(self.notices.items()):
            if n.impact_start < since:
                self.put_notice(tid, None)
        for rid, facts in list(self.health.items()):
            recent = tuple(f for f in facts if f.at >= since)
            if len(recent) != len(facts):
                self.put_health(rid, recent)
        for cycle_id in [c for c in self.vms if c not in keep]:
            for rk in list(self.vms[cycle_id]):
                self.put_vm(cycle_id, rk, None)
            del self.vms[cycle_id]
        self.cycles &= keep
        self.horizon = max(self.horizon, since)


def _month(instant: datetime) -> str:
    return f"{instant.year:04d}-{instant.month:02d}"


def months_between(start: datetime, end: datetime) -> list[str]:
    month, last = YearMonth(start.year, start.month), YearMonth(end.year, end.month)
    out = []
    while month <= last:
        out.append(str(month))
        month = month.next()
    return out


def watched_cycles(now: datetime, calendar: CalendarPolicy) -> list[str]:
    """The cycles a run at ``now`` reads: the current one and the two before it."""
    current = cycle_at(now, calendar)
    previous = cycle_at(current.release_utc - timedelta(seconds=1), calendar)
    before = cycle_at(previous.release_utc - timedelta(seconds=1), calendar)
    return [current.id, previous.id, before.id]


# -- what a run at `now` reads ---------------------------------------------------------------


@dataclass(frozen=True)
class Selected:
    runs: tuple[RunFacts, ...]
    notices: tuple[NoticeOutcome, ...]
    health: tuple[HealthFact, ...]
    vms: tuple[VmCycleFacts, ...]


def select(base: FactBase, *, since: datetime, now: datetime, cycles: Iterable[str]) -> Selected:
    """The facts a watchdog run at ``now`` with look-back start ``since`` reads, in a stable order."""
    lo, hi = since - timedelta(days=1), now + timedelta(days=1)
    runs = sorted(
        (r for r in base.runs.values() if lo <= r.run_start < hi), key=lambda r: (r.run_start, r.facts.run_id.lower())
    )
    notices = sorted((n for n in base.notices.values() if n.impact_start >= since), key=lambda n: n.tracking_id)
    health = [f for rid in sorted(base.health) for f in base.health[rid] if f.at >= since]
    vms = [base.vms.get(c, {})[rk] for c in dict.fromkeys(cycles) for rk in sorted(base.vms.get(c, {}))]
    return Selected(tuple(r.facts for r in runs), tuple(notices), tuple(health), tuple(vms))


# -- the codec ---------------------------------------------------------------------------------


def shard_of(kind: str, k: str) -> int:
    return zlib.crc32(f"{kind}|{k}".encode()) % SHARDS


def _t(d: datetime | None) -> str | None:
    return None if d is None else d.astimezone(UTC).isoformat()


def _d(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


def _run_json(r: StoredRun) -> dict[str, Any]:
    f = r.facts
    return {
        "start": _t(r.run_start),
        "id": f.run_id,
        "cfg": f.configuration_id,
        "s": _t(f.start_utc),
        "e": _t(f.end_utc),
        "pre": _t(f.pre_at),
        "post": _t(f.post_at),
        "st": f.post_status,
        "vms": list(f.resource_ids),
        "gate": f.gate_cancelled,
        "subs": None if f.subscriptions is None else list(f.subscriptions),
    }


def _run_of(j: Mapping[str, Any]) -> StoredRun:
    start = _d(j["start"])
    assert start is not None
    return StoredRun(
        start,
        RunFacts(
            run_id=j["id"],
            configuration_id=j["cfg"],
            start_utc=_d(j["s"]),
            end_utc=_d(j["e"]),
            pre_at=_d(j["pre"]),
            post_at=_d(j["post"]),
            post_status=j["st"],
            resource_ids=tuple(j["vms"]),
            gate_cancelled=bool(j["gate"]),
            subscriptions=None if j["subs"] is None else tuple(j["subs"]),
        ),
    )


def _health_json(facts: tuple[HealthFact, ...]) -> list[Any]:
    return [[f.resource_id, _t(f.at), f.state, f.reboot, f.reason] for f in facts]


def _health_of(j: list[Any]) -> tuple[HealthFact, ...]:
    return tuple(HealthFact(rid, _d(at), state, bool(reboot), reason) for rid, at, state, reboot, reason in j)  # type: ignore[arg-type]


def _vm_json(v: VmCycleFacts) -> dict[str, Any]:
    return {
        "id": v.vm_id,
        "c": v.cycle_id,
        "hp": v.hotpatch,
        "st": v.status,
        "at": _t(v.status_at),
        "why": v.reason,
        "ok": _t(v.assessed_ok_at),
        "cs": v.critical_security_pending,
        "rs": v.reboot_security_pending,
        "rp": v.reboot_pending,
        "if": _t(v.install_failed_at),
        "ie": v.install_error,
        "f": {k: [_t(at), msg] for k, (at, msg) in v.findings.items()},
    }


def _vm_of(j: Mapping[str, Any]) -> VmCycleFacts:
    return VmCycleFacts(
        vm_id=j["id"],
        cycle_id=j["c"],
        hotpatch=bool(j["hp"]),
        status=j["st"],
        status_at=_d(j["at"]),
        reason=j["why"],
        assessed_ok_at=_d(j["ok"]),
        critical_security_pending=j["cs"],
        reboot_security_pending=j["rs"],
        reboot_pending=bool(j["rp"]),
        install_failed_at=_d(j["if"]),
        install_error=j["ie"],
        findings={k: (_d(at), msg) for k, (at, msg) in j["f"].items()},  # type: ignore[misc]
    )


def encode(base: FactBase, only: Iterable[int] | None = None) -> tuple[dict[str, Any], dict[int, bytes]]:
    """(meta, shard -> compressed JSON) for the shards in ``only`` (all by default)."""
    wanted = set(range(SHARDS)) if only is None else set(only)
    shards: list[dict[str, Any]] = [{"r": {}, "n": {}, "h": {}, "v": {}} for _ in range(SHARDS)]
    for cid, run in base.runs.items():
        if (i := shard_of("r", cid)) in wanted:
            shards[i]["r"][cid] = _run_json(run)
    for tid, n in base.notices.items():
        if (i := shard_of("n", tid)) in wanted:
            shards[i]["n"][tid] = n.to_json()
    for rid, facts in base.health.items():
        if (i := shard_of("h", rid)) in wanted:
            shards[i]["h"][rid] = _health_json(facts)
    for cycle_id, by_vm in base.vms.items():
        for rk, v in by_vm.items():
            k = f"{cycle_id}|{rk}"
            if (i := shard_of("v", k)) in wanted:
                shards[i]["v"][k] = _vm_json(v)
    meta = {
        "format": FORMAT,
        "horizon": _t(base.horizon),
        "built_at": _t(base.built_at),
        "months": sorted(base.months),
        "cycles": sorted(base.cycles),
    }
    blobs = {
        i: zlib.compress(json.dumps(s, separators=(",", ":")).encode(), 6) for i, s in enumerate(shards) if i in wanted
    }
    return meta, blobs


def decode(meta: Mapping[str, Any], blobs: Mapping[int, bytes]) -> FactBase:
    """The base from :func:`encode`'s output; ValueError if it is not this format or incomplete."""
    if meta.get("format") != FORMAT:
        raise ValueError(f"fact base format {meta.get('format')!r}, expected {FORMAT}")
    if set(blobs) != set(range(SHARDS)):
        raise ValueError(f"fact base has shards {sorted(blobs)}, expected 0..{SHARDS - 1}")
    horizon, built = _d(meta["horizon"]), _d(meta["built_at"])
    assert horizon is not None and built is not None
    base = FactBase(horizon=horizon, built_at=built, months=set(meta["months"]), cycles=set(meta["cycles"]))
    for i in range(SHARDS):
        s = json.loads(zlib.decompress(blobs[i]))
        base.runs.update((cid, _run_of(j)) for cid, j in s["r"].items())
        base.notices.update((tid, NoticeOutcome.from_json(j)) for tid, j in s["n"].items())
        base.health.update((rid, _health_of(j)) for rid, j in s["h"].items())
        for k, j in s["v"].items():
            cycle_id, rk = k.split("|", 1)
            base.vms.setdefault(cycle_id, {})[rk] = _vm_of(j)
    return base
