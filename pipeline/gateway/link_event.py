"""The parts of one link at one time -> the fields of its ``LinkCounters`` event.

The part names are those of :data:`pipeline.gateway.table.METRICS`. Packet counters come
in one of two sets: node_exporter's (``tx``, ``tx_drop``, ``rx``, ``rx_drop``, read as the
netdev source reads sysfs: transmit packets + transmit drops is what this end offered)
or OpenConfig's (``oc_tx`` is ``out-pkts``, which counts the packets higher layers asked
to send, discarded ones included). The link-health parts are optional; a part qualified
by an index (``rx_pause_us.3``, ``rx_power.1``, ``rx_threshold.low_warn``) is one entry of
a per-priority map, a lane list or a threshold. An index that names no priority
(0-7), no lane (a number) or no threshold level is left out.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from pipeline.events import MAX_PRIORITY, MIN_DBM

Parts = dict[str, float]

#: node_exporter's packet parts, and OpenConfig's: one set must be complete
NODE_PACKETS = frozenset({"tx", "tx_drop", "rx", "rx_drop"})
OPENCONFIG_PACKETS = frozenset({"oc_tx", "oc_tx_drop", "oc_rx", "oc_rx_drop"})

#: part -> counter field, taken as it is
COUNTERS = {
    "fec_corrected": "fec_corrected_codewords",
    "fec_uncorrectable": "fec_uncorrectable_codewords",
    "symbol_errors": "symbol_errors",
    "rx_bits": "rx_bits",
    "carrier_transitions": "carrier_transitions",
    "link_down_events": "link_down_events",
    "rx_discards": "rx_discarded_packets",
    "storm_warnings": "pause_storm_warnings",
    "storm_errors": "pause_storm_errors",
}
#: indexed part -> per-priority field
PER_PRIORITY = {
    "rx_pause_frames": "rx_pause_frames",
    "tx_pause_frames": "tx_pause_frames",
    "rx_pause_us": "rx_pause_us",
    "tx_pause_us": "tx_pause_us",
}
#: indexed part -> per-lane field
LANES = {"rx_power": "rx_power_dbm", "tx_power": "tx_power_dbm"}
#: a threshold's level as exporters label it -> its field. megawatch's own metric says
#: low_warn..high_alarm; OpenConfig's transceiver thresholds say lower/upper by severity
#: (WARNING; CRITICAL or MAJOR for the alarm).
THRESHOLDS = {
    "rx_threshold.low_warn": "rx_power_low_warn_dbm",
    "rx_threshold.low_alarm": "rx_power_low_alarm_dbm",
    "rx_threshold.high_warn": "rx_power_high_warn_dbm",
    "rx_threshold.high_alarm": "rx_power_high_alarm_dbm",
    "rx_lower.WARNING": "rx_power_low_warn_dbm",
    "rx_lower.CRITICAL": "rx_power_low_alarm_dbm",
    "rx_lower.MAJOR": "rx_power_low_alarm_dbm",
    "rx_upper.WARNING": "rx_power_high_warn_dbm",
    "rx_upper.CRITICAL": "rx_power_high_alarm_dbm",
    "rx_upper.MAJOR": "rx_power_high_alarm_dbm",
}
_PRIORITIES = {str(p): p for p in range(MAX_PRIORITY + 1)}


def link_fields(parts: Parts, event: dict[str, Any]) -> None:
    """Every field of a link event that its parts give (a complete packet set is there)."""
    _packets(parts, event)
    for part, name in COUNTERS.items():
        if part in parts:
            event[name] = int(parts[part])
    if "effective_ber" in parts:
        event["effective_ber"] = min(float(parts["effective_ber"]), 1.0)
    for part in ("carrier_up", "oper_state"):  # node_network_up; a switch's oper state
        if part in parts:
            event["carrier_up"] = parts[part] == 1
    _indexed(parts, event)


def _packets(parts: Parts, event: dict[str, Any]) -> None:
    if parts.keys() >= NODE_PACKETS:
        event["tx_packets"] = int(parts["tx"]) + int(parts["tx_drop"])
        event["rx_packets"] = int(parts["rx"])
        event["dropped_packets"] = int(parts["tx_drop"]) + int(parts["rx_drop"])
    else:
        event["tx_packets"] = int(parts["oc_tx"])
        event["rx_packets"] = int(parts["oc_rx"])
        event["dropped_packets"] = int(parts["oc_tx_drop"]) + int(parts["oc_rx_drop"])
    if "rx_errs" in parts and "tx_errs" in parts:
        event["error_packets"] = int(parts["rx_errs"]) + int(parts["tx_errs"])


def _indexed(parts: Parts, event: dict[str, Any]) -> None:
    """Per-priority maps, lane lists (in lane order) and thresholds from their parts."""
    maps: dict[str, dict[int, int]] = {}  # by priority; written with JSON's string keys
    lanes: dict[str, list[tuple[int, float]]] = {}
    for part, value in parts.items():
        name, dot, index = part.partition(".")
        if not dot:
            continue
        if name in PER_PRIORITY and index in _PRIORITIES:
            maps.setdefault(PER_PRIORITY[name], {})[_PRIORITIES[index]] = int(value)
        elif name in LANES and index.isdigit():
            lanes.setdefault(LANES[name], []).append((int(index), max(value, MIN_DBM)))
        elif part in THRESHOLDS:
            event[THRESHOLDS[part]] = round(max(value, MIN_DBM), 2)
    for name, counts in maps.items():
        event[name] = {str(p): n for p, n in sorted(counts.items())}
    for name, values in lanes.items():
        event[name] = [round(dbm, 2) for _, dbm in sorted(values)]
