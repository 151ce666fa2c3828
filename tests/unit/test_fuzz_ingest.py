"""Fuzzing the decoders and ingest against a store that applies Azure Table Storage's
documented limits (:mod:`tests.support.table_limits`): whatever arrives, the outcome is a
recorded event or a recorded refusal, never an exception, and every recorded event reads
back as it was decoded (nothing is quarantined).

Inputs: the published samples and the bundled month, mutated at random paths with
hostile values (texts at and over the limits, lone surrogates, emoji, key-forbidden
characters, dates at and beyond the ends of what Tables hold, offsets that overflow,
deep nesting, any JSON), plus arbitrary bodies. ``make test`` runs ``FUZZ_EXAMPLES``
(default 1,000) examples per test, ``make fuzz`` many more (docs/reference.md: Limits).
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from shared.domain.events import (
    EVENT_GRID_DOOR,
    HEALTH_DOOR,
    MAINTENANCE_DOOR,
    WEBHOOK_DOOR,
    DecodeError,
    HealthEvent,
    MaintenanceEvent,
    ResourceHealthAlert,
    SqlMaintenanceNotice,
    decode_event,
)
from shared.limits import MAX_DEPTH, MAX_EVENTS_PER_BODY, MAX_TEXT_UTF16
from shared.services.ingest import IngestPolicy, Outcome, ingest_event, ingest_payload
from tests.support.events import one, published, sample
from tests.support.table_limits import limited_store

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
NOW = __import__("datetime").datetime(2026, 10, 31, 12, tzinfo=__import__("datetime").UTC)

BASES: list[Any] = [
    one(sample("04-web-sat-pre.eventgrid.json")),
    one(sample("07-web-sat-post.eventgrid.json")),
    one(sample("09-sqlhosts-pre.cloudevent.json")),
    one(sample("05-health-web-01-recovered.eventgrid.json")),
    sample("06-health-web-01-rebooted.eventgrid.json")[1],
    sample("10-health-sqlvm.cloudevent.json")[1],
    sample("14-sql-notice-R3KT-planned.alert.json"),
    published("events/azure-monitor-common-alert.resourcehealth.test-action.json"),
    one(published("events/subscription-validation-event.eventgrid.json")),
]
DOORS = [None, WEBHOOK_DOOR, EVENT_GRID_DOOR, MAINTENANCE_DOOR, HEALTH_DOOR]


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"n": value}
    return value


HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\ud800",
            "a\udfffb",
            "\U0001f600" * 300,
            "\x00\x1f\x7f\x85",
            "/\\#?%|~",
            "0999-01-01T00:00:00Z",
            "1600-12-31T23:59:59Z",
            "1601-01-01T00:00:00Z",
            "9999-12-31T23:59:59.9999999Z",
            "9999-12-31T23:00:00-05:00",
            "0001-01-01T00:30:00+01:00",
            "2026-10-17T00:47:12.4031156+14:00",
            "2026-02-30T10:00:00Z",
            "Succeeded",
            "Failed",
            "Planned",
            "Available",
            "Unavailable",
            "/subscriptions/x/providers/Microsoft.Maintenance/maintenanceConfigurations/y/providers/"
            "microsoft.maintenance/applyupdates/16000101000000",
        ]
    ),
    st.integers(min_value=MAX_TEXT_UTF16 - 2, max_value=MAX_TEXT_UTF16 + 2).map(lambda n: "F" * n),
    st.integers(min_value=300, max_value=700).map(lambda n: "/subscriptions/" + "\u00e9" * n + "/providers/a/b"),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=12,
)
VALUES = st.one_of(
    HOSTILE_TEXT,
    JSON,
    st.integers(min_value=MAX_DEPTH - 3, max_value=MAX_DEPTH + 40).map(_deep),
    st.lists(HOSTILE_TEXT, max_size=50),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = root
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return root


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A published or bundled envelope with 1 to 3 values replaced (or keys renamed or added)."""
    element = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(element)))
        action = draw(st.sampled_from(["set", "set", "add", "rename"]))
        target = element
        for p in path:
            target = target[p]
        if action == "add" and isinstance(target, dict):
            target[draw(HOSTILE_TEXT)] = draw(VALUES)
        elif action == "rename" and path and isinstance(path[-1], str):
            parent = element
            for p in path[:-1]:
                parent = parent[p]
            parent[draw(st.sampled_from([path[-1].upper(), path[-1] + "\ud800", path[-1].lower()]))] = parent.pop(
                path[-1]
            )
        else:
            element = _set(element, path, draw(VALUES))
    return element


