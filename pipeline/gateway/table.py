"""Which metric feeds which part of which contract event: the gateway's one table.

Each entry names a metric as exporters publish it and the *part* it feeds; the kinds
below say which parts an event needs and how fields are made of parts. A new counter
name (an ethtool or OpenConfig NIC counter, say) is one entry in :data:`METRICS`; a new
optional field made of one part is one entry in its kind's ``direct`` map.

Built in:

* dcgm-exporter (``DCGM_FI_DEV_*``, the fields of :mod:`pipeline.sources.dcgm`): a GPU
  sample needs utilization and power; memory is used / (used + free + reserved);
* node_exporter's netdev counters (``node_network_*_total{device}``), read as the
  netdev source reads sysfs (:mod:`pipeline.sources.netdev`): ``tx_packets`` = transmit
  packets + transmit drops (what this end offered), ``dropped_packets`` = transmit +
  receive drops, ``error_packets`` = receive + transmit errors;
* ``megawatch_rack_power_watts{rack}``: rack power, for a recording rule or an
  exporter of one's own;
* ``DCGM_FI_DEV_CLOCKS_EVENT_REASONS``: the GPU's clock-event reasons bitmask; the
  GPU's ``job`` and ``tenant`` come from dcgm-exporter's ``hpc_job``/``pod`` and
  ``namespace`` labels (:mod:`pipeline.gateway.mapper`);
* inference servers' work counters, one work event (``telemetry.work``) per counter:
  vLLM's ``vllm:generation_tokens_total`` and ``vllm:prompt_tokens_total``, TGI's
  ``tgi_request_generated_tokens_sum`` and ``tgi_request_input_length_sum`` (the sums of
  its token histograms) and ``tgi_request_success``, Triton's ``nv_inference_count``
  (inferences, a batch counting each) and ``nv_inference_request_success``.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.kafka.topics import GPU, LINK, RACK_POWER, WORK
from pipeline.sources.dcgm import DCGM_BLANK


@dataclass(frozen=True, slots=True)
class Part:
    kind: str  # "gpu", "link", "rack_power" or "work"
    name: str  # the part of the event it feeds
    counter: bool = False  # cumulative: an OTLP delta sum is not taken for it
    work: str = ""  # kind "work": the counter's name in the event (what it counts)
    source: str = ""  # kind "work": the server that counts it


def _work(counter: str, source: str) -> Part:
    return Part("work", "total", counter=True, work=counter, source=source)


#: metric name -> the part it feeds
METRICS: dict[str, Part] = {
    "DCGM_FI_DEV_GPU_UTIL": Part("gpu", "util"),
    "DCGM_FI_DEV_POWER_USAGE": Part("gpu", "power"),
    "DCGM_FI_DEV_GPU_TEMP": Part("gpu", "temp"),
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": Part("gpu", "power_limit"),
    "DCGM_FI_DEV_FB_USED": Part("gpu", "fb_used"),
    "DCGM_FI_DEV_FB_FREE": Part("gpu", "fb_free"),
    "DCGM_FI_DEV_FB_RESERVED": Part("gpu", "fb_reserved"),
    "node_network_transmit_packets_total": Part("link", "tx", counter=True),
    "node_network_transmit_drop_total": Part("link", "tx_drop", counter=True),
    "node_network_receive_packets_total": Part("link", "rx", counter=True),
    "node_network_receive_drop_total": Part("link", "rx_drop", counter=True),
    "node_network_receive_errs_total": Part("link", "rx_errs", counter=True),
    "node_network_transmit_errs_total": Part("link", "tx_errs", counter=True),
    "megawatch_rack_power_watts": Part("rack_power", "power"),
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": Part("gpu", "clock_reasons"),
    "vllm:generation_tokens_total": _work("generation_tokens", "vllm"),
    "vllm:prompt_tokens_total": _work("prompt_tokens", "vllm"),
    "tgi_request_generated_tokens_sum": _work("generation_tokens", "tgi"),
    "tgi_request_input_length_sum": _work("prompt_tokens", "tgi"),
    "tgi_request_success": _work("requests", "tgi"),
    "nv_inference_count": _work("inferences", "triton"),
    "nv_inference_request_success": _work("requests", "triton"),
}
#: kind -> the topic its events go to
TOPIC_OF = {"gpu": GPU, "link": LINK, "rack_power": RACK_POWER, "work": WORK}

Parts = dict[str, float]


@dataclass(frozen=True)
class Kind:
    """How the parts of one kind become event fields."""

    required: frozenset[str]
    #: part -> field, taken as it is (rounded to milliunits for floats, int for counters)
    direct: dict[str, str] = field(default_factory=dict)
    #: fields computed from several parts (or checked), added after the direct ones
    combine: Callable[[Parts, dict[str, Any]], None] = lambda parts, event: None
    counters: bool = False


def _gpu(parts: Parts, event: dict[str, Any]) -> None:
    event["util_pct"] = min(event["util_pct"], 100.0)
    if event.get("power_limit_w") == 0:
        del event["power_limit_w"]  # dcgm-exporter's 0: no limit known
    used, free = parts.get("fb_used"), parts.get("fb_free")
    total = (used or 0) + (free or 0) + parts.get("fb_reserved", 0)
    if used is not None and free is not None and total > 0:
        event["mem_used_pct"] = round(100.0 * used / total, 2)
    event["vendor"] = "nvidia"
    if "clock_reasons" in parts:
        event["clock_reasons"] = int(parts["clock_reasons"])


def _link(parts: Parts, event: dict[str, Any]) -> None:
    event["tx_packets"] = int(parts["tx"]) + int(parts["tx_drop"])
    event["rx_packets"] = int(parts["rx"])
    event["dropped_packets"] = int(parts["tx_drop"]) + int(parts["rx_drop"])
    if "rx_errs" in parts and "tx_errs" in parts:
        event["error_packets"] = int(parts["rx_errs"]) + int(parts["tx_errs"])


KINDS: dict[str, Kind] = {
    "gpu": Kind(
        frozenset({"util", "power"}),
        {"util": "util_pct", "power": "power_w", "temp": "temp_c", "power_limit": "power_limit_w"},
        _gpu,
    ),
    "link": Kind(frozenset({"tx", "tx_drop", "rx", "rx_drop"}), {}, _link, counters=True),
    "rack_power": Kind(frozenset({"power"}), {"power": "power_w"}),
    # the counter's name and source are id fields (the mapper's): one event per counter
    "work": Kind(frozenset({"total"}), {"total": "total"}, counters=True),
}


def usable(part: Part, value: float) -> bool:
    """False for values that are no reading: NaN (Prometheus' stale marker is one),
    infinities, negatives, and DCGM's "blank" sentinels (0x7ffffff0 and up)."""
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        return False
    return part.kind != "gpu" or value < DCGM_BLANK


def build(kind: str, ids: dict[str, Any], ts_ms: int, parts: Parts) -> dict[str, Any]:
    """The event of ``kind`` for one entity (its id fields) at one time, from its parts
    (the required ones must be there)."""
    spec = KINDS[kind]
    event: dict[str, Any] = {**ids, "ts": ts_ms}
    for part, name in spec.direct.items():
        if part in parts:
            event[name] = round(float(parts[part]), 3)
    spec.combine(parts, event)
    return event
