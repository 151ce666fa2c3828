"""``GET /api/report``: the compliance report served by the registered function from the
app's own store (the bundled month replayed into Azurite), read as a browser reads it.

The function is invoked with the azure-functions library's own ``HttpRequest``; the
Chromium tests put it behind a loopback HTTP server (werkzeug) so a real browser loads
the page and follows its navigation links. The page's Content-Security-Policy forbids every
script, so what Chromium draws is what a browser with scripts disabled draws (Chromium's
own switch for that, ``--blink-settings=scriptEnabled=false``, stops headless rendering)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import azure.functions as func
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from shared.commands.replay import expand, replay_files
from shared.config import load_settings
from shared.domain.calendar import CalendarPolicy, cycle_at
from shared.services.ingest import IngestPolicy
from tests.e2e.test_report_chromium import chromium, run_chromium
from tests.support import app as app_support
from tests.support.events import SAMPLES, app_settings, store_for
from tests.support.report_data import ALLOWED, NOW

pytestmark = pytest.mark.azurite

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, storage_connection: str, unique_prefix: str) -> Iterator[None]:
    """The bundled October 2026 replayed into the app's own store, the app's settings on it."""
    cfg = load_settings({"ALLOWED_SUBSCRIPTION_IDS": ",".join(ALLOWED)})
    store = store_for(storage_connection, unique_prefix)
    replay_files(expand([str(SAMPLES)]), store=store, policy=IngestPolicy.from_settings(cfg), now=NOW)
    with app_settings(monkeypatch, storage_connection, unique_prefix):
        yield
    store.drop_tables()


def get(params: dict[str, str]) -> func.HttpResponse:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    request = func.HttpRequest(method="GET", url=f"http://localhost/api/report?{query}", params=params, body=b"")
    return app_support.handler("report")(request)


def test_the_function_is_registered_as_a_keyed_get() -> None:
    (out, http) = sorted(app_support.bindings("report"), key=lambda b: b["type"])
    assert http["type"] == "httpTrigger" and http["route"] == "report" and http["methods"] == ["GET"]
    assert http["authLevel"].lower() == "function"
    assert out["type"] == "http"


def test_the_page_is_the_cycle_report_with_its_navigation(served: None) -> None:
    response = get({"cycle": "2026-10", "code": "k3y"})

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy  # nothing loads, no script runs
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_body().decode()
    assert "<title>Patch compliance 2026-10</title>" in page
    assert page.count('<svg class="pw-timeline"') == 3  # the overview and the two resource groups
    assert 'data-resource-group="rg-web-prod"' in page and 'data-resource-group="rg-sqlvm-prod"' in page
    # The links keep the caller's key: a browser has no other way to send it.
    assert '<a rel="prev" href="?cycle=2026-09&amp;code=k3y">' in page
    assert '<a rel="next" href="?cycle=2026-11&amp;code=k3y">' in page
    assert "Generated at <time>" in page
    for loads_something in ("<script", "<link", "<img", " src=", "url(http", "@import"):
        assert loads_something not in page


def test_the_json_is_the_command_s_contract_with_the_neighbouring_cycles(served: None) -> None:
    response = get({"cycle": "2026-10", "format": "json"})

    assert response.status_code == 200 and response.mimetype == "application/json"
    body = json.loads(response.get_body())
    assert body["cycle"] == "2026-10"
    assert body["summary"]["runs"] == {"succeeded": 4, "failed": 1, "scheduled": 1}
    assert (body["previous_cycle"], body["next_cycle"]) == ("2026-09", "2026-11")
    generated = datetime.fromisoformat(body["generated_at"])
    assert abs((generated - datetime.now(UTC)).total_seconds()) < 120


def test_without_a_cycle_it_serves_the_cycle_in_force(served: None) -> None:
    body = json.loads(get({"format": "json"}).get_body())
    assert body["cycle"] == str(cycle_at(datetime.now(UTC), CalendarPolicy()).month)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"cycle": "October"}, "cycle: expected a month as YYYY-MM"),
        ({"cycle": "2026-13"}, "cycle:"),
        ({"cycle": "2026-10", "format": "pdf"}, "format: expected one of html, json, got 'pdf'"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(served: None, params: dict[str, str], named: str) -> None:
    response = get(params)
    assert response.status_code == 400
    assert named in json.loads(response.get_body())["error"]


def test_storage_down_is_a_503_to_try_again(monkeypatch: pytest.MonkeyPatch, unique_prefix: str) -> None:
    from tests.support.azurite import closed_connection

    with app_settings(monkeypatch, closed_connection(), unique_prefix):
        response = get({"cycle": "2026-10"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "cannot be read" in json.loads(response.get_body())["error"]


def test_a_cycle_with_nothing_recorded_explains_itself(served: None) -> None:
    page = get({"cycle": "2026-03"}).get_body().decode()
    assert '<section class="empty"><h2>Nothing recorded for 2026-03</h2>' in page
    assert "Patch Watch was not watching then" in page
    future = get({"cycle": "2031-01"}).get_body().decode()
    assert "This cycle has not started" in future


class _Gateway:
    """The app's HTTP functions behind a loopback server, as the host routes ``/api/<route>``."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.server = make_server("127.0.0.1", 0, self._app)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @Request.application
    def _app(self, request: Request) -> Response:
        self.seen.append(request.full_path)
        if request.path != "/api/report":
            return Response("not found", status=404)
        req = func.HttpRequest(
            method=request.method,
            url=request.url,
            headers=dict(request.headers),
            params=dict(request.args),
            body=request.get_data(),
        )
        answer = app_support.handler("report")(req)
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-type"}
        return Response(answer.get_body(), status=answer.status_code, headers=headers, mimetype=answer.mimetype)

    def __enter__(self) -> _Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


def test_a_browser_draws_the_served_page_under_its_no_script_policy_and_follows_its_links(
    served: None, tmp_path: Path
) -> None:
    binary = chromium()
    with _Gateway() as gateway:
        first = f"{gateway.url}/api/report?cycle=2026-10&code=k3y"
        shot = tmp_path / "report-served-2026-10.png"
        done = run_chromium(binary, f"--screenshot={shot}", first)
        assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
        dom = run_chromium(binary, "--dump-dom", first).stdout

        assert "<h1>Patch compliance 2026-10" in dom
        assert dom.count('<svg class="pw-timeline"') == 3
        assert dom.count('class="pw-run"') >= 6
        nav = {rel: href for rel, href in _links(dom)}
        following = urljoin(first, nav["next"])
        assert parse_qs(urlsplit(following).query) == {"cycle": ["2026-11"], "code": ["k3y"]}

        november = run_chromium(binary, "--dump-dom", following).stdout
        assert "<h1>Patch compliance 2026-11" in november
        back = urljoin(following, dict(_links(november))["prev"])
        assert parse_qs(urlsplit(back).query) == {"cycle": ["2026-10"], "code": ["k3y"]}

        empty = run_chromium(binary, "--dump-dom", f"{gateway.url}/api/report?cycle=2025-01").stdout
        assert "Nothing recorded for 2025-01" in empty

    assert "/api/report?cycle=2026-11&code=k3y" in gateway.seen  # the browser really asked for the next cycle
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    shutil.copyfile(shot, out / shot.name)  # docs/report-served.png is a copy of this screenshot


def _links(dom: str) -> list[tuple[str, str]]:
    import re

    return [(m[0], m[1].replace("&amp;", "&")) for m in re.findall(r'<a rel="(prev|next)" href="([^"]*)"', dom)]
