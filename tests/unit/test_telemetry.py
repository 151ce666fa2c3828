"""Logs carry the cycle, run and resource they are about, and never a secret."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from shared import telemetry
from shared.telemetry import get_logger, log_context

ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.c2lnbmF0dXJlLXBhcnQ"
VM = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
RUN = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/testrg/providers/Microsoft.Maintenance/"
    "maintenanceConfigurations/contoso/providers/microsoft.maintenance/applyupdates/20230509150000"
)


class Capture(logging.Handler):
    """What a handler (the worker's, in Azure) would emit: the formatted line and the record."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, Capture]]:
    name = f"pwtest.{uuid.uuid4().hex[:8]}"
    log = get_logger(name)
    log.propagate = False
    log.setLevel(logging.DEBUG)
    handler = Capture()
    log.addHandler(handler)
    yield log, handler
    log.removeHandler(handler)


@pytest.mark.parametrize(
    ("message", "secret", "kept"),
    [
        (
            f"storage: DefaultEndpointsProtocol=https;AccountName=stpw;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net",
            ACCOUNT_KEY,
            "AccountName=stpw",
        ),
        (
            "GET https://stpw.blob.core.windows.net/c/b?sv=2022-11-02&se=2026-01-01&sig=AbC%2Bdef123%3D failed",
            "AbC%2Bdef123%3D",
            "sv=2022-11-02",
        ),
        (
            "posting to https://func.azurewebsites.net/api/alerts?code=Zm9vYmFyYmF6cXV4== now",
            "Zm9vYmFyYmF6cXV4==",
            "/api/alerts",
        ),
        (
            f"headers: {{'Authorization': 'Bearer {JWT}', 'x-ms-client-request-id': 'abc'}}",
            JWT,
            "x-ms-client-request-id",
        ),
        (f"token acquired {JWT} for ARM", JWT, "for ARM"),
        (
            'token response {"token_type": "Bearer", "access_token": "opaque-token-value-123"}',
            "opaque-token-value-123",
            "token_type",
        ),
        ("publish with aeg-sas-key: dG9waWNrZXk9PQ==", "dG9waWNrZXk9PQ==", "publish with"),
        (
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=c2Vj/cmV0==",
            "c2Vj/cmV0==",
            "SharedAccessKeyName=root",
        ),
        (f"the key alone: {ACCOUNT_KEY}", ACCOUNT_KEY, "the key alone"),
    ],
)
def test_secrets_never_reach_the_emitted_line(
    captured: tuple[logging.Logger, Capture], message: str, secret: str, kept: str
) -> None:
    log, handler = captured
    log.warning(message)
    (line,) = handler.lines
    assert secret not in line
    assert telemetry.MASK in line
    assert kept in line, "redaction must not eat the context an operator needs"


def test_secrets_in_format_arguments_and_exceptions_are_masked(captured: tuple[logging.Logger, Capture]) -> None:
    log, handler = captured
    log.info("connecting with %s", f"AccountKey={ACCOUNT_KEY}")
    try:
        raise RuntimeError(f"request failed: Authorization: Bearer {JWT}")
    except RuntimeError:
        log.exception("assessment failed for %s", VM)
    text = "\n".join(handler.lines)
    assert ACCOUNT_KEY not in text
    assert JWT not in text
    assert "RuntimeError: request failed" in text, "the traceback is still there, minus the token"
    assert VM in text


def test_extra_fields_named_like_secrets_are_masked(captured: tuple[logging.Logger, Capture]) -> None:
    log, handler = captured
    log.info("token refreshed", extra={"client_secret": "s3cr3t-value", "access_token": JWT, "resource_id": VM})
    (record,) = handler.records
    assert record.__dict__["client_secret"] == telemetry.MASK
    assert record.__dict__["access_token"] == telemetry.MASK
    assert record.__dict__["resource_id"] == VM


def test_values_of_secret_settings_are_masked_wherever_they_appear(
    captured: tuple[logging.Logger, Capture], monkeypatch: pytest.MonkeyPatch
) -> None:
    log, handler = captured
    monkeypatch.setenv("ALERTS_TOPIC_KEY", "topic-key-that-looks-harmless")
    monkeypatch.setenv("OUTCOMES_STORAGE", "https://stoutcomes.table.core.windows.net/?opaque-sas-without-sig")
    telemetry._secret_values.cache_clear()
    try:
        log.error("publish failed using topic-key-that-looks-harmless")
        log.error("cannot reach https://stoutcomes.table.core.windows.net/?opaque-sas-without-sig")
    finally:
        telemetry._secret_values.cache_clear()
    assert all("topic-key-that-looks-harmless" not in line for line in handler.lines)
    assert all("opaque-sas-without-sig" not in line for line in handler.lines)


def test_the_root_guard_masks_other_libraries_logs_too() -> None:
    parent = logging.getLogger(f"pwroot{uuid.uuid4().hex[:8]}")
    parent.propagate = False
    handler = Capture()
    parent.addHandler(handler)
    telemetry.install(parent)
    telemetry.install(parent)  # idempotent
    assert handler.filters.count(telemetry._REDACTING_FILTER) == 1
    sdk = logging.getLogger(parent.name + ".azure.core.pipeline")
    sdk.warning("Request URL: 'https://stpw.queue.core.windows.net/assessments?sig=c2lnbmF0dXJl&sp=r'")
    assert "c2lnbmF0dXJl" not in handler.lines[0]
    assert "sp=r" in handler.lines[0]


def test_logs_carry_cycle_run_and_resource_ids(captured: tuple[logging.Logger, Capture]) -> None:
    log, handler = captured
    with log_context(cycle_id="2026-04"):
        with log_context(run_id=RUN):
            log.info("post event recorded", extra={"resource_id": VM})
        log.info("cycle started")
    log.info("outside")
    first, second, third = handler.records
    assert first.__dict__["custom_dimensions"] == {"cycle_id": "2026-04", "run_id": RUN, "resource_id": VM}
    assert first.__dict__["run_id"] == RUN
    assert handler.lines[0] == f"INFO post event recorded [cycle_id=2026-04 run_id={RUN} resource_id={VM}]"
    assert handler.lines[1] == "INFO cycle started [cycle_id=2026-04]"
    assert handler.lines[2] == "INFO outside"
    assert third.__dict__["custom_dimensions"] == {}
    assert second.__dict__["cycle_id"] == "2026-04"


def test_importing_telemetry_loads_no_azure_sdk() -> None:
    code = "import sys, shared.telemetry; print(sorted(m for m in sys.modules if m.startswith(('azure', 'opentelemetry'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
