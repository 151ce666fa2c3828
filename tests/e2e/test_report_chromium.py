"""The compliance report opens in a real browser: headless Chromium (Debian's ``chromium``)
renders the page, takes a screenshot and dumps its DOM.

Skipped, with the reason, only where Chromium is absent outside CI; in CI (``CI=true``) an
absent Chromium is a failure (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from shared.domain.report import build_report
from shared.presentation.report_html import render_html
from shared.presentation.style import BLUE, VERMILLION
from tests.support.report_data import inputs

WINDOW = (1400, 2000)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if found:
        return found
    reason = "Debian's chromium is not installed (apt-get install -y chromium); CI installs it"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI must render the report in Chromium: {reason}")
    pytest.skip(reason)


def run_chromium(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="pw-chromium-") as profile:
        return subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )


def _near(rgb: tuple[int, int, int], hex_colour: str, tolerance: int = 24) -> bool:
    want = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, want, strict=True))


def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = chromium()
    report = build_report(inputs())
    page = tmp_path / "report-2026-10.html"
    page.write_text(render_html(report), encoding="utf-8")
    shot = tmp_path / "report-2026-10.png"

    done = run_chromium(binary, f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.is_file(), done.stderr[-2000:]
    print(f"screenshot: {shot}")
    with Image.open(shot) as image:
        assert image.format == "PNG"
        assert image.size == WINDOW
        counted = image.convert("RGB").getcolors(WINDOW[0] * WINDOW[1]) or []
    colours = Counter({colour: n for n, colour in counted})
    white = sum(n for c, n in colours.items() if min(c) >= 245)
    assert white < 0.9 * WINDOW[0] * WINDOW[1], "the page is (nearly) blank"
    assert len(colours) > 40, "too few colours for text, tables and timelines"
    # The timelines' own colours made it to the screen: succeeded runs (blue), an ongoing dip and failures (vermillion).
    assert any(_near(c, BLUE) for c in colours)
    assert any(_near(c, VERMILLION) for c in colours)

    dom = run_chromium(binary, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count('<svg class="pw-timeline"') == len(report.groups) + 1
    assert html.count('class="pw-run"') >= len(report.runs)
    assert 'class="pw-dip" data-state="Unavailable"' in html
    assert 'class="pw-alert" data-kind="unhealthy-after-maintenance" data-state="open"' in html
    assert 'class="pw-marker"' in html
    for group in report.groups:
        assert f'data-resource-group="{group.resource_group}"' in html
