"""NVML's buffered power samples as a host's wave: the conversion, on the structures
nvidia-ml-py itself returns (no GPU here: the driver-missing path is in
tests/integration/test_agent_nvml.py)."""

from __future__ import annotations

import pytest

from pipeline.errors import SourceError
from pipeline.sources.nvml_wave import host_wave, runs, sample_watts

pynvml = pytest.importorskip("pynvml")


def samples(pairs: list[tuple[int, int]]) -> list[object]:
    """nvmlSample_t as nvmlDeviceGetSamples returns them: (timestamp us, value mW)."""
    out = []
    for ts_us, mw in pairs:
        sample = pynvml.c_nvmlSample_t()
        sample.timeStamp = ts_us
        sample.sampleValue.uiVal = mw
        out.append(sample)
    return out


def test_power_samples_are_milliwatts_at_microseconds() -> None:
    got = sample_watts(
        pynvml.NVML_VALUE_TYPE_UNSIGNED_INT,
        samples([(1_000_020_000, 612_345), (1_000_000_000, 700_000)]),
    )
    assert got == [(1_000_000.0, 700.0), (1_000_020.0, 612.345)]  # in time order
    with pytest.raises(SourceError, match="unknown value type 42"):
        sample_watts(42, [])


def test_the_host_is_the_sum_of_each_gpus_latest_sample() -> None:
    gpu0 = [(1000.0, 300.0), (1030.0, 310.0), (1070.0, 320.0)]
    gpu1 = [(1005.0, 500.0), (1045.0, 400.0)]
    wave = host_wave([gpu0, gpu1], 1000, 20, 5)
    # at 1000: gpu1 has nothing yet; 1020: 300+500; 1040: 310+500; 1060: 310+400; 1080: 320+400
    assert wave == [None, 800.0, 810.0, 710.0, 720.0]
    assert host_wave([gpu0], 3000, 20, 1, hold_ms=1000) == [None]  # its last sample too old
    assert runs(wave) == [(1, [800.0, 810.0, 710.0, 720.0])]
    assert runs([1.0, None, 2.0, 3.0]) == [(0, [1.0]), (2, [2.0, 3.0])]
