"""Series -> parts of contract events, grouped by entity and time.

A sample feeds one part (:mod:`pipeline.gateway.table`) of one event: the event of its
entity (a GPU of a host, a link, a rack) at its timestamp. Where the entity belongs
comes from the labels and the mapping file (``--map``, the agents' format:
:mod:`pipeline.sources.mapping`):

* site: a ``site`` label (Prometheus ``external_labels``, an OTLP resource attribute),
  else the map's ``site:``, else ``--site``;
* GPU: host from ``hostname``/``Hostname`` (dcgm-exporter) or ``host.name`` (OTLP),
  else the ``instance`` label's host; rack (and host id) from the map's ``hosts:``,
  else the host name, as the dcgm-exporter source does; GPU id from ``gpu``;
* link: the interface from ``device`` (node_exporter), ``interface`` or an OpenConfig
  key (``name``, ``interface-id``), looked up in the map's ``links:`` as ``HOST/IFACE``
  first, then ``IFACE``; others are no site link. A part indexed by a priority, lane or
  threshold level (:class:`pipeline.gateway.table.Part`) is named with its index here;
  a series without its index label feeds nothing (``no_index_label``);
* rack power: a ``rack`` label, else the map's ``racks:`` entry of the ``pdu`` or
  instance label;
* GPU jobs and tenants: ``hpc_job`` or ``pod`` and ``namespace`` (dcgm-exporter's
  labels, as the dcgm-exporter source reads them);
* work counters: the job from ``hpc_job``/``pod`` (the inference server's pod, which
  dcgm-exporter names as the job of its GPUs), the host from ``node``/``hostname``
  labels or, without a job, the ``instance`` label's host; the served model from
  ``model_name`` (vLLM), ``model`` (Triton) or ``model_id``.

Whatever maps to nothing is counted by metric name and reason, never dropped
silently. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.gateway.series import Series
from pipeline.gateway.table import Part, Parts, lookup, reading, usable
from pipeline.sources.dcgm import HOST_LABELS as DCGM_HOST_LABELS
from pipeline.sources.dcgm import JOB_LABELS, TENANT_LABELS
from pipeline.sources.mapping import Mapping, as_id

HOST_LABELS = (*DCGM_HOST_LABELS, "host.name", "host_name")
INTERFACE_LABELS = (
    "device",
    "interface",
    "network.interface.name",
    "interface_name",
    "interface-id",
    "name",
)
NODE_LABELS = ("node", "kubernetes_node", "k8s.node.name", *HOST_LABELS)
SERVED_MODEL_LABELS = ("model_name", "model", "model_id")

#: (kind, site, entity) -> the id fields of its events (site, rack, host, gpu, link, ...)
Entity = tuple[str, str, tuple[str, ...]]
#: an entity at one time: what parts are joined under
JoinKey = tuple[str, str, tuple[str, ...], int]


@dataclass
class Mapped:
    """One request's samples, grouped: ``groups`` holds the parts of each event."""

    groups: dict[JoinKey, Parts] = field(default_factory=dict)
    ids: dict[Entity, dict[str, Any]] = field(default_factory=dict)
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (metric, reason)
    samples: int = 0


#: where a series goes: its part, entity and the entity's id fields; or why nowhere
Placement = tuple[Part, Entity, dict[str, Any]] | str


