"""Power waves of this host from NVML's buffered power samples
(``megawatch agent --source nvml --wave``).

NVML keeps a ring buffer of recent power samples per GPU, taken by the driver faster than
anyone polls (``nvmlDeviceGetSamples`` with ``NVML_TOTAL_POWER_SAMPLES``: a timestamp in
microseconds and the power in milliwatts per sample; asked with the newest timestamp
already read, it returns only the samples after it, or ``NVML_ERROR_NOT_FOUND`` when
there are none). Each tick reads every GPU's new samples and puts them on one grid of
``interval_ms``: a GPU's power at a grid point is its latest sample at or before it
(a sample stands until the next), and the host's power is the sum of its GPUs
(:func:`host_wave`, pure). Grid points where a GPU has no sample yet, or none within
``hold_ms``, are not sent: the host's wave resumes when every GPU reports again.

The event names the rack and, as its ``meter``, this host: every host of a rack sends its
own meter, and the worker sums them into the rack (its power domains are the rack's).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from pipeline.errors import SourceError
from pipeline.kafka.topics import POWER_WAVE
from pipeline.sources.base import DEFAULT_BATCH_SIZE, Tick, encode_batches
from pipeline.sources.nvml import gpu_handles, host_id, load_nvml

logger = logging.getLogger(__name__)

#: nvmlValueType_t -> the field of nvmlValue_t that holds it
VALUE_FIELDS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}
DELAY_MS = 200  # the grid stops this far behind now: samples still on their way in
HOLD_MS = 1_000  # a GPU's last sample stands this long, then its host's points wait

#: (timestamp in ms, watts), in time order
Samples = list[tuple[float, float]]


def sample_watts(value_type: int, samples: Sequence[Any]) -> Samples:
    """NVML's ``(value type, samples)`` of NVML_TOTAL_POWER_SAMPLES as (ms, W) pairs."""
    field = VALUE_FIELDS.get(value_type)
    if field is None:
        raise SourceError(f"NVML power samples of an unknown value type {value_type}")
    out = [(s.timeStamp / 1000.0, float(getattr(s.sampleValue, field)) / 1000.0) for s in samples]
    out.sort(key=lambda pair: pair[0])
    return out


def host_wave(
    gpus: Sequence[Samples], start_ms: int, interval_ms: int, n: int, hold_ms: int = HOLD_MS
) -> list[float | None]:
    """The host's power at ``start_ms + i * interval_ms`` for ``i < n``: each GPU's
    latest sample at or before the point, summed; None where a GPU has none within
    ``hold_ms`` before it."""
    times = [[t for t, _ in gpu] for gpu in gpus]
    out: list[float | None] = []
    for i in range(n):
        at = start_ms + i * interval_ms
        total = 0.0
        for gpu, stamps in zip(gpus, times, strict=True):
            k = bisect.bisect_right(stamps, at) - 1
            if k < 0 or at - stamps[k] > hold_ms:
                out.append(None)
                break
            total += gpu[k][1]
        else:
            out.append(total)
    return out


def runs(values: Sequence[float | None]) -> list[tuple[int, list[float]]]:
    """The runs of known values: (first index, values)."""
    out: list[tuple[int, list[float]]] = []
    for i, value in enumerate(values):
        if value is None:
            continue
        if out and out[-1][0] + len(out[-1][1]) == i:
            out[-1][1].append(value)
        else:
            out.append((i, [value]))
    return out


class NvmlWaveSource:
    def __init__(
        self,
        site: str,
        rack: str,
        *,
        host: str | None = None,
        interval_ms: int = 50,
        tick_s: float = 1.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.site, self.rack, self.host = site, rack, host_id(host)
        self.interval_ms, self.tick_s, self.batch_size = interval_ms, tick_s, batch_size
        self.nvml = load_nvml()
        self.handles = gpu_handles(self.nvml)
        self._seen = [0] * len(self.handles)  # newest sample timestamp read (us), per GPU
        self._buffers: list[Samples] = [[] for _ in self.handles]
        self._next_ms: int | None = None  # the next grid point to send

    def describe(self) -> str:
        return (
            f"NVML power waves of {self.host}: {len(self.handles)} GPUs summed, every "
            f"{self.interval_ms} ms, as meter {self.host} of rack {self.rack}"
        )

    def read(self) -> None:
        """Every GPU's samples since the last read, into its buffer."""
        nvml = self.nvml
        for i, handle in enumerate(self.handles):
            try:
                kind, samples = nvml.nvmlDeviceGetSamples(
                    handle, nvml.NVML_TOTAL_POWER_SAMPLES, self._seen[i]
                )
            except nvml.NVMLError as exc:
                if getattr(nvml, "NVML_ERROR_NOT_FOUND", None) == getattr(exc, "value", None):
                    continue  # nothing new
                raise SourceError(f"--source nvml --wave: GPU {i}: NVML: {exc}") from None
            got = sample_watts(kind, samples)
            if got:
                self._buffers[i] += got
                self._seen[i] = max(self._seen[i], max(s.timeStamp for s in samples))

    def wave(self, now_ms: int) -> list[dict[str, Any]]:
        """The events of the grid points up to ``now_ms - DELAY_MS`` not sent yet."""
        step = self.interval_ms
        if self._next_ms is None:
            firsts = [buf[0][0] for buf in self._buffers if buf]
            if len(firsts) < len(self._buffers):
                return []  # a GPU has not reported yet
            self._next_ms = int(-(-max(firsts) // step) * step)
        start = self._next_ms
        n = max(0, (now_ms - DELAY_MS - start) // step)
        if not n:
            return []
        values = host_wave(self._buffers, start, step, n)
        self._next_ms = start + n * step
        keep_from = self._next_ms - HOLD_MS
        self._buffers = [_trimmed(buf, keep_from) for buf in self._buffers]
        return [
            {
                "site": self.site,
                "rack": self.rack,
                "meter": self.host,
                "ts": start + first * step,
                "interval_ms": step,
                "power_w": [round(v, 3) for v in chunk],
                "source": "nvml",
            }
            for first, chunk in _chunked(runs(values), 1000)
        ]

    def ticks(self) -> Iterator[Tick]:
        k, started = 0, time.monotonic()
        try:
            while True:
                time.sleep(max(0.0, started + (k + 1) * self.tick_s - time.monotonic()))
                self.read()
                events = self.wave(int(time.time() * 1000))
                messages = encode_batches(
                    "power_wave", self.site, events, self.batch_size, topic=POWER_WAVE
                )
                yield Tick((k + 1) * self.tick_s, messages)
                k += 1
        finally:
            with contextlib.suppress(self.nvml.NVMLError):
                self.nvml.nvmlShutdown()


def _trimmed(buffer: Samples, keep_from: float) -> Samples:
    """The samples from the last one before ``keep_from`` on (it still stands there)."""
    k = bisect.bisect_right([t for t, _ in buffer], keep_from) - 1
    return buffer[max(k, 0) :]


def _chunked(found: list[tuple[int, list[float]]], size: int) -> Iterator[tuple[int, list[float]]]:
    """Runs cut to at most ``size`` samples (the contract's limit per event)."""
    for first, values in found:
        for at in range(0, len(values), size):
            yield first + at, values[at : at + size]
