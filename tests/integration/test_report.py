"""The HTML report on the fixed data set: one chart per section, the right data in each,
and nothing that needs the network to open it."""

from __future__ import annotations

import base64
import json
import re
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from test_queries import UNTIL, at, insert, load_fixed_data, ramp_rows

from pipeline.analytics.report import build_sections, read_report_data, render_html
from pipeline.store import Store

pytestmark = pytest.mark.integration

SECTIONS = ["ledger", "heatmap", "power", "loss", "gpus"]


class ReportParser(HTMLParser):
    """Collects, per <section id>, its chart divs and the figure JSON passed to newPlot;
    and every external reference (script src, link href, img src that is not data:)."""

    def __init__(self) -> None:
        super().__init__()
        self.section: str | None = None
        self.charts: dict[str, int] = {}
        self.scripts: dict[str, list[str]] = {}
        self.external: list[str] = []
        self.table_rows: dict[str, int] = {}
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section":
            self.section = values.get("id")
            self.charts[self.section or ""] = 0
            self.scripts[self.section or ""] = []
        elif tag == "div" and "plotly-graph-div" in (values.get("class") or ""):
            self.charts[self.section or ""] = self.charts.get(self.section or "", 0) + 1
        elif tag == "script":
            self._in_script = True
        elif tag == "tr" and self.section:
            self.table_rows[self.section] = self.table_rows.get(self.section, 0) + 1
        for name in ("src", "href"):
            link = values.get(name)
            if link and not link.startswith(("data:", "#")):
                self.external.append(f"{tag} {name}={link}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.section = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and self.section and "Plotly.newPlot" in data:
            self.scripts[self.section].append(data)


def values(array: object) -> list:
    """A trace's x or y: a JSON list, or plotly's base64 typed array {dtype, bdata}."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    assert isinstance(array, list)
    return array


def figure_json(script: str) -> dict:
    """The data and layout arguments of the Plotly.newPlot call in a chart's script."""
    decoder = json.JSONDecoder()
    start = script.index("[", script.index("Plotly.newPlot"))
    data, end = decoder.raw_decode(script, start)
    layout, _ = decoder.raw_decode(script, script.index("{", end))
    return {"data": data, "layout": layout}


@pytest.fixture
def page(store: Store, tmp_path: Path) -> ReportParser:
    load_fixed_data(store)
    data = read_report_data(store, 3600, UNTIL)
    text = render_html(data, build_sections(data))
    (tmp_path / "report.html").write_text(text)
    parser = ReportParser()
    parser.feed(text)
    parser.text = text  # type: ignore[attr-defined]
    return parser


def test_one_chart_per_section_and_no_network_needed(page: ReportParser) -> None:
    assert page.charts == {key: 1 for key in SECTIONS}
    assert page.external == []  # no <script src>, <link href> or remote images
    # plotly.js itself is inlined once, with the first chart
    assert page.text.count("plotly.js v") >= 1  # type: ignore[attr-defined]
    assert len(page.text) > 3_000_000  # type: ignore[attr-defined]


def test_power_section_shows_each_site_against_its_cap_with_episodes(page: ReportParser) -> None:
    [script] = page.scripts["power"]
    figure = figure_json(script)
    names = [trace.get("name") for trace in figure["data"]]
    # three sites: ams-1 closest to its cap (5.2 / 5), then fra-2 (0.8), then uncapped ord-1
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert titles == ["ams-1", "fra-2", "ord-1"]
    assert names.count("cap MW") == 3 and names.count("warning level") == 2  # ord-1: no cap
    ams_cap = figure["data"][names.index("cap MW")]
    assert set(values(ams_cap["y"])) == {5.0}
    # cap alerts in the window: A (ams-1 critical, 10:01:00-10:01:45), B (ams-1 warning,
    # still firing), F (fra-2 critical); the link alert C is not a cap alert
    shapes = figure["layout"]["shapes"]
    assert len(shapes) == 3
    assert {s["x0"][:19] for s in shapes} == {
        "2026-11-20T10:01:00",
        "2026-11-20T10:00:15",
        "2026-11-20T10:03:00",
    }


def test_ledger_section_has_bars_and_the_table(page: ReportParser) -> None:
    figure = figure_json(page.scripts["ledger"][0])
    bars = {trace["name"]: trace for trace in figure["data"]}
    # highest share of cap first: ams-1 84 %, fra-2 60 %, then the uncapped ord-1
    assert values(bars["now MW (up to the cap)"]["x"]) == [4.2, 6.0, 2.0]
    assert values(bars["headroom MW"]["x"]) == [0.8, 4.0, 0.0]
    assert values(bars["over cap MW"]["x"]) == [0.0, 0.0, 0.0]
    assert page.table_rows["ledger"] == 7  # header + 3 sites + 2 regions + fleet


def test_ledger_counts_the_sites_over_their_caps_now(store: Store) -> None:
    """dfw-1 is at 5.5 MW of its 4.8 MW cap at its latest evaluation, though its last
    minute averaged below the cap: the ledger says it is over its cap now (issue 24)."""
    insert(store, "site_power", ramp_rows())
    data = read_report_data(store, 3600, at(2, 31))
    ledger = build_sections(data)[0]
    assert ledger.note.startswith(
        "2 sites, 1 at or over their caps now (each site's latest evaluated power, as its "
        "cap alert judges it; the oldest is 32 s old)"
    )
    [now_bar] = [trace for trace in ledger.figure.data if trace.name == "now MW (up to the cap)"]
    assert list(now_bar.x) == [4.8, 1.5]  # dfw-1 up to its cap (the rest is over it)


def test_loss_and_gpu_sections_plot_the_query_results(page: ReportParser) -> None:
    loss = figure_json(page.scripts["loss"][0])
    # the links that dropped packets, lossiest first (60 and 20 of 400k); ord-ams-1
    # dropped none and is only counted
    assert [t["name"] for t in loss["data"]] == [
        "ams-fra-1 (ams-1 to fra-2): 0.015 %",
        "fra-ams-1 (fra-2 to ams-1): 0.005 %",
    ]
    assert "1 other links not drawn" in loss["layout"]["title"]["text"]
    gpus = figure_json(page.scripts["gpus"][0])
    assert sorted(t["name"] for t in gpus["data"]) == ["amd MI300X", "nvidia H100"]


def test_empty_store_still_renders_every_section(store: Store) -> None:
    data = read_report_data(store, 3600, UNTIL)
    parser = ReportParser()
    parser.feed(render_html(data, build_sections(data)))
    assert parser.charts == {key: 1 for key in SECTIONS}
    assert re.search(r"no site power in the window", "".join(parser.scripts["power"]))


def test_png_of_one_chart(store: Store, tmp_path: Path) -> None:
    """Only where plotly's exporter and a Chromium are installed (kaleido drives it)."""
    pytest.importorskip("kaleido")
    if not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no Chrome/Chromium for kaleido")
    from pipeline.analytics.report import write_png

    load_fixed_data(store)
    data = read_report_data(store, 3600, UNTIL)
    power = build_sections(data)[0]
    out = tmp_path / "power.png"
    write_png(power.figure, out, width=900)
    header = out.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert (width, height) == (900, power.figure.layout.height)
