"""GPU samples from NVIDIA's dcgm-exporter (``megawatch agent --source dcgm-exporter``).

Each tick scrapes every exporter's ``/metrics`` page (Prometheus text, parsed by
``prometheus_client``'s own parser) and publishes one GPU sample per GPU: the fields of
dcgm-exporter's default counters (``etc/default-counters.csv``):

* ``DCGM_FI_DEV_GPU_UTIL`` (%) -> ``util_pct`` and ``DCGM_FI_DEV_POWER_USAGE`` (W) ->
  ``power_w``: both needed, a GPU without them is skipped (logged once);
* ``DCGM_FI_DEV_FB_USED`` / (``FB_USED + FB_FREE + FB_RESERVED``) (MiB) -> ``mem_used_pct``;
* ``DCGM_FI_DEV_GPU_TEMP`` (C) -> ``temp_c``; ``DCGM_FI_DEV_POWER_MGMT_LIMIT`` (W, when
  the exporter is configured to export it) -> ``power_limit_w``;
* ``DCGM_FI_DEV_CLOCKS_EVENT_REASONS`` (NVML's clocks event reasons bitmask, when added
  to the exporter's counters CSV) -> ``clock_reasons``.

Labels: ``gpu`` (the index) is the GPU id, ``modelName`` the model; the host is the
``hostname`` label (``Hostname`` before dcgm-exporter 4.5), else the target's host name,
and the rack comes from the mapping file's ``hosts:`` (else the host name). Lines of one
GPU may repeat with extra labels (``pod``, ``namespace``, ``container`` of each pod
sharing it): they are one GPU. DCGM's "blank" values (no reading: 0x7ffffff0 and above)
are left out, as NVML's unsupported fields are.

Jobs: the GPU's ``job`` is its ``hpc_job`` label (the exporter's HPC job mapping), else
its ``pod`` (``pod_name`` before dcgm-exporter 2.x); its ``tenant`` the pod's
``namespace`` (``pod_namespace``). A GPU time-sliced between pods of several jobs gets no
job (DCGM does not say which pod drew what), and a tenant only when they share one.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pipeline.sources.http_devices import get
from pipeline.sources.mapping import Mapping, as_id
from pipeline.sources.polling import ReadError

logger = logging.getLogger(__name__)

#: DCGM field -> GPU sample field (the memory fields are combined separately).
FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": "util_pct",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
    "DCGM_FI_DEV_GPU_TEMP": "temp_c",
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": "power_limit_w",
}
REASONS = "DCGM_FI_DEV_CLOCKS_EVENT_REASONS"
MEMORY = ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_RESERVED")
#: DCGM reports "no value" with sentinels from DCGM_INT32_BLANK (0x7ffffff0) upwards.
DCGM_BLANK = float(0x7FFFFFF0)
HOST_LABELS = ("hostname", "Hostname")
UUID_LABELS = ("UUID", "uuid", "gpu_uuid")
JOB_LABELS = ("hpc_job", "pod", "pod_name")
TENANT_LABELS = ("namespace", "pod_namespace")

GpuKey = tuple[str, str]  # host label, gpu index


def parse_page(text: str, default_host: str) -> dict[GpuKey, dict[str, Any]]:
    """The wanted fields of every GPU on one page: {(host, gpu): {field: value, ...}}.

    ``ValueError`` when the page is not Prometheus text."""
    gpus: dict[GpuKey, dict[str, Any]] = {}
    wanted = {*FIELDS, *MEMORY, REASONS}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in wanted or "gpu" not in sample.labels:
                continue
            labels = sample.labels
            host = next((labels[k] for k in HOST_LABELS if labels.get(k)), default_host)
            fields = gpus.setdefault((host, labels["gpu"]), {})
            _note_owner(fields, labels)
            # The first line of a GPU wins: later ones are the same GPU seen from another pod.
            if sample.name in fields or not 0 <= sample.value < DCGM_BLANK:
                continue
            fields[sample.name] = sample.value
            if labels.get("modelName"):
                fields.setdefault("model", labels["modelName"][:64])
            uuid = next((labels[k] for k in UUID_LABELS if labels.get(k)), None)
            if uuid:
                fields.setdefault("uuid", uuid)
    return gpus


def _note_owner(fields: dict[str, Any], labels: dict[str, str]) -> None:
    """Collect the jobs and tenants a GPU's lines name (several under time-slicing)."""
    job = next((labels[k] for k in JOB_LABELS if labels.get(k)), None)
    tenant = next((labels[k] for k in TENANT_LABELS if labels.get(k)), None)
    if job:
        fields.setdefault("jobs", set()).add(as_id(job))
    if tenant:
        fields.setdefault("tenants", set()).add(as_id(tenant))