def _reads_back(store: Any, event: Any) -> bool:
    if isinstance(event, MaintenanceEvent):
        return event in store.run_events(event.correlation_id)
    if isinstance(event, HealthEvent | ResourceHealthAlert):
        return event in store.health_events(event.resource_id)
    if isinstance(event, SqlMaintenanceNotice):
        return event in store.notice_events(event.tracking_id)
    return False


@FUZZ
@given(element=mutated(), door=st.sampled_from(DOORS))
def test_decoding_refuses_with_a_decode_error_or_decodes(element: Any, door: Any) -> None:
    try:
        decode_event(element, door=door)
    except DecodeError as exc:
        assert exc.field and exc.problem


def _comma_subscription() -> Any:
    """Found by ``make fuzz``: a subscription id holding a comma was accepted and read back
    as two (lists of texts are stored comma-separated)."""
    element = one(sample("04-web-sat-pre.eventgrid.json"))
    element["data"]["resourceSubscriptionIds"] = [","]
    return element


@FUZZ
@example(element=_comma_subscription(), door=None, twice=False)
@given(element=mutated(), door=st.sampled_from(DOORS), twice=st.booleans())
def test_ingest_records_or_refuses_within_the_table_limits(element: Any, door: Any, twice: bool) -> None:
    store = limited_store()
    policy = IngestPolicy(door=door)
    result = ingest_event(element, source="fuzz", store=store, policy=policy, now=NOW)
    event(result.outcome.value)  # --hypothesis-show-statistics: how often each outcome came
    # SYNTHETIC: an action group's test action, recorded beside the refusals
    assert result.outcome in (Outcome.ACCEPTED, Outcome.REJECTED, Outcome.IGNORED, Outcome.SYNTHETIC)
    if result.outcome in (Outcome.REJECTED, Outcome.SYNTHETIC):
        assert result.reason and len(store.list_rejections("2026-10")) == 1
    if result.outcome is Outcome.ACCEPTED:
        assert _reads_back(store, result.event)
    if twice:  # a redelivery: a duplicate, or the same refusal, recorded once
        again = ingest_event(element, source="fuzz", store=store, policy=policy, now=NOW)
        assert again.outcome in ({Outcome.DUPLICATE} if result.outcome is Outcome.ACCEPTED else {result.outcome}), (
            again.reason
        )
    assert not [r for r in store.list_rejections("2026-10") if r.source.startswith("store:")]  # nothing quarantined


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.lists(mutated(), min_size=0, max_size=MAX_EVENTS_PER_BODY + 2).map(lambda xs: json.dumps(xs).encode()),
        mutated().map(lambda x: json.dumps(x).encode("utf-8", "surrogatepass")),
        st.integers(min_value=MAX_DEPTH, max_value=1200).map(lambda n: ("[" * n + "]" * n).encode()),
    ),
    door=st.sampled_from(DOORS),
)
def test_any_body_is_recorded_or_refused(body: bytes, door: Any) -> None:
    store = limited_store()
    policy = IngestPolicy(door=door, max_events=MAX_EVENTS_PER_BODY if door is WEBHOOK_DOOR else None)
    results = ingest_payload(body, source="fuzz", store=store, policy=policy, now=NOW)
    assert results and all(r.outcome in set(Outcome) for r in results)
    assert all(r.reason for r in results if r.outcome is Outcome.REJECTED)
