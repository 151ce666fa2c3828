"""A body before decoding: parsing (size, depth, constants), the structure checks, the
canonical form duplicates are compared in, and text that Table Storage can hold."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from shared.domain.events.base import MAX_EVENT_BYTES, DecodeError, _kind
from shared.domain.events.records import _TEXTS, DomainEvent, _columns
from shared.limits import MAX_DEPTH, MAX_TEXT_UTF16, utf16_units

# -- payloads ---------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_payload(raw: bytes | str, *, max_bytes: int = MAX_EVENT_BYTES) -> list[Any]:
    """A body as Event Grid or an action group posts it: one JSON object or an array.
    Returns the elements, each to be decoded by :func:`decode_event`."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise DecodeError("payload", f"{len(data):,} bytes is over the {max_bytes:,}-byte limit")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DecodeError("payload", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise DecodeError("payload", "empty body")
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise DecodeError("payload", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise DecodeError("payload", f"nested deeper than the {MAX_DEPTH}-level limit") from None
    except ValueError as exc:
        raise DecodeError("payload", f"not JSON: {exc}") from None
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        if not value:
            raise DecodeError("payload", "an empty array holds no event")
        return value
    raise DecodeError("payload", f"expected an event object or an array of events, got {_kind(value)}")


def encoded_size(element: Any) -> int:
    return len(json.dumps(element, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_structure(element: Any, path: str = "") -> None:
    """Refuse what no store can hold or no decoder should walk: nesting deeper than
    :data:`~shared.limits.MAX_DEPTH` and lone surrogates (``"\\ud800"`` is valid JSON
    but not Unicode text). Iterative: a structure of any depth is checked without recursion."""
    stack: list[tuple[Any, str, int]] = [(element, path, 0)]
    while stack:
        value, at, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise DecodeError(at or "event", f"nested deeper than the {MAX_DEPTH}-level limit")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str) and _SURROGATE.search(k):
                    raise DecodeError(at or "event", f"a key holds a lone surrogate ({_surrogate(k)})")
                stack.append(
                    (v, f"{at}.{k}" if isinstance(k, str) and at else f"{at}[{k}]" if at else str(k), depth + 1)
                )
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise DecodeError(at or "event", f"holds a lone surrogate ({_surrogate(value)}): not Unicode text")


def _surrogate(text: str) -> str:
    m = _SURROGATE.search(text)
    assert m is not None
    return f"U+{ord(m.group()):04X} at character {m.start():,}"


def storable_text(text: str) -> str:
    """``text`` with each lone surrogate written as its ``\\uXXXX`` escape, so that it can be stored."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def compact_json(element: Any, *, sort_keys: bool = False) -> str:
    """Compact JSON of a parsed element, whatever its depth: levels beyond
    :data:`~shared.limits.MAX_DEPTH` are replaced by a marker (what a refusal keeps)."""
    try:
        return json.dumps(element, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    except RecursionError:
        return json.dumps(_flatten(element), separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)


def _flatten(element: Any) -> Any:
    marker = f"[nested deeper than {MAX_DEPTH} levels: not kept]"
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(element, root, 0, 0)]
    while stack:
        value, parent, slot, depth = stack.pop()
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            parent[slot] = marker
        elif isinstance(value, dict):
            parent[slot] = copy = dict.fromkeys(value)
            stack.extend((v, copy, k, depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            parent[slot] = copy_list = [None] * len(value)
            stack.extend((v, copy_list, i, depth + 1) for i, v in enumerate(value))
        else:
            parent[slot] = value
    return root[0]


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}(?::?\d{2})?)?")
_EVENT_GRID_KEEPS = ("id", "topic", "subject", "eventtype", "eventtime", "dataversion", "data")


def canonical_envelope(element: Any) -> Any:
    """An Event Grid or CloudEvents envelope in the form that survives every door: the
    Functions host parses an event with Newtonsoft (date strings re-written, 7-digit
    fractions trimmed) and the Python worker rebuilds it from the fields it knows
    (``metadataVersion`` and ``dataschema`` dropped, times cut to microseconds). So only
    the fields both paths keep are kept, and every ISO date-time string is written one
    way: UTC, ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, trailing zeros dropped (without a zone
    it stays without one). Anything else (an action group's alert) is returned as it is.
    Stored with its keys sorted (``compact_json(..., sort_keys=True)``)."""
    if not isinstance(element, dict):
        return element
    lower = {str(k).lower() for k in element}
    if "schemaid" in lower or not ({"eventtype", "specversion"} & lower):
        return element
    if "specversion" in lower:
        kept = {k: v for k, v in element.items() if str(k).lower() != "dataschema" and v is not None}
    else:
        kept = {k: v for k, v in element.items() if str(k).lower() in _EVENT_GRID_KEEPS and v is not None}
    return _canonical_times(kept)


def _canonical_times(value: Any) -> Any:
    if isinstance(value, str):
        return _canonical_time(value)
    if isinstance(value, list):
        return [_canonical_times(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical_times(v) for k, v in value.items()}
    return value


def _canonical_time(text: str) -> str:
    m = _ISO.fullmatch(text)
    if not m:
        return text
    y, mo, d, h, mi, se, fraction, zone = m.groups()
    try:
        value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(se), int((fraction or "0")[:6].ljust(6, "0")))
        if zone and zone != "Z":
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            value = value - offset if zone[0] == "+" else value + offset
    except (ValueError, OverflowError):
        return text
    out = f"{value.year:04d}-{value:%m-%dT%H:%M:%S}"
    if value.microsecond:
        out += f".{value.microsecond:06d}".rstrip("0")
    return out + ("Z" if zone else "")


def check_record(event: DomainEvent) -> None:
    """Every column of the event's row within what a Table property holds, and every list
    of texts storable as one comma-separated text (an item holding a comma would read back
    as two: found by the fuzz tests)."""
    for name, column, kind, _ in _columns(type(event)):
        value = getattr(event, name)
        if kind == _TEXTS and value and any("," in item for item in value):
            raise DecodeError(column, "an item holds a comma: not an Azure id")
    for column, value in event.to_record().items():
        if isinstance(value, str) and len(value) > MAX_TEXT_UTF16 // 2 and utf16_units(value) > MAX_TEXT_UTF16:
            raise DecodeError(
                column, f"{utf16_units(value):,} UTF-16 characters is over the {MAX_TEXT_UTF16:,}-character limit"
            )
