"""Structured logs for Application Insights, with secrets kept out.

The app uses the Functions host's own Application Insights integration (the
``APPLICATIONINSIGHTS_CONNECTION_STRING`` app setting): the Python worker hands every
``logging`` record to the host, which sends it as a trace. Nothing is imported for it,
so cold starts pay nothing (docs/operations.md: Telemetry).

Usage::

    from shared.telemetry import get_logger, log_context

    log = get_logger(__name__)
    with log_context(cycle_id="2026-04", run_id=correlation_id):
        log.info("run recorded", extra={"resource_id": vm_id})

Every record from such a logger carries the ids of the surrounding :func:`log_context`
(and any given with ``extra=``) twice: as record attributes (``extra``, which an
OpenTelemetry exporter turns into customDimensions) and as a ``[cycle_id=... run_id=...]``
suffix of the message, which is what reaches Application Insights whichever path carries
the log (``traces | where message has "run_id=..."``).

Before anything is emitted, a redaction filter masks what must never reach a log: storage
account keys and connection-string secrets, SAS signatures, function keys in URLs
(``code=``), bearer tokens and JWTs, secret-looking headers and JSON fields, the values of
settings marked secret in :mod:`shared.config`, and ``extra`` fields named like secrets.
The same filter guards the root logger's handlers (the worker's), so SDK loggers are
covered too.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from types import MappingProxyType
from typing import Any

MASK = "***"

#: The ids the app's logs are about, in the order they appear in the message suffix.
DIMENSIONS = ("cycle_id", "run_id", "resource_id", "event_id", "alert_id")

_NO_IDS: Mapping[str, str] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("patch_watch_log_context", default=_NO_IDS)

_SECRET_NAME = re.compile(r"(?i)(secret|passw|pwd|token|key|connection|signature|credential|authorization|sas)")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # connection strings and similar name=value secrets (storage, Service Bus, SQL, Entra ID)
    (
        re.compile(
            r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd|ClientSecret|client_secret"
            r"|AccessKey)\s*=\s*[^;&\s\"']+"
        ),
        r"\1=" + MASK,
    ),
    # quoted values of secret names: sig='...', AccountKey="...", "code": "..."
    (
        re.compile(
            r"(?i)([\"']?\b(?:sig|code|secret|token|access_token|refresh_token|api[-_]?key|subscription-key|password"
            r"|pwd|AccountKey|SharedAccessKey|SharedAccessSignature|ClientSecret|client_secret|AccessKey"
            r"|aeg-sas-key|aeg-sas-token|x-functions-key)[\"']?\s*[:=]\s*)([\"'])[^\"']*\2"
        ),
        r"\1\2" + MASK + r"\2",
    ),
    # SAS signatures, function keys and tokens in query strings: after ? or &, HTML-escaped
    # (&amp;), URL-encoded (%3F, %26, %3D) or first in a SAS token
    (
        re.compile(
            r"(?i)((?:^|(?<=[?&\s;(,\[{])|(?<=%3F)|(?<=%26))"
            r"(?:sig|code|secret|token|access_token|api[-_]?key|subscription-key)(?:=|%3D))[^&#\s\"'<>]+"
        ),
        r"\1" + MASK,
    ),
    # JWTs anywhere (Entra ID access tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), MASK),
    # Authorization schemes
    (re.compile(r"(?i)\b(Bearer|Basic|SharedAccessSignature)\s+[A-Za-z0-9._~+/=%-]{8,}"), r"\1 " + MASK),
    # secret headers written as "name: value" or "name=value"
    (
        re.compile(
            r"(?i)\b(authorization|aeg-sas-key|aeg-sas-token|x-functions-key|ocp-apim-subscription-key)"
            r"(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;}]+"
        ),
        r"\1\2" + MASK,
    ),
    # JSON fields named like secrets
    (
        re.compile(
            r"(?i)(\"(?:access_token|refresh_token|id_token|client_secret|password|secret|token|key|sas"
            r"|connection_?string|account_?key)\"\s*:\s*\")[^\"]*(\")"
        ),
        r"\1" + MASK + r"\2",
    ),
    # a bare storage account key (88 base64 characters)
    (re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])"), MASK),
)


@lru_cache(maxsize=1)
def _secret_values() -> tuple[str, ...]:
    """Values of the settings marked secret, as this process sees them (never the dev default)."""
    from shared.config import SETTINGS

    values = []
    for s in SETTINGS:
        value = os.environ.get(s.name, "").strip()
        if s.secret and len(value) >= 8 and value != s.default:
            values.append(value)
    return tuple(sorted(values, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every secret this module recognises replaced by ``***``."""
    for value in _secret_values():
        text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(name: str, value: Any) -> Any:
    if name not in DIMENSIONS and _SECRET_NAME.search(name):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    return value


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Masks secrets in the message, its arguments, the exception text and ``extra`` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_pw_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, still redacted
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and not name.startswith("_pw_"):
                setattr(record, name, _redact_value(name, value))
        record._pw_redacted = True
        return True


class ContextFilter(logging.Filter):
    """Adds the :func:`log_context` ids to the record and to the end of its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_pw_context", False):
            return True
        dims = {k: str(v) for k, v in _context.get().items()}
        for name in DIMENSIONS:
            given = getattr(record, name, None)
            if given is not None:
                dims[name] = str(given)
        for name, value in dims.items():
            setattr(record, name, value)
        record.custom_dimensions = {**dict(getattr(record, "custom_dimensions", None) or {}), **dims}
        if dims:
            ordered = [n for n in DIMENSIONS if n in dims] + sorted(set(dims) - set(DIMENSIONS))
            suffix = " ".join(f"{n}={dims[n]}" for n in ordered)
            record.msg, record.args = f"{record.getMessage()} [{suffix}]", None
        record._pw_context = True
        return True


_CONTEXT_FILTER = ContextFilter()
_REDACTING_FILTER = RedactingFilter()


_base_factory: list[Any] = []  # the factory in place before install()


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory[0](*args, **kwargs)
    _REDACTING_FILTER.filter(record)
    del record._pw_redacted  # ``extra`` is set after the factory: the filters look again
    return record


def install(root: logging.Logger | None = None) -> None:
    """Redact every record the process logs, from any logger (the app's, the SDKs'), before
    any handler sees it, whenever that handler was attached: a log-record factory that
    redacts on creation, plus the filter on the root logger's handlers (the worker's).
    Called at start-up by ``function_app`` and the CLI. Idempotent."""
    current = logging.getLogRecordFactory()
    if current is not _redacting_factory:
        _base_factory[:] = [current]
        logging.setLogRecordFactory(_redacting_factory)
    root = root or logging.getLogger()
    for handler in root.handlers:
        if _REDACTING_FILTER not in handler.filters:
            handler.addFilter(_REDACTING_FILTER)


def get_logger(name: str) -> logging.Logger:
    """A logger whose records carry the context ids and are redacted before any handler sees them."""
    logger = logging.getLogger(name)
    if _CONTEXT_FILTER not in logger.filters:
        logger.addFilter(_CONTEXT_FILTER)
        logger.addFilter(_REDACTING_FILTER)
    install()
    return logger


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Ids (cycle_id, run_id, resource_id, ...) added to every record logged inside the block."""
    merged = {**_context.get(), **{k: str(v) for k, v in ids.items() if v is not None and v != ""}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)
