"""The gateway's link-health names: NIC statistics as node_exporter's ethtool collector
publishes them, node_exporter's carrier counters, OpenConfig paths with their keys,
megawatch's own optics metrics; each one part of one link event, which the contract
then takes as it is."""

from __future__ import annotations

from typing import Any

from pipeline.events import LinkCounters
from pipeline.gateway.joins import Joiner
from pipeline.gateway.mapper import SeriesMapper
from pipeline.gateway.series import Series
from pipeline.gateway.table import METRICS, lookup
from pipeline.sources.mapping import LinkPlace, Mapping

MAPPING = Mapping(
    links={
        "n9/ens1f0np0": LinkPlace("spine-9-p1", "fabric"),
        "swp3": LinkPlace("dci-3", "wan", "ams-2"),
    }
)
T = 1_796_000_000_000
NODE = {"device": "ens1f0np0", "instance": "n9:9100", "site": "fra-1"}
PACKETS = {
    "node_network_transmit_packets_total": 1000,
    "node_network_transmit_drop_total": 2,
    "node_network_receive_packets_total": 900,
    "node_network_receive_drop_total": 3,
}


def events(series: list[Series], mapping: Mapping = MAPPING) -> list[dict[str, Any]]:
    mapper, joiner = SeriesMapper(mapping), Joiner(30)
    return [event for _, event in joiner.absorb(mapper.map(series), 0).events]


def node(name: str, value: float, **labels: str) -> Series:
    return Series(name, {**NODE, **labels}, [(T, value)])


def test_node_exporter_ethtool_and_netclass_names_feed_one_link_event() -> None:
    """The names Debian's node_exporter 1.5 publishes for mlx5's statistics
    (``rx_prio3_pause_duration`` is ``node_ethtool_received_prio3_pause_duration``)."""
    health = {
        "node_ethtool_received_pcs_symbol_err_phy": 12,
        "node_ethtool_received_bits_phy": 4_000_000_000_000,
        "node_ethtool_link_down_events_phy": 1,
        "node_ethtool_received_discards_phy": 5,
        "node_ethtool_transmitted_pause_storm_warning_events": 2,
        "node_ethtool_transmitted_pause_storm_error_events": 0,
        "node_ethtool_received_prio3_pause": 7000,
        "node_ethtool_received_prio3_pause_duration": 1_500_000,
        "node_ethtool_transmitted_prio3_pause": 10,
        "node_ethtool_transmitted_prio3_pause_duration": 2000,
        "node_ethtool_received_prio0_pause_duration": 0,
        "node_network_carrier_changes_total": 4,
        "node_network_up": 1,
    }
    got = events([node(name, value) for name, value in {**PACKETS, **health}.items()])
    assert got == [
        {
            "site": "fra-1",
            "link": "spine-9-p1",
            "link_class": "fabric",
            "ts": T,
            "tx_packets": 1002,
            "rx_packets": 900,
            "dropped_packets": 5,
            "symbol_errors": 12,
            "rx_bits": 4_000_000_000_000,
            "carrier_transitions": 4,
            "link_down_events": 1,
            "rx_discarded_packets": 5,
            "pause_storm_warnings": 2,
            "pause_storm_errors": 0,
            "carrier_up": True,
            "rx_pause_frames": {"3": 7000},
            "rx_pause_us": {"0": 0, "3": 1_500_000},
            "tx_pause_frames": {"3": 10},
            "tx_pause_us": {"3": 2000},
        }
    ]
    event = LinkCounters.model_validate(got[0])
    assert event.rx_pause_us == {0: 0, 3: 1_500_000} and event.carrier_up is True


def test_every_ethtool_statistic_has_its_three_spellings() -> None:
    """As ``ethtool -S`` prints it, as node_exporter >= 1.4 publishes it (rx/tx as words
    spelled out), and as older node_exporters did."""
    for stat, spelled in (
        ("rx_prio7_pause_duration", "received_prio7_pause_duration"),
        ("tx_pause_storm_error_events", "transmitted_pause_storm_error_events"),
        ("rx_bits_phy", "received_bits_phy"),
        ("link_down_events_phy", "link_down_events_phy"),
    ):
        names = (stat, f"node_ethtool_{spelled}", f"node_ethtool_{stat}")
        found = [lookup(name) for name in names]
        assert found[0] is not None and found == [found[0]] * 3, stat
    assert lookup("node_ethtool_received_prio3_pause") == (METRICS["rx_prio3_pause"], {})


