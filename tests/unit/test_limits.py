"""The reference's Limits table states the limits the code enforces (shared/limits.py), and
each limit's reason names it when something goes beyond it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import limits
from shared.domain.events import DecodeError, decode_event, parse_instant, parse_payload
from tests.support.events import one, sample

README = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def limits_table() -> dict[str, str]:
    text = README.read_text().split("### Limits", 1)[1]
    rows = [line for line in text.splitlines() if line.startswith("| ")][2:]
    return {cells[1].strip(): cells[2].strip() for cells in (row.split("|") for row in rows)}


def test_the_readme_table_states_the_enforced_limits() -> None:
    table = limits_table()
    assert table["Body and one event"] == f"{limits.MAX_BODY_BYTES:,} bytes"
    assert table["Events per body on `POST /api/alerts`"].startswith(f"{limits.MAX_EVENTS_PER_BODY} ")
    assert table["One text field (ids, status, names, ...)"] == f"{limits.MAX_TEXT_UTF16:,} UTF-16 characters"
    assert table["Nesting of objects and arrays"] == f"{limits.MAX_DEPTH} levels"
    assert table["Escaped key part"].startswith(f"{limits.ESCAPED_KEY_UTF16} UTF-16 characters")
    assert table["Alert details"].startswith(f"{limits.ALERT_DETAILS_UTF16:,} characters")
    assert table["Alert message"].startswith(f"{limits.ALERT_MESSAGE_UTF16:,} characters")
    assert table["Instants"].startswith(
        f"{limits.INSTANT_MIN:%Y-%m-%dT%H:%M:%SZ} to {limits.INSTANT_MAX:%Y-%m-%dT%H:%M:%SZ}"
    )


def test_each_limit_is_named_when_exceeded() -> None:
    event = one(sample("07-web-sat-post.eventgrid.json"))
    event["data"]["status"] = "x" * (limits.MAX_TEXT_UTF16 + 1)
    with pytest.raises(DecodeError, match=f"{limits.MAX_TEXT_UTF16:,}-character limit"):
        decode_event(event)
    nested: object = {}
    for _ in range(limits.MAX_DEPTH + 1):
        nested = {"n": nested}
    with pytest.raises(DecodeError, match=f"{limits.MAX_DEPTH}-level limit"):
        decode_event(dict(event, data=nested))
    with pytest.raises(DecodeError, match="before 1601-01-01"):
        parse_instant("1600-12-31T23:59:59Z", "eventTime")
    with pytest.raises(DecodeError, match=f"{limits.MAX_BODY_BYTES:,}-byte limit"):
        parse_payload(json.dumps([event]) + " " * limits.MAX_BODY_BYTES)


def test_utf16_helpers_count_as_azure_tables_does() -> None:
    assert limits.utf16_units("a\u00e9\U0001f600") == 4
    cut = limits.cut_utf16("\U0001f600" * 10, 5)
    assert cut == "\U0001f600" * 2 and limits.utf16_units(cut) <= 5