class SeriesMapper:
    def __init__(self, mapping: Mapping, site: str | None = None, cache: int = 1_000_000) -> None:
        self.mapping = mapping
        self.site = site
        self.cache = cache
        self._placed: dict[Any, Placement] = {}  # Series.key -> its placement

    def map(self, series: Iterable[Series]) -> Mapped:
        out = Mapped()
        groups, unmapped = out.groups, out.unmapped
        for one in series:
            out.samples += len(one.points)
            placed = self._placed.get((one.key, one.temporality)) if one.key is not None else None
            if placed is None:
                placed = self._placement(one)
            if isinstance(placed, str):
                unmapped[(_counted(one.name), placed)] += len(one.points) or 1
                continue
            part, entity, ids = placed
            out.ids.setdefault(entity, ids)
            for ts, value in one.points:
                if not usable(part, value):
                    unmapped[(one.name, "no_value")] += 1
                    continue
                groups.setdefault((*entity, ts), {})[part.name] = (
                    reading(part, value) if part.signed else value
                )
        return out

    def _placement(self, series: Series) -> Placement:
        placed = self._find(series)
        if series.key is not None:
            if len(self._placed) >= self.cache:
                self._placed.clear()
            self._placed[(series.key, series.temporality)] = placed
        return placed

    def _find(self, series: Series) -> Placement:
        found = lookup(series.name)
        if found is None:
            return "unknown_metric"
        labels = {**series.labels, **found[1]} if found[1] else series.labels
        part = self._qualified(found[0], labels)
        if isinstance(part, str):
            return part
        entity = self._place(part, series, labels)
        return entity if isinstance(entity, str) else (part, *entity)

    @staticmethod
    def _qualified(part: Part, labels: dict[str, str]) -> Part | str:
        """The part itself, or for an indexed one the part of its index (a module or
        identity prefix such as ``openconfig-alarm-types:`` left out)."""
        if not part.index:
            return part
        index = next((labels[k] for k in part.index if labels.get(k)), None)
        if index is None:
            return "no_index_label"
        name = f"{part.name}.{index.rsplit(':', 1)[-1]}"
        return Part(part.kind, name, part.counter, part.signed)

    def _place(
        self, part: Part, series: Series, labels: dict[str, str]
    ) -> tuple[Entity, dict[str, Any]] | str:
        """The entity and id fields a series feeds (``labels``: its own and those its
        name carries), or the reason it feeds none."""
        if part.counter and series.temporality == "delta":
            return "delta_temporality"
        site = labels.get("site") or self.site
        if not site:
            return "no_site"
        site = as_id(site)
        if part.kind == "gpu":
            return self._gpu(site, labels)
        if part.kind == "link":
            return self._link(site, labels)
        if part.kind == "work":
            return self._work(part, site, labels)
        return self._rack(site, labels)

    def _gpu(self, site: str, labels: dict[str, str]) -> tuple[Entity, dict[str, Any]] | str:
        host_label = _host(labels)
        gpu = labels.get("gpu")
        if not host_label or not gpu:
            return "no_gpu_or_host_label"
        mapped = self.mapping.hosts.get(host_label)
        host = as_id(host_label, "host")
        rack, host = (host, host) if mapped is None else (mapped.rack, mapped.host or host)
        ids: dict[str, Any] = {"site": site, "rack": rack, "host": host, "gpu": as_id(gpu)}
        model = labels.get("modelName")
        if model:
            ids["model"] = model[:64]
        for name, keys in (("job", JOB_LABELS), ("tenant", TENANT_LABELS)):
            found = next((labels[k] for k in keys if labels.get(k)), None)
            if found:
                ids[name] = as_id(found)
        return ("gpu", site, (rack, host, ids["gpu"])), ids

    def _work(
        self, part: Part, site: str, labels: dict[str, str]
    ) -> tuple[Entity, dict[str, Any]] | str:
        job = next((labels[k] for k in JOB_LABELS if labels.get(k)), None)
        node = next((labels[k] for k in NODE_LABELS if labels.get(k)), None)
        host = node or (None if job else _host(labels))
        if not host and not job:
            return "no_host_or_job_label"
        ids: dict[str, Any] = {"site": site, "counter": part.work, "source": part.source}
        if host:
            mapped = self.mapping.hosts.get(host)
            ids["host"] = mapped.host or as_id(host) if mapped else as_id(host)
        if job:
            ids["job"] = as_id(job)
        served = next((labels[k] for k in SERVED_MODEL_LABELS if labels.get(k)), None)
        if served:
            ids["served_model"] = served[:128]
        entity = (ids.get("host", ""), ids.get("job", ""), part.work, ids.get("served_model", ""))
        return ("work", site, entity), ids

    def _link(self, site: str, labels: dict[str, str]) -> tuple[Entity, dict[str, Any]] | str:
        iface = next((labels[k] for k in INTERFACE_LABELS if labels.get(k)), None)
        if iface is None:
            return "no_interface_label"
        host = _host(labels)
        links = self.mapping.links
        place = (links.get(f"{host}/{iface}") if host else None) or links.get(iface)
        if place is None:
            return "interface_not_in_map"
        ids: dict[str, Any] = {"site": site, "link": place.link, "link_class": place.link_class}
        if place.peer:
            ids["peer_site"] = place.peer
        return ("link", site, (place.link,)), ids

    def _rack(self, site: str, labels: dict[str, str]) -> tuple[Entity, dict[str, Any]] | str:
        rack = labels.get("rack")
        if not rack:
            device = labels.get("pdu") or _host(labels)
            rack = self.mapping.racks.get(device) if device else None
        if not rack:
            return "no_rack"
        rack = as_id(rack)
        return ("rack_power", site, (rack,)), {"site": site, "rack": rack}


def _counted(name: str) -> str:
    """A metric name as its unmapped series are counted: an OpenConfig path without its
    keys (``interface[name=swp1]``), so that each port is not a name of its own."""
    return _KEYS.sub("", name) if "[" in name else name


_KEYS = re.compile(r"\[[^\]]*\]")


def _host(labels: dict[str, str]) -> str | None:
    """The host a series is about: its host label, else the host of ``instance``."""
    for key in HOST_LABELS:
        if labels.get(key):
            return labels[key]
    instance = labels.get("instance")
    if not instance:
        return None
    if instance.startswith("["):  # [::1]:9100
        return instance[1:].split("]", 1)[0]
    return instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance
