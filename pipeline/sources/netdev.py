"""Link counters from this host's network interfaces (``megawatch agent --source netdev``).

Reads ``/sys/class/net/<iface>/statistics/`` for each interface of the mapping file's
``links:`` (others are ignored: loopbacks, bridges and container veths are no site
links) and the drops of its root queueing discipline (``tc -s -j qdisc show``).

What "dropped" means, measured with a veth pair and a dropping qdisc
(tests/integration/test_source_netdev.py): packets a qdisc drops (congestion, a
shaper, netem's ``loss``) never reach the driver, so they are in neither ``tx_packets``
nor ``tx_dropped``; only the qdisc's ``drops`` counter sees them. So, per interface:

* ``tx_packets`` = ``tx_packets + tx_dropped`` + qdisc drops: the packets this end
  offered to the link (the denominator of the loss ratio);
* ``dropped_packets`` = qdisc drops + ``tx_dropped`` + ``rx_dropped`` +
  ``rx_missed_errors``: every packet this end lost on the link, leaving or arriving;
* ``rx_packets`` = ``rx_packets``; ``error_packets`` = ``rx_errors + tx_errors``.

And the link health the kernel keeps for every interface (``/sys/class/net/<iface>/``):

* ``carrier_transitions`` = ``carrier_changes`` (up and down both: a flap counts 2);
* ``carrier_up`` = ``operstate`` is ``up`` (``down``, ``lowerlayerdown``, ``dormant``,
  ``notpresent`` are not; ``unknown``, a device that keeps no state, says nothing).
  ``operstate``, not ``carrier``: reading ``carrier`` fails while an interface is down.

Without ``tc`` (iproute2) the qdisc drops are unknown: the source says so once and
reports the interface counters alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pipeline.sources.mapping import LinkPlace, Mapping
from pipeline.sources.polling import ReadError

logger = logging.getLogger(__name__)

SYS_NET = Path("/sys/class/net")
COUNTERS = (
    "tx_packets",
    "rx_packets",
    "tx_dropped",
    "rx_dropped",
    "rx_missed_errors",
    "rx_errors",
    "tx_errors",
)


def qdisc_drops(tc: str | None = None) -> dict[str, int] | None:
    """Drops of each interface's root qdisc, from ``tc -s -j qdisc show``; None without tc."""
    tc = tc or shutil.which("tc")
    if tc is None:
        return None
    try:
        out = subprocess.run(
            [tc, "-s", "-j", "qdisc", "show"], capture_output=True, text=True, timeout=5, check=True
        ).stdout
        qdiscs = json.loads(out or "[]")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise ReadError(f"tc -s -j qdisc show failed: {exc}".splitlines()[0]) from None
    drops: dict[str, int] = {}
    for qdisc in qdiscs:
        if qdisc.get("root") and isinstance(qdisc.get("drops"), int):
            drops[qdisc["dev"]] = drops.get(qdisc["dev"], 0) + qdisc["drops"]
    return drops


def read_statistics(directory: Path) -> dict[str, int]:
    """The counters above from one statistics directory (a missing one reads 0)."""
    values = {}
    for name in COUNTERS:
        try:
            values[name] = int((directory / name).read_text().strip() or 0)
        except FileNotFoundError:
            values[name] = 0
    return values


def read_carrier(directory: Path) -> dict[str, Any]:
    """The carrier fields of one interface directory (those the kernel keeps)."""
    out: dict[str, Any] = {}
    with contextlib.suppress(FileNotFoundError, ValueError):  # before 3.15: no count kept
        out["carrier_transitions"] = int((directory / "carrier_changes").read_text().strip())
    try:
        state = (directory / "operstate").read_text().strip()
    except FileNotFoundError:
        return out
    if state != "unknown":
        out["carrier_up"] = state == "up"
    return out


def link_event(
    site: str, place: LinkPlace, stats: dict[str, int], qdisc_dropped: int, ts_ms: int
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "site": site,
        "link": place.link,
        "link_class": place.link_class,
        "ts": ts_ms,
        "tx_packets": stats["tx_packets"] + stats["tx_dropped"] + qdisc_dropped,
        "rx_packets": stats["rx_packets"],
        "dropped_packets": qdisc_dropped
        + stats["tx_dropped"]
        + stats["rx_dropped"]
        + stats["rx_missed_errors"],
        "error_packets": stats["rx_errors"] + stats["tx_errors"],
    }
    if place.peer:
        event["peer_site"] = place.peer
    return event


class NetdevReader:
    """The mapped interfaces of this host, each tick."""

    name = "netdev"

    def __init__(self, site: str, mapping: Mapping, sys_net: Path = SYS_NET) -> None:
        self.site, self.links, self.sys_net = site, mapping.links, sys_net
        if not self.links:
            raise ReadError("--source netdev needs a --map file with links: (interface -> link)")
        self._warned_tc = False
        self.report: Any = lambda name, reason: None  # set by the polling source

    def _qdisc_drops(self) -> dict[str, int]:
        drops = qdisc_drops()
        if drops is None:
            if not self._warned_tc:
                logger.warning("netdev: no `tc` (iproute2): qdisc drops are not counted as loss")
                self._warned_tc = True
            return {}
        return drops

    def read(self, ts_ms: int) -> dict[str, list[dict[str, Any]]]:
        drops = self._qdisc_drops()
        events = []
        for iface, place in self.links.items():
            directory = self.sys_net / iface / "statistics"
            if not directory.is_dir():
                self.report(f"interface {iface}", f"{directory} does not exist")
                continue
            stats = read_statistics(directory)
            self.report(f"interface {iface}", None)
            event = link_event(self.site, place, stats, drops.get(iface, 0), ts_ms)
            events.append(event | read_carrier(directory.parent))
        return {"link": events}