def gpu_event(
    site: str, place: tuple[str, str], gpu: str, fields: dict[str, Any], ts_ms: int
) -> dict[str, Any] | None:
    """One GPU sample from a GPU's parsed fields, or None without utilization and power."""
    if "DCGM_FI_DEV_GPU_UTIL" not in fields or "DCGM_FI_DEV_POWER_USAGE" not in fields:
        return None
    rack, host = place
    event: dict[str, Any] = {"site": site, "rack": rack, "host": host, "gpu": as_id(gpu)}
    event["ts"] = ts_ms
    for name, field in FIELDS.items():
        if name in fields:
            event[field] = round(float(fields[name]), 3)
    event["util_pct"] = min(event["util_pct"], 100.0)
    if event.get("power_limit_w") == 0:
        del event["power_limit_w"]
    used, free, reserved = (fields.get(name) for name in MEMORY)
    total = (used or 0) + (free or 0) + (reserved or 0)
    if used is not None and free is not None and total > 0:
        event["mem_used_pct"] = round(100.0 * used / total, 2)
    event["vendor"] = "nvidia"
    if "model" in fields:
        event["model"] = fields["model"]
    if REASONS in fields:
        event["clock_reasons"] = int(fields[REASONS])
    for name, many in (("job", "jobs"), ("tenant", "tenants")):
        if len(fields.get(many, ())) == 1:
            event[name] = next(iter(fields[many]))
    return event


class DcgmExporterReader:
    """One exporter's ``/metrics`` URL (the full URL, as Prometheus would scrape it)."""

    def __init__(self, site: str, url: str, client: httpx.Client, mapping: Mapping) -> None:
        self.site, self.url, self.client, self.mapping = site, url, client, mapping
        self.name = url
        self.default_host = urlsplit(url).hostname or "host"
        self._skipped: set[GpuKey] = set()

    def place(self, host_label: str) -> tuple[str, str]:
        """(rack, host id) of an exporter host: the mapping's, else the host's own name."""
        mapped = self.mapping.hosts.get(host_label)
        host = as_id(host_label, "host")
        if mapped is None:
            return host, host
        return mapped.rack, mapped.host or host

    def read(self, ts_ms: int) -> dict[str, list[dict[str, Any]]]:
        text = get(self.client, self.url, headers={"Accept": "text/plain"}).text
        try:
            gpus = parse_page(text, self.default_host)
        except ValueError as exc:
            raise ReadError(f"{self.url}: not Prometheus text: {exc}".splitlines()[0]) from None
        if not gpus:
            raise ReadError(f"{self.url}: no DCGM_FI_DEV_* GPU metrics on the page")
        events = []
        for (host, gpu), fields in sorted(gpus.items()):
            event = gpu_event(self.site, self.place(host), gpu, fields, ts_ms)
            if event is not None:
                events.append(event)
            elif (host, gpu) not in self._skipped:
                self._skipped.add((host, gpu))
                logger.warning(
                    "%s: GPU %s of %s skipped: no DCGM_FI_DEV_GPU_UTIL or "
                    "DCGM_FI_DEV_POWER_USAGE (enable them in the exporter's counters CSV)",
                    self.url,
                    gpu,
                    host,
                )
        return {"gpu": events}

    def close(self) -> None:
        self.client.close()


def read_targets(path: Any) -> list[str]:
    """URLs of a targets file: one per line; blank lines and ``#`` comments ignored."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]
