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
* link health (:mod:`pipeline.gateway.link_event` makes the fields): NIC statistics by
  their ethtool names (mlx5's, as ``ethtool -S`` prints them, and as node_exporter's
  ethtool collector publishes them: ``node_ethtool_`` with ``rx``/``tx`` spelled
  ``received``/``transmitted``), node_exporter's carrier counters and state, OpenConfig
  leaves (a path names its leaf, so ``/interfaces/interface[name=swp1]/state/counters/
  carrier-transitions`` is ``carrier-transitions`` with the label ``name=swp1``), NVIDIA
  Cumulus Linux's OTLP names (``nvswitch_interface_*``), and megawatch's own
  ``megawatch_link_*_dbm`` for optics. A per-priority or per-lane series names its
  priority or lane in a label (``priority``, ``lane``...) or, for ethtool, in its name;
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

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.events import MAX_PRIORITY, MIN_DBM
from pipeline.gateway.link_event import NODE_PACKETS, OPENCONFIG_PACKETS, link_fields
from pipeline.kafka.topics import GPU, LINK, RACK_POWER, WORK
from pipeline.sources.dcgm import DCGM_BLANK


@dataclass(frozen=True, slots=True)
class Part:
    kind: str  # "gpu", "link", "rack_power" or "work"
    name: str  # the part of the event it feeds
    counter: bool = False  # cumulative: an OTLP delta sum is not taken for it
    signed: bool = False  # may be negative (dBm)
    #: labels naming its index (a priority, a lane, a threshold level); the part is
    #: then ``name.index``, from the first of them that a series has
    index: tuple[str, ...] = ()

    work: str = ""  # kind "work": the counter's name in the event (what it counts)
    source: str = ""  # kind "work": the server that counts it


PRIORITY_LABELS = ("priority", "switch_priority", "prio", "sp")
LANE_LABELS = ("lane", "channel", "index")


def _ethtool(stat: str) -> tuple[str, ...]:
    """An ethtool statistic under the names it is published by: as ``ethtool -S``
    prints it (an OTel collector, DOCA Telemetry Service), and as node_exporter's
    ethtool collector does (``buildEthtoolFQName``: ``rx``/``tx`` as words spelled
    ``received``/``transmitted``; before 1.4 as they are)."""
    spelled = re.sub(r"(^|_)rx(_|$)", r"\1received\2", stat)
    spelled = re.sub(r"(^|_)tx(_|$)", r"\1transmitted\2", spelled)
    return stat, f"node_ethtool_{spelled}", f"node_ethtool_{stat}"


def _counter(name: str, index: tuple[str, ...] = ()) -> Part:
    return Part("link", name, counter=True, index=index)


