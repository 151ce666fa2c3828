"""Every limit the app enforces on what it is sent, declared once.

The edge (``shared.domain.events``, ``shared.services.ingest``, the HTTP function and
the queue functions) refuses anything beyond these with a recorded reason naming the
limit; the stores rely on them so that every value they write reads back. docs/reference.md's
"Limits" table lists the same figures (``tests/unit/test_limits.py`` checks it does).

Azure Table Storage's own limits, which several of these follow, are documented in
"Understanding the Table service data model"
(https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model):
a string property holds up to 64 KiB (32K UTF-16 characters), PartitionKey and RowKey up
to 1 KiB each and none of ``/ \\ # ?`` or control characters, an entity up to 1 MiB, and
DateTime values from 1601-01-01 (UTC) to 9999-12-31.
"""

from __future__ import annotations

from datetime import UTC, datetime

MAX_BODY_BYTES = 1024 * 1024
"""A posted body and one event: Event Grid's limit for one event (1 MB)."""

MAX_EVENTS_PER_BODY = 10
"""Events in one body posted to ``/api/alerts``: an action group sends one alert per call
(Event Grid batches never reach that door: they come through the Event Grid functions)."""

MAX_TEXT_UTF16 = 32_000
"""UTF-16 code units in one text field of an event (a Table string property holds 32K)."""

MAX_DEPTH = 32
"""Nesting of objects and arrays in one event (the published samples nest 5 deep)."""

INSTANT_MIN = datetime(1601, 1, 1, tzinfo=UTC)
"""The earliest instant accepted: Azure Tables' DateTime starts here."""

INSTANT_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
"""The latest instant accepted."""

TABLE_KEY_BYTES = 1024
"""PartitionKey and RowKey, in bytes of UTF-16."""

TABLE_PROPERTY_BYTES = 64 * 1024
"""One property (a string counts 2 bytes per UTF-16 code unit)."""

TABLE_ENTITY_BYTES = 1024 * 1024
"""One entity, properties and keys together."""

ESCAPED_KEY_UTF16 = 480
"""An escaped key part longer than this (in UTF-16 code units) is replaced by a readable
prefix and the sha256 of the whole value, so that a row key (a 21-character time and kind
prefix and one such part) stays under :data:`TABLE_KEY_BYTES` (512 UTF-16 units)."""

ALERT_DETAILS_UTF16 = 16_000
"""The details of one alert, as stored JSON: longer lists keep their first items and a
count of the rest, so the JSON always reads back."""

ALERT_MESSAGE_UTF16 = 4_000
"""One alert message (and each transition's message)."""

REJECTED_RAW_UTF16 = 16_000
"""What a refusal keeps of the refused text (its size and sha256 are kept whole)."""


def utf16_units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what Table Storage counts)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut_utf16(text: str, limit: int = MAX_TEXT_UTF16) -> str:
    """``text`` cut to at most ``limit`` UTF-16 code units (never inside a character)."""
    if len(text) * 2 <= limit or utf16_units(text) <= limit:
        return text
    out = text[:limit]
    while utf16_units(out) > limit:
        out = out[: len(out) - max(1, (utf16_units(out) - limit) // 2)]
    return out