def test_openconfig_paths_name_their_leaf_and_keys() -> None:
    """A switch's gNMI paths as metric names (an OTel collector's gNMI receiver keeps
    them): packets by OpenConfig's counters, pauses per priority, optics per lane with
    the module's thresholds by severity, FEC and the device's effective BER."""
    base = "/interfaces/interface[name=swp3]"
    qos = "/qos/interfaces/interface[interface-id=swp3]/state/switch-priority"
    xcvr = "/components/component[name=swp3]/transceiver"
    values = {
        f"{base}/state/counters/out-pkts": 5000,
        f"{base}/state/counters/out-discards": 1,
        f"{base}/state/counters/in-pkts": 4900,
        f"{base}/state/counters/in-discards": 2,
        f"{base}/state/counters/carrier-transitions": 6,
        f"{base}/ethernet/phy/state/rs-fec-uncorrectable-blocks": 3,
        f"{base}/ethernet/state/counters/fec-corrected-blocks": 1234,
        f"{base}/ethernet/phy/state/effective-ber": 2.5e-12,
        f"{qos}[priority=3]/counters/in-pause-pkts": 40,
        f"{qos}[priority=4]/counters/in-pause-pkts": 0,
        f"{xcvr}/physical-channels/channel[index=1]/state/input-power/instant": -2.5,
        f"{xcvr}/physical-channels/channel[index=0]/state/input-power/instant": -3.125,
        f"{xcvr}/physical-channels/channel[index=2]/state/input-power/instant": float("-inf"),
        f"{xcvr}/thresholds/threshold[severity=WARNING]/state/input-power-lower": -10.0,
        f"{xcvr}/thresholds/threshold[severity=openconfig-alarm-types:CRITICAL]"
        "/state/input-power-lower": -13.01,
        f"{xcvr}/thresholds/threshold[severity=WARNING]/state/input-power-upper": 4.0,
    }
    got = events([Series(name, {"site": "fra-1"}, [(T, v)]) for name, v in values.items()])
    assert got == [
        {
            "site": "fra-1",
            "link": "dci-3",
            "link_class": "wan",
            "peer_site": "ams-2",
            "ts": T,
            "tx_packets": 5000,  # out-pkts counts the discarded ones already
            "rx_packets": 4900,
            "dropped_packets": 3,
            "fec_corrected_codewords": 1234,
            "fec_uncorrectable_codewords": 3,
            "carrier_transitions": 6,
            "effective_ber": 2.5e-12,
            "rx_pause_frames": {"3": 40, "4": 0},
            "rx_power_dbm": [-3.12, -2.5, -40.0],  # lane order; no light is the floor
            "rx_power_low_warn_dbm": -10.0,
            "rx_power_low_alarm_dbm": -13.01,
            "rx_power_high_warn_dbm": 4.0,
        }
    ]
    LinkCounters.model_validate(got[0])


def test_megawatch_optics_metrics_and_what_lacks_an_index() -> None:
    mapper = SeriesMapper(MAPPING)
    series = [node(name, value) for name, value in PACKETS.items()]
    series += [
        node("megawatch_link_rx_power_dbm", -4.0, lane="0"),
        node("megawatch_link_rx_power_dbm", -4.5, lane="1"),
        node("megawatch_link_tx_power_dbm", 1.0, lane="0"),
        node("megawatch_link_rx_power_threshold_dbm", -12.0, level="low_warn"),
        node("megawatch_link_rx_power_threshold_dbm", -15.0, level="low_alarm"),
        node("megawatch_link_rx_power_threshold_dbm", 1.0, level="nonsense"),  # left out
        node("megawatch_link_rx_power_dbm", -4.0),  # which lane?
        node("node_ethtool_received_prio9_pause", 5),  # no such priority: no such stat
    ]
    mapped = mapper.map(series)
    got = [e for _, e in Joiner(30).absorb(mapped, 0).events]
    assert got[0]["rx_power_dbm"] == [-4.0, -4.5] and got[0]["tx_power_dbm"] == [1.0]
    assert got[0]["rx_power_low_warn_dbm"] == -12.0
    assert got[0]["rx_power_low_alarm_dbm"] == -15.0
    assert "rx_power_high_warn_dbm" not in got[0]
    assert mapped.unmapped == {
        ("megawatch_link_rx_power_dbm", "no_index_label"): 1,
        ("node_ethtool_received_prio9_pause", "unknown_metric"): 1,
    }
    LinkCounters.model_validate(got[0])


def test_a_link_waits_for_its_health_parts_and_health_alone_is_no_event() -> None:
    """Health parts of a link join its packet counters across requests (the entity
    learns them); health parts without either packet set make no event and are
    counted as incomplete at the end of the window."""
    mapper, joiner = SeriesMapper(MAPPING), Joiner(30)
    first = [node(n, v) for n, v in PACKETS.items()] + [node("node_network_up", 1)]
    assert len(joiner.absorb(mapper.map(first), 0).events) == 1
    later = [Series(s.name, s.labels, [(T + 1000, s.points[0][1])]) for s in first]
    assert joiner.absorb(mapper.map(later[:4]), 1).events == []  # waits for node_network_up
    assert len(joiner.absorb(mapper.map(later[4:]), 2).events) == 1
    alone = [node("node_ethtool_received_bits_phy", 10, device="ens1f0np0")]
    alone = [Series(s.name, s.labels, [(T + 5000, 10)]) for s in alone]
    assert joiner.absorb(mapper.map(alone), 3).events == []
    assert joiner.sweep(40).events == []
    assert joiner.incomplete == {
        ("link", "rx"): 1,
        ("link", "rx_drop"): 1,
        ("link", "tx"): 1,
        ("link", "tx_drop"): 1,
    }
