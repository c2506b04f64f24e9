"""Real GPU readings through NVML (``megawatch agent --source nvml``).

Needs the ``nvidia-ml-py`` package (``pip install 'megawatch[nvml]'``) and an NVIDIA
driver; both are looked for only when the source starts, so this module imports
anywhere (``--wave``: the power waves of :mod:`pipeline.sources.nvml_wave` instead).
Each tick reads every GPU of this host: utilization, power, enforced power
limit, memory used, temperature and the clocks event reasons (NVML's bitmask: power cap,
slowdown, power brake), with vendor ``nvidia`` and the device name as model. A field the
device does not support is left out; a GPU without utilization or power is skipped
(logged once).

Jobs: ``--job-dir`` reads the directory a Slurm prolog writes for dcgm-exporter's HPC
job mapping (one file per GPU index holding the job id; several ids, a GPU shared: no
job), each tick; ``--priority`` and ``--tenant`` label every GPU of the host (a host
kept for inference, say). The job map (``control.jobs``) labels what is left.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import SourceError
from pipeline.sources.base import DEFAULT_BATCH_SIZE, Tick, encode_batches
from pipeline.sources.kind import BuildContext
from pipeline.sources.mapping import as_id
from pipeline.sources.registry import NvmlSourceOptions

logger = logging.getLogger(__name__)

_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9._:-]")


def host_id(name: str | None = None) -> str:
    """This machine's hostname as a contract id (other characters become '-')."""
    cleaned = _BAD_ID_CHARS.sub("-", name or socket.gethostname())[:64]
    return cleaned or "host"


def load_nvml() -> Any:
    """pynvml, initialised; a one-line SourceError without the package or the driver."""
    try:
        import pynvml
    except ImportError:
        raise SourceError(
            "--source nvml needs the nvidia-ml-py package: pip install 'megawatch[nvml]'"
        ) from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise SourceError(
            f"--source nvml: no NVIDIA driver on this host (NVML: {exc}); run the agent on "
            "a host with NVIDIA GPUs and drivers, or use --source sim"
        ) from None
    return pynvml


def gpu_handles(nvml: Any) -> list[Any]:
    """The handles of this host's GPUs; a one-line SourceError when there are none."""
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
    except nvml.NVMLError as exc:
        raise SourceError(f"--source nvml: cannot list the GPUs (NVML: {exc})") from None
    if not handles:
        raise SourceError("--source nvml: NVML found no GPU on this host")
    return handles


class NvmlSource:
    def __init__(
        self,
        site: str,
        rack: str,
        *,
        host: str | None = None,
        interval_s: float = 1.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        job_dir: Path | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.site, self.rack, self.host = site, rack, host_id(host)
        self.interval_s, self.batch_size = interval_s, batch_size
        self.job_dir = job_dir
        self.labels = labels or {}  # tenant, priority of every GPU of the host
        self.nvml = load_nvml()
        self.handles = gpu_handles(self.nvml)
        self.names = [self._name(handle) for handle in self.handles]
        self._skipped: set[int] = set()
        # renamed in NVML 12.x (clocks "event" reasons, were "throttle" reasons)
        self._reasons = getattr(
            self.nvml, "nvmlDeviceGetCurrentClocksEventReasons", None
        ) or getattr(self.nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None)

    def _name(self, handle: Any) -> str:
        name = self.nvml.nvmlDeviceGetName(handle)
        return (name.decode() if isinstance(name, bytes) else str(name))[:64] or "NVIDIA GPU"

    def describe(self) -> str:
        models = ", ".join(sorted(set(self.names)))
        return (
            f"NVML on {self.host}: {len(self.handles)} GPUs ({models}), every {self.interval_s:g} s"
        )

    def _optional(self, read: Any, *args: Any) -> Any:
        try:
            return read(*args)
        except self.nvml.NVMLError:
            return None

    def sample(self, index: int, ts_ms: int) -> dict[str, Any] | None:
        """One GPU's reading, or None when it cannot report utilization and power."""
        nvml, handle = self.nvml, self.handles[index]
        try:
            util = nvml.nvmlDeviceGetUtilizationRates(handle).gpu
            power_w = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        except nvml.NVMLError as exc:
            if index not in self._skipped:
                logger.warning(
                    "GPU %d (%s) skipped: NVML cannot read it: %s", index, self.names[index], exc
                )
                self._skipped.add(index)
            return None
        event: dict[str, Any] = {
            "site": self.site,
            "rack": self.rack,
            "host": self.host,
            "gpu": str(index),
            "ts": ts_ms,
            "util_pct": float(util),
            "power_w": round(power_w, 2),
            "vendor": "nvidia",
            "model": self.names[index],
        }
        memory = self._optional(nvml.nvmlDeviceGetMemoryInfo, handle)
        if memory is not None and memory.total:
            event["mem_used_pct"] = round(100.0 * memory.used / memory.total, 2)
        temp = self._optional(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
        if temp is not None:
            event["temp_c"] = float(temp)
        limit = self._optional(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        if limit:
            event["power_limit_w"] = limit / 1000.0
        reasons = self._optional(self._reasons, handle) if self._reasons else None
        if reasons is not None:
            event["clock_reasons"] = int(reasons)
        job = self._job(index)
        if job:
            event["job"] = job
        event.update(self.labels)
        return event

    def _job(self, index: int) -> str | None:
        """The job of GPU ``index`` from ``--job-dir`` (dcgm-exporter's HPC job mapping
        format), or None: no file, an empty one, or several jobs sharing the GPU."""
        if self.job_dir is None:
            return None
        try:
            text = (self.job_dir / str(index)).read_text(errors="replace")
        except OSError:
            return None
        jobs = {as_id(line.split()[0]) for line in text.splitlines() if line.strip()}
        return jobs.pop() if len(jobs) == 1 else None

    def ticks(self) -> Iterator[Tick]:
        """Samples taken at their due time (the loop then sends them at once)."""
        k, start = 0, time.monotonic()
        try:
            while True:
                time.sleep(max(0.0, start + k * self.interval_s - time.monotonic()))
                ts_ms = int(time.time() * 1000)
                events = [e for i in range(len(self.handles)) if (e := self.sample(i, ts_ms))]
                yield Tick(
                    k * self.interval_s, encode_batches("gpu", self.site, events, self.batch_size)
                )
                k += 1
        finally:
            self._optional(self.nvml.nvmlShutdown)


def nvml_source(options: NvmlSourceOptions, context: BuildContext) -> NvmlSource | Any:
    """``--source nvml``: this host's GPUs, in rack ``--rack`` of the one ``--site``; with
    ``--wave`` their power waves (:class:`pipeline.sources.nvml_wave.NvmlWaveSource`)."""
    if options.wave:
        from pipeline.sources.nvml_wave import NvmlWaveSource

        return NvmlWaveSource(
            options.site,
            options.rack,
            interval_ms=options.wave_interval_ms,
            tick_s=options.interval_s,
            batch_size=options.batch_size,
        )
    labels = {"tenant": options.tenant, "priority": options.priority}
    return NvmlSource(
        options.site,
        options.rack,
        interval_s=options.interval_s,
        batch_size=options.batch_size,
        job_dir=options.job_dir,
        labels={name: as_id(value) for name, value in labels.items() if value},
    )
