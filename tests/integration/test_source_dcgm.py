"""--source dcgm-exporter against pages in dcgm-exporter's own format, served over real HTTP.

The pages are rendered from the exporter's real default counters
(tests/fixtures/dcgm-exporter/default-counters.csv) with its GPU line template
(SOURCE.md there); the README's sample output is parsed as published.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from test_agent import consume

from pipeline.broker.process import EmbeddedBroker
from pipeline.events import GpuSample
from pipeline.kafka.endpoint import resolve_kafka
from pipeline.settings import Settings, load_settings
from pipeline.sources.agent import AgentRun, kafka_publisher
from pipeline.sources.dcgm import gpu_event, parse_page
from pipeline.sources.registry import DeviceSourceOptions, source_kind

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dcgm-exporter"
MODEL = "NVIDIA H100 80GB HBM3"
BLANK = 9223372036854775794  # DCGM_INT64_BLANK - 14, as in the README sample


def default_counters() -> list[tuple[str, str, str]]:
    rows = []
    for row in csv.reader((FIXTURES / "default-counters.csv").read_text().splitlines()):
        if row and not row[0].lstrip().startswith("#") and row[1].strip() != "label":
            rows.append((row[0].strip(), row[1].strip(), ",".join(row[2:]).strip()))
    return rows


def value_of(field: str, gpu: int) -> float:
    return {
        "DCGM_FI_DEV_GPU_UTIL": 37 + gpu,
        "DCGM_FI_DEV_POWER_USAGE": 412.125 + gpu,
        "DCGM_FI_DEV_FB_USED": 20000,
        "DCGM_FI_DEV_FB_FREE": 60000,
        "DCGM_FI_DEV_FB_RESERVED": 0,
        "DCGM_FI_DEV_GPU_TEMP": 55 + gpu,
        "DCGM_FI_DEV_MEMORY_TEMP": BLANK,
    }.get(field, 1)


#: added to the exporter's counters CSV to get clock-event reasons (not a default counter)
REASONS_ROW = (
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
    "gauge",
    "Current clock event reasons (bitmask of DCGM_CLOCKS_EVENT_REASON_*)",
)


def render(
    host: str,
    host_label: str = "hostname",
    gpus: int = 2,
    help_lines: bool = True,
    pods: int = 0,
    reasons: int | None = None,
    owner: str = "",
) -> str:
    """A /metrics page as dcgm-exporter renders it (gpuMetricsFormat); ``reasons`` adds
    the clock-event reasons counter, ``owner`` extra labels on every line (hpc_job)."""
    lines = []
    rows = default_counters() + ([REASONS_ROW] if reasons is not None else [])
    for field, prom_type, help_text in rows:
        if help_lines:
            lines += [f"# HELP {field} {help_text}", f"# TYPE {field} {prom_type}"]
        for gpu in range(gpus):
            labels = (
                f'gpu="{gpu}",UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e5{gpu}",'
                f'pci_bus_id="00000000:{gpu + 1:02X}:00.0",device="nvidia{gpu}",'
                f'modelName="{MODEL}",{host_label}="{host}"'
            )
            pod_sets = [f',container="trainer",namespace="ml",pod="job-{p}"' for p in range(pods)]
            value = reasons if field == REASONS_ROW[0] else value_of(field, gpu)
            for extra in pod_sets or [""]:
                lines.append(f"{field}{{{labels}{extra}{owner}}} {value}")
    return "\n".join(lines) + "\n"


def test_the_readme_sample_parses_and_yields_no_gpu_sample() -> None:
    # The README's sample (spaces in the label set, a blank memory temperature) holds
    # clocks only: prometheus_client parses it, and no GPU has the fields to send.
    from prometheus_client.parser import text_string_to_metric_families

    text = (FIXTURES / "readme-sample.txt").read_text()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert [s.labels["gpu"] for s in samples] == ["0", "0", "0"]
    assert parse_page(text, "node") == {}


def test_blank_values_are_left_out() -> None:
    page = render("n1", gpus=1).replace('hostname="n1"} 55', 'hostname="n1"} 9223372036854775794')
    fields = parse_page(page, "x")[("n1", "0")]
    assert "DCGM_FI_DEV_GPU_TEMP" not in fields and fields["DCGM_FI_DEV_GPU_UTIL"] == 37


@pytest.mark.parametrize(
    "page",
    [
        render("gpu-node-01"),
        render("gpu-node-01", host_label="Hostname"),  # dcgm-exporter before 4.5
        render("gpu-node-01", help_lines=False),
        render("gpu-node-01", pods=3),  # one GPU shared by three pods: three lines each
    ],
    ids=["hostname", "Hostname", "no-help-type", "pod-labels"],
)
def test_every_variant_gives_one_reading_per_gpu(page: str) -> None:
    gpus = parse_page(page, "fallback")
    assert sorted(gpus) == [("gpu-node-01", "0"), ("gpu-node-01", "1")]
    fields = gpus[("gpu-node-01", "1")]
    assert fields["DCGM_FI_DEV_POWER_USAGE"] == 413.125
    assert fields["DCGM_FI_DEV_GPU_UTIL"] == 38
    assert fields["model"] == MODEL


@pytest.mark.parametrize(
    ("page", "job", "tenant"),
    [
        (render("n1", pods=1), "job-0", "ml"),  # a pod of its own: its job and namespace
        (render("n1", pods=3), None, "ml"),  # time-sliced by three pods: no single job
        (render("n1", owner=',hpc_job="4471203"'), "4471203", None),  # HPC job mapping
        (render("n1"), None, None),
    ],
    ids=["one-pod", "time-sliced", "hpc-job", "none"],
)
def test_jobs_and_tenants_come_from_the_pod_and_hpc_labels(
    page: str, job: str | None, tenant: str | None
) -> None:
    fields = parse_page(page, "x")[("n1", "1")]
    event = gpu_event("s", ("r", "n1"), "1", fields, 1)
    assert event is not None and (event.get("job"), event.get("tenant")) == (job, tenant)
    GpuSample.model_validate(event)


def test_clock_event_reasons_become_the_bitmask() -> None:
    fields = parse_page(render("n1", reasons=0x4 | 0x80), "x")[("n1", "0")]
    event = gpu_event("s", ("r", "n1"), "0", fields, 1)
    assert event is not None and event["clock_reasons"] == 0x84
    assert GpuSample.model_validate(event).clock_reasons == 132
    assert "clock_reasons" not in (
        gpu_event("s", ("r", "n1"), "0", parse_page(render("n1"), "x")[("n1", "0")], 1) or {}
    )


class Exporter:
    """A real HTTP server answering /metrics with a page; a second path answers 500."""

    def __init__(self, pages: dict[str, str]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = outer.pages.get(self.path)
                body = (page or "broken").encode()
                self.send_response(200 if page is not None else 500)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.pages = pages
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Exporter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = load_settings(data_dir=tmp_path / "data", kafka_bootstrap=None)
    with EmbeddedBroker(settings.data_dir):
        yield settings


def test_agent_publishes_one_sample_per_gpu_per_scrape_and_survives_a_broken_exporter(
    settings: Settings, tmp_path: Path
) -> None:
    pages = {
        "/a/metrics": render("gpu-node-01"),
        "/b/metrics": render("gpu-node-02", host_label="Hostname", pods=2),
    }
    mapping = tmp_path / "map.yaml"
    mapping.write_text("hosts:\n  gpu-node-01: {rack: r12}\n")
    with Exporter(pages) as exporter:
        urls = [exporter.url("/a/metrics"), exporter.url("/b/metrics"), exporter.url("/down")]
        options = DeviceSourceOptions(
            sites=("inf-fra-1",), urls=tuple(urls), map_file=mapping, interval_s=0.2
        )
        source = source_kind("dcgm-exporter").build(options, settings)
        endpoint, _ = resolve_kafka(settings, start_if_missing=False)
        result = AgentRun(source, kafka_publisher(settings, endpoint), max_ticks=3).run()
    assert result.undelivered == 0
    # the broken exporter failed every read (the loop reads one tick ahead); the others went on
    assert source.stats.failures >= 3 and source.stats.failing == {urls[2]}
    events = [
        GpuSample.model_validate(event)
        for message in consume(endpoint.bootstrap, want=3)
        if message.topic == "telemetry.gpu"
        for event in orjson.loads(message.value)["events"]
    ]
    assert len(events) == 3 * 4  # 3 scrapes x 2 exporters x 2 GPUs
    by_host = {(e.host, e.gpu, e.rack) for e in events}
    assert by_host == {
        ("gpu-node-01", "0", "r12"),
        ("gpu-node-01", "1", "r12"),  # mapped rack
        ("gpu-node-02", "0", "gpu-node-02"),
        ("gpu-node-02", "1", "gpu-node-02"),
    }
    one = next(e for e in events if e.host == "gpu-node-02" and e.gpu == "1")
    assert (one.util_pct, one.power_w, one.temp_c, one.mem_used_pct) == (38, 413.125, 56, 25.0)
    assert (one.vendor, one.model, one.site) == ("nvidia", MODEL, "inf-fra-1")
    assert abs(one.ts / 1000 - time.time()) < 120  # epoch ms, taken at the scrape