#: NIC statistics (mlx5's names) -> the link part each feeds
ETHTOOL: dict[str, Part] = {
    "rx_pcs_symbol_err_phy": _counter("symbol_errors"),  # errors the FEC did not correct
    "rx_bits_phy": _counter("rx_bits"),
    "link_down_events_phy": _counter("link_down_events"),
    "rx_discards_phy": _counter("rx_discards"),
    "tx_pause_storm_warning_events": _counter("storm_warnings"),
    "tx_pause_storm_error_events": _counter("storm_errors"),
    **{
        f"{direction}_prio{p}_pause{suffix}": _counter(f"{direction}_pause_{what}.{p}")
        for p in range(MAX_PRIORITY + 1)
        for direction in ("rx", "tx")
        for suffix, what in (("", "frames"), ("_duration", "us"))
    },
}
#: OpenConfig leaves (openconfig-interfaces, -if-ethernet, -platform-transceiver, -qos)
#: and the leaves NVIDIA Cumulus Linux streams beside them
OPENCONFIG: dict[str, Part] = {
    "out-pkts": _counter("oc_tx"),
    "out-discards": _counter("oc_tx_drop"),
    "in-pkts": _counter("oc_rx"),
    "in-discards": _counter("oc_rx_drop"),
    "in-errors": _counter("rx_errs"),
    "out-errors": _counter("tx_errs"),
    "carrier-transitions": _counter("carrier_transitions"),
    "fec-corrected-blocks": _counter("fec_corrected"),
    "fec-uncorrectable-blocks": _counter("fec_uncorrectable"),
    "rs-fec-uncorrectable-blocks": _counter("fec_uncorrectable"),  # Cumulus: .../phy/state
    "received-bits": _counter("rx_bits"),  # Cumulus
    "effective-errors": _counter("symbol_errors"),  # Cumulus: errors after FEC
    "effective-ber": Part("link", "effective_ber"),  # Cumulus
    "post-fec-ber/instant": Part("link", "effective_ber"),
    "in-pause-pkts": _counter("rx_pause_frames", PRIORITY_LABELS),  # qos switch-priority
    "out-pause-pkts": _counter("tx_pause_frames", PRIORITY_LABELS),
    "input-power/instant": Part("link", "rx_power", signed=True, index=LANE_LABELS),
    "output-power/instant": Part("link", "tx_power", signed=True, index=LANE_LABELS),
    "input-power-lower": Part("link", "rx_lower", signed=True, index=("severity",)),
    "input-power-upper": Part("link", "rx_upper", signed=True, index=("severity",)),
}
#: NVIDIA Cumulus Linux's OTLP export (interface statistics, PHY and switch priority)
CUMULUS: dict[str, Part] = {
    "nvswitch_interface_carrier_changes_total": _counter("carrier_transitions"),
    "nvswitch_interface_oper_state": Part("link", "oper_state"),  # 1 is up
    "nvswitch_interface_phy_stats_phy_received_bits": _counter("rx_bits"),
    "nvswitch_interface_phy_stats_phy_effective_errors": _counter("symbol_errors"),
    "nvswitch_interface_phy_stats_effective_ber": Part("link", "effective_ber"),
    "nvswitch_interface_sp_rx_pause": _counter("rx_pause_frames", PRIORITY_LABELS),
    "nvswitch_interface_sp_tx_pause": _counter("tx_pause_frames", PRIORITY_LABELS),
    "nvswitch_interface_sp_rx_pause_duration": _counter("rx_pause_us", PRIORITY_LABELS),
    "nvswitch_interface_sp_tx_pause_duration": _counter("tx_pause_us", PRIORITY_LABELS),
}


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
    "node_network_carrier_changes_total": _counter("carrier_transitions"),
    "node_network_up": Part("link", "carrier_up"),  # operstate "up"; carrier is absent when down
    "megawatch_rack_power_watts": Part("rack_power", "power"),
    "megawatch_link_rx_power_dbm": Part("link", "rx_power", signed=True, index=LANE_LABELS),
    "megawatch_link_tx_power_dbm": Part("link", "tx_power", signed=True, index=LANE_LABELS),
    "megawatch_link_rx_power_threshold_dbm": Part(
        "link", "rx_threshold", signed=True, index=("level",)
    ),
    **{name: part for stat, part in ETHTOOL.items() for name in _ethtool(stat)},
    **OPENCONFIG,
    **CUMULUS,
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
    #: other sets of parts that will do instead of ``required`` (another exporter's names)
    alternatives: tuple[frozenset[str], ...] = ()

    def missing(self, parts: Parts) -> frozenset[str]:
        """The required parts that ``parts`` lacks, of the set nearest to complete
        (empty: the event can be made)."""
        have = parts.keys()
        if self.required <= have:  # the common case: no set made
            return frozenset()
        return min((need - have for need in (self.required, *self.alternatives)), key=len)


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


KINDS: dict[str, Kind] = {
    "gpu": Kind(
        frozenset({"util", "power"}),
        {"util": "util_pct", "power": "power_w", "temp": "temp_c", "power_limit": "power_limit_w"},
        _gpu,
    ),
    "link": Kind(NODE_PACKETS, {}, link_fields, (OPENCONFIG_PACKETS,)),
    "rack_power": Kind(frozenset({"power"}), {"power": "power_w"}),
    # the counter's name and source are id fields (the mapper's): one event per counter
    "work": Kind(frozenset({"total"}), {"total": "total"}),
}


def usable(part: Part, value: float) -> bool:
    """False for values that are no reading: NaN (Prometheus' stale marker is one),
    infinities, negatives, and DCGM's "blank" sentinels (0x7ffffff0 and up). dBm may be
    negative, and -inf (no light) is a reading of it (:func:`reading`)."""
    if value != value or value == float("inf"):
        return False
    if value < 0:
        return part.signed
    return part.kind != "gpu" or value < DCGM_BLANK


def reading(part: Part, value: float) -> float:
    """A usable value as a part holds it: dBm under the floor (no light; -inf is how
    some exporters say it) is the floor."""
    return max(value, MIN_DBM) if part.signed else value


def lookup(name: str) -> tuple[Part, dict[str, str]] | None:
    """The part a metric feeds and the keys its name carries: an OpenConfig path names
    its leaf (``.../state/counters/carrier-transitions``; ``.../input-power/instant``)
    and, in brackets, keys (``interface[name=swp1]``: ``{"name": "swp1"}``)."""
    part = METRICS.get(name)
    if part is not None:
        return part, {}
    if "/" not in name:
        return None
    elements = _PATH.findall(name)
    for tail in (2, 1):
        leaf = "/".join(e.rsplit(":", 1)[-1] for e, _ in elements[-tail:])
        part = METRICS.get(leaf)
        if part is not None and len(elements) > tail:
            keys = dict(_KEY.findall("".join(k for _, k in elements)))
            return part, keys
    return None


#: one path element: its name (an origin or module prefix allowed), then its [key=value]s
_PATH = re.compile(r"([^/\[\]]+)((?:\[[^\]]*\])*)")
_KEY = re.compile(r"\[([^=\]]+)=([^\]]*)\]")


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
