"""Link counters of RDMA / InfiniBand ports (``megawatch agent --source rdma``).

Reads ``/sys/class/infiniband/<device>/ports/<port>/counters/`` (the kernel's
PortCounters, as ``perfquery`` shows them) for each ``device/port`` of the mapping
file's ``links:`` (e.g. ``mlx5_0/1``); unmapped ports are ignored.

* ``tx_packets`` = ``port_xmit_packets + port_xmit_discards`` (offered to the link);
* ``rx_packets`` = ``port_rcv_packets``;
* ``dropped_packets`` = ``port_xmit_discards`` (no credits, link down, congestion) +
  ``port_rcv_errors`` + ``port_rcv_remote_physical_errors`` +
  ``port_rcv_switch_relay_errors``: packets lost leaving or arriving;
* ``error_packets`` = ``port_rcv_errors + port_rcv_remote_physical_errors``.

A counter the port does not have reads 0. Counters only grow, except when the port is
reset: the worker then takes a new baseline, never loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.sources.mapping import Mapping
from pipeline.sources.polling import ReadError

SYS_INFINIBAND = Path("/sys/class/infiniband")
COUNTERS = (
    "port_xmit_packets",
    "port_rcv_packets",
    "port_xmit_discards",
    "port_rcv_errors",
    "port_rcv_remote_physical_errors",
    "port_rcv_switch_relay_errors",
)


def read_port(directory: Path) -> dict[str, int]:
    values = {}
    for name in COUNTERS:
        try:
            values[name] = int((directory / name).read_text().strip() or 0)
        except FileNotFoundError:
            values[name] = 0
    return values


def port_event(site: str, place: Any, c: dict[str, int], ts_ms: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "site": site,
        "link": place.link,
        "link_class": place.link_class,
        "ts": ts_ms,
        "tx_packets": c["port_xmit_packets"] + c["port_xmit_discards"],
        "rx_packets": c["port_rcv_packets"],
        "dropped_packets": c["port_xmit_discards"]
        + c["port_rcv_errors"]
        + c["port_rcv_remote_physical_errors"]
        + c["port_rcv_switch_relay_errors"],
        "error_packets": c["port_rcv_errors"] + c["port_rcv_remote_physical_errors"],
    }
    if place.peer:
        event["peer_site"] = place.peer
    return event


class RdmaReader:
    """The mapped RDMA ports of this host, each tick."""

    name = "rdma"

    def __init__(self, site: str, mapping: Mapping, root: Path = SYS_INFINIBAND) -> None:
        self.site, self.root = site, root
        self.ports = {k: v for k, v in mapping.links.items() if "/" in k}
        if not self.ports:
            raise ReadError("--source rdma needs a --map file with links: (device/port -> link)")
        self.report: Any = lambda name, reason: None  # set by the polling source

    def read(self, ts_ms: int) -> dict[str, list[dict[str, Any]]]:
        events = []
        for key, place in self.ports.items():
            device, _, port = key.partition("/")
            directory = self.root / device / "ports" / port / "counters"
            if not directory.is_dir():
                self.report(f"port {key}", f"{directory} does not exist")
                continue
            self.report(f"port {key}", None)
            events.append(port_event(self.site, place, read_port(directory), ts_ms))
        return {"link": events}
