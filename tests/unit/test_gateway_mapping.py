"""The gateway's pure parts: series -> parts -> events, joins across requests, wire formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from pipeline.events import GpuSample, WorkCounter
from pipeline.gateway import otlp, remote_write
from pipeline.gateway.joins import Joiner
from pipeline.gateway.mapper import SeriesMapper
from pipeline.gateway.partial_log import PartialLog
from pipeline.gateway.series import BadRequest, Series
from pipeline.gateway.service import load_places
from pipeline.sources.mapping import HostPlace, LinkPlace, Mapping

MAPPING = Mapping(
    hosts={"gpu-node-01": HostPlace("r12"), "gpu-node-02": HostPlace("r07", "n02")},
    links={
        "eth0": LinkPlace("atl-wan-1", "wan", "dfw-1"),
        "n9/eth1": LinkPlace("atl-spine-9", "fabric"),
    },
    racks={"pdu-1": "r03"},
)
T = 1_796_000_000_000


def gpu(name: str, value: float, ts: int = T, **labels: str) -> Series:
    base = {"Hostname": "gpu-node-01", "gpu": "0", "modelName": "H100", "site": "atl-1"}
    return Series(name, {**base, **labels}, [(ts, value)])


def net(name: str, value: float, device: str = "eth0", **labels: str) -> Series:
    base = {"device": device, "instance": "n9:9100", "site": "atl-1"}
    return Series(name, {**base, **labels}, [(T, value)])


def events(joiner: Joiner, mapper: SeriesMapper, series: list[Series], now: float = 0) -> list[Any]:
    return joiner.absorb(mapper.map(series), now).events


def test_a_dcgm_gpu_becomes_one_sample_as_the_dcgm_source_makes_it() -> None:
    mapper, joiner = SeriesMapper(MAPPING), Joiner(30)
    got = events(
        joiner,
        mapper,
        [
            gpu("DCGM_FI_DEV_GPU_UTIL", 104),  # clamped, as the source does
            gpu("DCGM_FI_DEV_POWER_USAGE", 412.1254),
            gpu("DCGM_FI_DEV_GPU_TEMP", 55),
            gpu("DCGM_FI_DEV_FB_USED", 20000),
            gpu("DCGM_FI_DEV_FB_FREE", 60000),
            gpu("DCGM_FI_DEV_FB_RESERVED", 0),
            gpu("DCGM_FI_DEV_POWER_MGMT_LIMIT", 0),  # 0: no limit known, left out
            gpu("DCGM_FI_DEV_MEMORY_TEMP", 9223372036854775794),  # blank: no reading
        ],
    )
    assert got == [
        (
            "gpu",
            {
                "site": "atl-1",
                "rack": "r12",
                "host": "gpu-node-01",
                "gpu": "0",
                "model": "H100",
                "ts": T,
                "util_pct": 100.0,
                "power_w": 412.125,
                "temp_c": 55.0,
                "mem_used_pct": 25.0,
                "vendor": "nvidia",
            },
        )
    ]


def test_node_exporter_counters_become_link_counters_of_mapped_interfaces() -> None:
    mapper, joiner = SeriesMapper(MAPPING), Joiner(30)
    series = [
        net("node_network_transmit_packets_total", 1000),
        net("node_network_transmit_drop_total", 3),
        net("node_network_receive_packets_total", 900),
        net("node_network_receive_drop_total", 4),
        net("node_network_receive_errs_total", 1),
        net("node_network_transmit_errs_total", 2),
    ]
    series += [net(s.name, 7, device="eth1") for s in series[:4]]  # n9/eth1: host-qualified
    series += [net(s.name, 7, device="veth9") for s in series[:4]]  # no site link
    mapped = mapper.map(series)
    got = {e["link"]: e for _, e in joiner.absorb(mapped, 0).events}
    assert sorted(got) == ["atl-spine-9", "atl-wan-1"]
    assert got["atl-wan-1"] == {
        "site": "atl-1",
        "link": "atl-wan-1",
        "link_class": "wan",
        "peer_site": "dfw-1",
        "ts": T,
        "tx_packets": 1003,
        "rx_packets": 900,
        "dropped_packets": 7,
        "error_packets": 3,
    }
    assert mapped.unmapped == {
        (name, "interface_not_in_map"): 1 for name in [s.name for s in series[:4]]
    }


def test_what_maps_to_nothing_is_counted_by_name_and_reason() -> None:
    mapper = SeriesMapper(Mapping())
    mapped = mapper.map(
        [
            Series("up", {"site": "a"}, [(T, 1), (T + 1, 1)]),
            Series("DCGM_FI_DEV_GPU_UTIL", {"gpu": "0", "Hostname": "h"}, [(T, 1)]),  # no site
            Series("DCGM_FI_DEV_GPU_UTIL", {"site": "a", "Hostname": "h"}, [(T, 1)]),
            Series("node_network_receive_packets_total", {"site": "a"}, [(T, 1)]),
            Series(
                "node_network_receive_packets_total",
                {"site": "a", "device": "e"},
                [(T, 1)],
                "delta",
            ),
            Series("megawatch_rack_power_watts", {"site": "a"}, [(T, 1)]),
            Series(
                "DCGM_FI_DEV_GPU_UTIL",
                {"site": "a", "Hostname": "h", "gpu": "1"},
                [(T, float("nan"))],
            ),
        ]
    )
    assert mapped.unmapped == {
        ("up", "unknown_metric"): 2,
        ("DCGM_FI_DEV_GPU_UTIL", "no_site"): 1,
        ("DCGM_FI_DEV_GPU_UTIL", "no_gpu_or_host_label"): 1,
        ("node_network_receive_packets_total", "no_interface_label"): 1,
        ("node_network_receive_packets_total", "delta_temporality"): 1,
        ("megawatch_rack_power_watts", "no_rack"): 1,
        ("DCGM_FI_DEV_GPU_UTIL", "no_value"): 1,  # Prometheus' stale marker is a NaN
    }
    assert mapped.groups == {}


def test_site_comes_from_the_label_then_the_map_then_the_flag() -> None:
    labels = {"rack": "r1"}
    for series_site, default, want in (("lbl", "flag", "lbl"), (None, "flag", "flag")):
        tags = {**labels, **({"site": series_site} if series_site else {})}
        mapped = SeriesMapper(Mapping(), default).map(
            [Series("megawatch_rack_power_watts", tags, [(T, 5.0)])]
        )
        assert [key[1] for key in mapped.groups] == [want]
    # a rack from the map's racks: by pdu label
    mapped = SeriesMapper(MAPPING, "s").map(
        [Series("megawatch_rack_power_watts", {"pdu": "pdu-1"}, [(T, 5.0)])]
    )
    assert list(mapped.groups) == [("rack_power", "s", ("r03",), T)]


def test_parts_of_one_event_join_across_requests() -> None:
    mapper, joiner = SeriesMapper(MAPPING), Joiner(30)
    assert events(joiner, mapper, [gpu("DCGM_FI_DEV_GPU_UTIL", 50)], now=1) == []
    assert len(joiner.waiting) == 1
    [(_, event)] = events(joiner, mapper, [gpu("DCGM_FI_DEV_POWER_USAGE", 300)], now=2)
    assert (event["util_pct"], event["power_w"]) == (50.0, 300.0)


def test_an_entity_waits_for_the_parts_it_showed_before() -> None:
    mapper, joiner = SeriesMapper(MAPPING), Joiner(30)
    full = [
        gpu("DCGM_FI_DEV_GPU_UTIL", 1),
        gpu("DCGM_FI_DEV_POWER_USAGE", 2),
        gpu("DCGM_FI_DEV_GPU_TEMP", 3),
    ]
    assert len(events(joiner, mapper, full)) == 1
    later = [gpu(s.name, s.points[0][1], ts=T + 1000) for s in full]
    assert events(joiner, mapper, later[:2]) == []  # temperature comes in the next request
    [(_, event)] = events(joiner, mapper, later[2:])
    assert event["temp_c"] == 3.0


def test_the_window_sends_what_has_its_required_parts_and_counts_the_rest() -> None:
    mapper, joiner = SeriesMapper(MAPPING), Joiner(30)
    full = [
        gpu("DCGM_FI_DEV_GPU_UTIL", 1),
        gpu("DCGM_FI_DEV_POWER_USAGE", 2),
        gpu("DCGM_FI_DEV_GPU_TEMP", 3),
    ]
    events(joiner, mapper, full, now=0)
    events(joiner, mapper, [gpu(s.name, 9, ts=T + 1) for s in full[:2]], now=1)  # no temp
    events(joiner, mapper, [gpu("DCGM_FI_DEV_GPU_UTIL", 9, ts=T + 2)], now=1)  # no power
    assert joiner.sweep(20).events == []
    ready = joiner.sweep(31)
    assert [e["ts"] for _, e in ready.events] == [T + 1]  # sent without the temperature
    joiner.settle(ready.claimed, sent=True, now=31)
    assert joiner.incomplete == {("gpu", "power"): 1}
    assert joiner.waiting == {}
    # the entity no longer waits for its temperature
    assert len(events(joiner, mapper, [gpu(s.name, 9, ts=T + 3) for s in full[:2]])) == 1


def test_a_failed_send_puts_the_joined_event_back_and_a_retry_is_no_new_event() -> None:
    mapper, joiner = SeriesMapper(MAPPING), Joiner(30)
    util, power = [gpu("DCGM_FI_DEV_GPU_UTIL", 1)], [gpu("DCGM_FI_DEV_POWER_USAGE", 2)]
    events(joiner, mapper, util)
    ready = joiner.absorb(mapper.map(power), 1)
    joiner.settle(ready.claimed, sent=False, now=1)  # Kafka away: 503, Prometheus retries
    retry = joiner.absorb(mapper.map(power), 2)
    assert len(retry.events) == 1
    joiner.settle(retry.claimed, sent=True, now=2)
    # the first request retried after its parts were sent: a duplicate, not a new event
    assert events(joiner, mapper, util, now=3) == [] and joiner.duplicates == 1
    assert joiner.waiting == {}


def test_the_join_log_brings_waiting_parts_back_after_a_kill(tmp_path: Path) -> None:
    mapper = SeriesMapper(MAPPING)
    log = PartialLog(tmp_path / "joins.jsonl")
    joiner = Joiner(30, log)
    events(joiner, mapper, [gpu("DCGM_FI_DEV_GPU_UTIL", 1)])
    events(joiner, mapper, [gpu("DCGM_FI_DEV_GPU_UTIL", 1, ts=T + 5)])
    ready = joiner.absorb(mapper.map([gpu("DCGM_FI_DEV_POWER_USAGE", 2, ts=T + 5)]), 1)
    joiner.settle(ready.claimed, sent=True, now=1)
    log.close()  # the process dies here; the file stays
    reopened = PartialLog(tmp_path / "joins.jsonl")
    again = Joiner(30, reopened)
    again.replay(reopened.read())
    assert list(again.waiting) == [("gpu", "atl-1", ("r12", "gpu-node-01", "0"), T)]
    [(_, event)] = events(again, mapper, [gpu("DCGM_FI_DEV_POWER_USAGE", 2)])
    assert (event["util_pct"], event["power_w"]) == (1.0, 2.0)
    assert ("gpu", "atl-1", ("r12", "gpu-node-01", "0"), T + 5) in again.done


def test_a_restarted_gateway_waits_for_the_parts_an_entity_showed(tmp_path: Path) -> None:
    mapper = SeriesMapper(MAPPING)
    log = PartialLog(tmp_path / "joins.jsonl", compact_bytes=200)  # compacts as it goes
    joiner = Joiner(30, log)
    log.snapshot = joiner.snapshot
    full = [
        gpu("DCGM_FI_DEV_GPU_UTIL", 1),
        gpu("DCGM_FI_DEV_POWER_USAGE", 2),
        gpu("DCGM_FI_DEV_GPU_TEMP", 3),
    ]
    for n in range(5):
        assert len(events(joiner, mapper, [gpu(s.name, 1, ts=T + n) for s in full])) == 1
    log.close()
    reopened = PartialLog(tmp_path / "joins.jsonl")
    again = Joiner(30, reopened)
    again.replay(reopened.read())
    later = [gpu(s.name, 9, ts=T + 99) for s in full]
    assert events(again, mapper, later[:2]) == []  # still waits for the temperature
    assert len(events(again, mapper, later[2:])) == 1


def test_a_second_gateway_cannot_share_a_join_log(tmp_path: Path) -> None:
    from pipeline.errors import ConfigError

    first = PartialLog(tmp_path / "joins.jsonl")
    with pytest.raises(ConfigError, match="another gateway uses this state directory"):
        PartialLog(tmp_path / "joins.jsonl")
    first.close()


def test_remote_write_round_trip_and_refusals() -> None:
    series = [Series("up", {"job": "node", "instance": "a:1"}, [(T, 1.0), (T + 15_000, 0.0)])]
    body = remote_write.encode(series)
    assert remote_write.parse(remote_write.decompress(body, 1 << 20)) == series
    with pytest.raises(BadRequest) as bad:
        remote_write.decompress(body, 10)
    assert (bad.value.cause, bad.value.status) == ("too_large", 413)
    with pytest.raises(BadRequest) as bad:
        remote_write.parse(remote_write.decompress(body, 1 << 20)[:-2])
    assert bad.value.cause == "bad_protobuf"


def test_otlp_gauges_sums_and_the_rest() -> None:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="site").value.string_value = "s1"
    metrics = rm.scope_metrics.add().metrics
    gauge = metrics.add(name="g").gauge.data_points.add(
        time_unix_nano=T * 1_000_000 + 999, as_int=5
    )
    gauge.attributes.add(key="gpu").value.int_value = 3
    total = metrics.add(name="c").sum
    total.aggregation_temporality = 1  # delta
    total.data_points.add(time_unix_nano=T * 1_000_000, as_double=2.5)
    metrics.add(name="h").histogram.data_points.add(count=1)
    raw = request.SerializeToString()
    parsed = otlp.parse(raw, otlp.PROTOBUF)
    assert parsed == [
        Series("g", {"site": "s1", "gpu": "3"}, [(T, 5.0)]),
        Series("c", {"site": "s1"}, [(T, 2.5)], "delta"),
        Series("h", {"site": "s1"}, []),  # counted as unmapped by name
    ]
    from google.protobuf import json_format

    assert otlp.parse(json_format.MessageToJson(request).encode(), otlp.JSON) == parsed
    with pytest.raises(BadRequest, match="not an OTLP"):
        otlp.parse(b"{", otlp.JSON)


def test_the_gateway_map_adds_a_site_to_the_agents_format(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("site: atl-1\nhosts:\n  n1: {rack: r1}\n")
    mapping, site = load_places(path)
    assert site == "atl-1" and mapping.hosts == {"n1": HostPlace("r1")}


def test_dcgm_job_labels_and_clock_reasons_reach_the_gpu_sample() -> None:
    mapper, joiner = SeriesMapper(MAPPING), Joiner(30)
    pod = {"pod": "llama-serve-7f9c", "namespace": "shop", "container": "vllm"}
    got = events(
        joiner,
        mapper,
        [
            gpu("DCGM_FI_DEV_GPU_UTIL", 90, **pod),
            gpu("DCGM_FI_DEV_POWER_USAGE", 650, **pod),
            gpu("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", 0x4 | 0x80, **pod),
        ],
    )
    ((_kind, event),) = got
    assert (event["job"], event["tenant"], event["clock_reasons"]) == (
        "llama-serve-7f9c",
        "shop",
        132,
    )
    assert GpuSample.model_validate(event).clock_reasons == 132


@pytest.mark.parametrize(
    ("name", "labels", "want"),
    [
        (
            "vllm:generation_tokens_total",
            {"instance": "gpu-node-01:8000", "model_name": "meta-llama/Llama-3.1-70B"},
            {
                "counter": "generation_tokens",
                "source": "vllm",
                "host": "gpu-node-01",
                "served_model": "meta-llama/Llama-3.1-70B",
            },
        ),
        (
            "vllm:prompt_tokens_total",
            {"instance": "10.1.2.3:8000", "pod": "llama-serve-7f9c", "model_name": "llama"},
            {
                "counter": "prompt_tokens",
                "source": "vllm",
                "job": "llama-serve-7f9c",
                "served_model": "llama",
            },
        ),
        (
            "tgi_request_generated_tokens_sum",
            {"instance": "10.1.2.4:80", "pod": "tgi-0", "node": "gpu-node-02"},
            {"counter": "generation_tokens", "source": "tgi", "job": "tgi-0", "host": "n02"},
        ),
        (
            "nv_inference_count",
            {"instance": "gpu-node-03:8002", "model": "resnet50", "version": "1"},
            {
                "counter": "inferences",
                "source": "triton",
                "host": "gpu-node-03",
                "served_model": "resnet50",
            },
        ),
    ],
    ids=["vllm-host", "vllm-pod", "tgi-node", "triton"],
)
def test_inference_servers_work_counters_become_work_events(
    name: str, labels: dict[str, str], want: dict[str, Any]
) -> None:
    mapper, joiner = SeriesMapper(MAPPING), Joiner(30)
    series = Series(name, {"site": "atl-1", **labels}, [(T, 18234.0)])
    ((kind, event),) = events(joiner, mapper, [series])
    assert kind == "work"
    assert event == {"site": "atl-1", "ts": T, "total": 18234.0, **want}
    WorkCounter.model_validate(event)


def test_a_work_counter_without_host_or_job_is_counted_not_sent() -> None:
    mapper = SeriesMapper(MAPPING)
    mapped = mapper.map([Series("vllm:generation_tokens_total", {"site": "atl-1"}, [(T, 1.0)])])
    assert mapped.unmapped == {("vllm:generation_tokens_total", "no_host_or_job_label"): 1}
