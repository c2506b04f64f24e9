"""The report at fleet scale: 150 sites over 24 hours, rendered, then photographed by a
headless Chromium (Debian's chromium; `make test-deps` installs it)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fleet_history import load_fleet_history
from test_report import ReportParser, figure_json, values

from pipeline.analytics.report import build_sections, read_report_data, render_html

pytestmark = pytest.mark.integration

END = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
SCREENSHOT = Path(__file__).resolve().parents[2] / ".test-artifacts" / "report-150-sites.png"


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportParser, Path, list[str]]:
    from pipeline.settings import Settings
    from pipeline.store import open_store

    settings = Settings(data_dir=tmp_path_factory.mktemp("fleet"))
    with open_store(settings) as store:
        store.migrate()
        sites = load_fleet_history(store, END)
        data = read_report_data(store, 24 * 3600, END)
    text = render_html(data, build_sections(data))
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(text)
    parser = ReportParser()
    parser.feed(text)
    return parser, path, sites


def test_every_chart_is_bounded_at_150_sites(page: tuple[ReportParser, Path, list[str]]) -> None:
    parser, _, sites = page
    assert len(sites) == 150
    ledger = figure_json(parser.scripts["ledger"][0])
    ranked = ledger["data"][0]["y"]
    assert len(ranked) == 30 and ranked[0].startswith(sites[-1])  # highest share first
    heat = figure_json(parser.scripts["heatmap"][0])
    [trace] = heat["data"]
    assert trace["type"] == "heatmap"
    assert len(trace["y"]) == 150 and trace["y"][0] == sites[-1]
    assert 25 <= len(trace["x"]) <= 26  # one column per hour, given by its edges
    power = figure_json(parser.scripts["power"][0])
    titles = [a["text"] for a in power["layout"]["annotations"]]
    assert titles == list(reversed(sites))[:12]  # small multiples of the top 12
    assert power["layout"]["height"] <= 1200
    loss = figure_json(parser.scripts["loss"][0])
    names = [t["name"] for t in loss["data"]]
    assert names[0].startswith("wan-017") and len(names) == 3  # the lossy link first
    assert "147 other links not drawn" in loss["layout"]["title"]["text"]
    assert max(values(loss["data"][0]["y"])) == pytest.approx(1.0)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def inked_share(data: bytes) -> float:
    """Share of decompressed image bytes that are neither 0 nor 255: about 0 for a blank
    page (filtered white rows are zeros), well above for drawn charts."""
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    return sum(1 for b in raw[::97] if b not in (0, 255)) / len(raw[::97])


def test_headless_chromium_screenshot(page: tuple[ReportParser, Path, list[str]]) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium: `make test-deps` installs Debian's chromium")
    _, path, _ = page
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,5200",
            "--virtual-time-budget=20000",
            f"--screenshot={SCREENSHOT}",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert SCREENSHOT.exists(), run.stderr[-2000:]
    image = SCREENSHOT.read_bytes()
    assert png_size(image) == (1280, 5200)
    assert inked_share(image) > 0.01  # 0.022 measured for the drawn page, ~0 blank
