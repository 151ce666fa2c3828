"""Redaction is active in the app as it runs: after the function app (or the CLI) starts,
whatever the app's own loggers and the SDKs' log reaches every handler masked, whichever
handler it is and whenever it was attached. Issue 10: nothing imported the filter, and
its patterns missed quoted values, SAS with ``sig`` first, URL-encoded and HTML-escaped
secrets."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIG = "Xk9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcd%3D"
FUNCTION_KEY = "q1w2e3r4t5y6u7i8o9p0AbCdEfGhIjKlMnOpQrStUvWxYz=="
TOPIC_KEY = "TopicKey0123456789abcdefghijklmnopqrstuvwxyzABCD="
TOKEN = "abcDEF123.ghiJKL456-mnoPQR789_stuVWX"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Capture]:
    monkeypatch.setenv("ALERTS_TOPIC_KEY", TOPIC_KEY)
    from shared import telemetry

    telemetry._secret_values.cache_clear()
    import function_app  # noqa: F401  the composition root installs redaction at start-up

    handler = Capture()  # attached after start-up, as a worker's handler may be
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        telemetry._secret_values.cache_clear()


LEAKS = [
    ("sas in a url", f"GET https://acct.blob.core.windows.net/c/b?sv=2024-08-04&se=2026-10-01&sig={SIG}", SIG),
    ("sas with sig first", f"sas token sig={SIG}&se=2026-10-01T00:00:00Z&sp=r", SIG),
    ("bearer token", f"Authorization: Bearer {TOKEN}", TOKEN),
    ("code= key", f"posting to https://app.azurewebsites.net/api/alerts?code={FUNCTION_KEY}", FUNCTION_KEY),
    ("topic key header", f"headers {{'aeg-sas-key': '{TOPIC_KEY}'}}", TOPIC_KEY),
    ("topic key setting value", f"topic answered 401 for key {TOPIC_KEY}", TOPIC_KEY),
    ("quoted sig", f"query sig='{SIG}'", SIG),
    ("quoted json sig", f'{{"sig": "{SIG}"}}', SIG),
    ("quoted AccountKey", 'conn AccountKey="' + "k" * 40 + '"', "k" * 40),
    ("url-encoded sas", f"redirect=https%3A%2F%2Fa.blob.core.windows.net%2Fc%3Fse%3D1%26sig%3D{SIG}", SIG),
    ("url-encoded code", f"next=%2Fapi%2Falerts%3Fcode%3D{FUNCTION_KEY}", FUNCTION_KEY),
    ("html-escaped sas", f"<a href='https://a.blob.core.windows.net/c?se=1&amp;sig={SIG}'>", SIG),
    ("html-escaped code", f"https://app.azurewebsites.net/api/alerts?x=1&amp;code={FUNCTION_KEY}", FUNCTION_KEY),
]


@pytest.mark.parametrize(("what", "text", "secret"), LEAKS, ids=[w for w, _, _ in LEAKS])
@pytest.mark.parametrize(
    "logger_name", ["patchwatch.events", "shared.services.watchdog", "azure.core.pipeline.policies.http_logging_policy"]
)
def test_the_apps_loggers_never_emit_a_secret(
    capture: Capture, logger_name: str, what: str, text: str, secret: str
) -> None:
    logging.getLogger(logger_name).warning("%s", text)
    logging.getLogger(logger_name).warning(text)
    assert capture.lines, what
    for line in capture.lines:
        assert secret not in line, line
        assert "***" in line


def test_the_cli_installs_redaction_at_start_up() -> None:
    script = (
        "import logging, sys\n"
        "from shared.cli import main\n"
        "main(['plan', '--month', '2026-04', '--json'])\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        f"logging.getLogger('shared.commands').warning('sig={SIG}&se=1')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert SIG not in out.stderr and "***" in out.stderr
