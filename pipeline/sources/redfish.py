"""Rack power from Redfish services (``megawatch agent --source redfish``).

``--url`` is a service root (``https://bmc-or-pdu:443``). The reader discovers, under
``/redfish/v1``, and again every ``rediscover_every`` reads or after a failed discovery:

* rack PDUs: ``PowerEquipment/RackPDUs/{id}`` with ``EquipmentType`` RackPDU; power is
  their ``Metrics`` ``PowerWatts.Reading``. Transfer switches and floor PDUs are no
  racks: they are not read, even when one shares a rack PDU's ``Id``.
* chassis with power: ``EnvironmentMetrics`` ``PowerWatts.Reading`` (DSP0268 2020.4+),
  else the deprecated ``Power`` resource's first ``PowerControl[].PowerConsumedWatts``;
  when a chassis has both, the newer one wins (they differ on real BMCs). A chassis
  that is a power device (``Links.PowerDistribution``, or named in a PDU's
  ``Links.Chassis``) is skipped, so a PDU never counts twice; so is a chassis inside
  another chassis that reports power (the enclosure measures its blades).

Rack id: the mapping file's ``racks:`` entry for the device's ``@odata.id`` or ``Id``,
else its ``Id``. Devices mapped to one rack are summed; when one of them fails to
answer, that rack is left out of the tick (stale, then estimated by the worker) rather
than sent low: a partial sum would read as a power drop. Each failing device is one log
line (then once more when it recovers) and counted; the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.sources.mapping import Mapping, as_id
from pipeline.sources.polling import ReadError
from pipeline.sources.redfish_session import SERVICE_ROOT, RedfishService

logger = logging.getLogger(__name__)

Report = Callable[[str, str | None], None]


@dataclass(frozen=True)
class PowerDevice:
    """One physical device whose power is read each tick."""

    path: str  # its @odata.id
    ident: str  # its Id
    kind: str  # "rack_pdu" or "chassis"
    reading: str  # the resource holding the reading
    fallback: str | None = None  # the deprecated Power resource, when Environment has none
    parent: str | None = None  # the chassis containing it


def _link(body: dict[str, Any], *names: str) -> str | None:
    """The @odata.id at ``body[names[0]][names[1]]...``, or None."""
    node: Any = body
    for name in names:
        node = node.get(name) if isinstance(node, dict) else None
    return node.get("@odata.id") if isinstance(node, dict) else None


def _members(body: dict[str, Any]) -> list[str]:
    members = body.get("Members") or []
    return [m["@odata.id"] for m in members if isinstance(m, dict) and "@odata.id" in m]


def power_reading(body: dict[str, Any]) -> float | None:
    """Watts in a Metrics/EnvironmentMetrics (``PowerWatts``) or Power (``PowerControl``)."""
    sensor = body.get("PowerWatts")
    if isinstance(sensor, dict) and isinstance(sensor.get("Reading"), int | float):
        return float(sensor["Reading"])
    for control in body.get("PowerControl") or []:
        if isinstance(control, dict) and isinstance(control.get("PowerConsumedWatts"), int | float):
            return float(control["PowerConsumedWatts"])
    return None


class RedfishReader:
    def __init__(
        self,
        site: str,
        service: RedfishService,
        mapping: Mapping,
        *,
        rediscover_every: int = 300,
    ) -> None:
        self.site, self.service, self.mapping = site, service, mapping
        self.name = service.base_url
        self.rediscover_every = rediscover_every
        self.devices: list[PowerDevice] | None = None
        self._reads = 0
        self.report: Report = lambda name, reason: None  # set by the polling source

    # --- discovery ----------------------------------------------------------------------
    def discover(self) -> list[PowerDevice]:
        root = self.service.get(SERVICE_ROOT)  # a service that does not answer: ReadError
        pdus, covered = self._rack_pdus(root)
        chassis = self._chassis(root, covered)
        with_power = {d.path for d in chassis}
        chassis = [d for d in chassis if not self._inside(d, with_power, chassis)]
        devices = pdus + chassis
        logger.info("%s: %d rack PDUs, %d chassis with power", self.name, len(pdus), len(chassis))
        return devices

    def _inside(self, device: PowerDevice, with_power: set[str], all_: list[PowerDevice]) -> bool:
        parents = {d.path: d.parent for d in all_}
        seen, parent = set(), device.parent
        while parent and parent not in seen:
            if parent in with_power:
                return True
            seen.add(parent)
            parent = parents.get(parent)
        return False

    def _get_device(self, path: str) -> dict[str, Any] | None:
        try:
            body = self.service.get(path)
        except ReadError as exc:
            self.report(self.service.url(path), str(exc))
            return None
        return body

    def _rack_pdus(self, root: dict[str, Any]) -> tuple[list[PowerDevice], set[str]]:
        equipment = _link(root, "PowerEquipment")
        if equipment is None:
            return [], set()
        racks = _link(self.service.get(equipment), "RackPDUs")
        if racks is None:
            return [], set()
        devices, covered = [], set()
        for path in _members(self.service.get(racks)):
            pdu = self._get_device(path)
            if pdu is None or pdu.get("EquipmentType", "RackPDU") != "RackPDU":
                continue
            chassis = pdu.get("Links", {}).get("Chassis", [])
            covered |= {c["@odata.id"] for c in chassis if "@odata.id" in c}
            metrics = _link(pdu, "Metrics")
            if metrics is None:
                logger.warning("%s: rack PDU %s has no Metrics: not read", self.name, path)
                continue
            devices.append(PowerDevice(path, str(pdu.get("Id", path)), "rack_pdu", metrics))
        return devices, covered

    def _chassis(self, root: dict[str, Any], covered: set[str]) -> list[PowerDevice]:
        collection = _link(root, "Chassis")
        if collection is None:
            return []
        devices = []
        for path in _members(self.service.get(collection)):
            if path in covered:
                continue
            chassis = self._get_device(path)
            if chassis is None or _link(chassis, "Links", "PowerDistribution"):
                continue
            newer, older = _link(chassis, "EnvironmentMetrics"), _link(chassis, "Power")
            if newer is None and older is None:
                continue  # no power of its own (a blade, a drive enclosure)
            parent = _link(chassis, "Links", "ContainedBy")
            ident = str(chassis.get("Id", path))
            reading = newer or older
            assert reading is not None
            devices.append(
                PowerDevice(path, ident, "chassis", reading, older if newer else None, parent)
            )
        return devices

    # --- reading ------------------------------------------------------------------------
    def rack_of(self, device: PowerDevice) -> str:
        racks = self.mapping.racks
        return racks.get(device.path) or racks.get(device.ident) or as_id(device.ident, "rack")

    def read_device(self, device: PowerDevice) -> float | None:
        """The device's watts; a failure is reported (one line) and gives None."""
        try:
            watts = power_reading(self.service.get(device.reading))
            if watts is None and device.fallback:
                watts = power_reading(self.service.get(device.fallback))
        except ReadError as exc:
            self.report(self.service.url(device.path), str(exc))
            return None
        if watts is None or watts < 0:
            self.report(self.service.url(device.path), f"{device.reading} has no power reading")
            return None
        self.report(self.service.url(device.path), None)
        return watts

    def read(self, ts_ms: int) -> dict[str, list[dict[str, Any]]]:
        if self.devices is None or self._reads % self.rediscover_every == 0:
            self.devices = self.discover()
        self._reads += 1
        racks: dict[str, list[tuple[PowerDevice, float | None]]] = {}
        for device in self.devices:
            racks.setdefault(self.rack_of(device), []).append((device, self.read_device(device)))
        events = []
        for rack, readings in racks.items():
            if any(watts is None for _, watts in readings):
                continue  # a partial sum would read as a power drop: leave the rack stale
            event: dict[str, Any] = {"site": self.site, "rack": rack, "ts": ts_ms}
            event["power_w"] = round(sum(w for _, w in readings if w is not None), 3)
            pdus = [d.ident for d, _ in readings if d.kind == "rack_pdu"]
            if len(readings) == 1 and pdus:
                event["pdu"] = as_id(pdus[0])
            event["source"] = "redfish"
            events.append(event)
        return {"rack_power": events}

    def close(self) -> None:
        self.service.close()
