"""The NVML source's clear errors (no GPU driver here), its readings, and the CLI's help."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from pipeline.core.decode import MessageDecoder
from pipeline.errors import SourceError
from pipeline.events import GpuSample

pytestmark = pytest.mark.integration


def driver_present() -> bool:
    try:
        import pynvml
    except ImportError:
        return False
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env["MEGAWATCH_DATA_DIR"] = str(tmp_path / "data")
    argv = [sys.executable, "-m", "pipeline", *args]
    return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(driver_present(), reason="this host has an NVIDIA driver")
def test_no_driver_is_one_clear_line(tmp_path: Path):
    pytest.importorskip("pynvml")
    done = cli(tmp_path, "agent", "--source", "nvml", "--site", "inf-fra-1", "--rack", "r001")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "megawatch: --source nvml: no NVIDIA driver on this host (NVML: NVML Shared Library "
        "Not Found); run the agent on a host with NVIDIA GPUs and drivers, or use --source sim"
    ]


def test_missing_library_names_the_package(monkeypatch: pytest.MonkeyPatch):
    from pipeline.sources.nvml import NvmlSource

    monkeypatch.setitem(sys.modules, "pynvml", None)  # as if nvidia-ml-py were not installed
    with pytest.raises(SourceError, match=r"pip install 'megawatch\[nvml\]'"):
        NvmlSource("s1", "r1")


def test_nvml_needs_one_site(tmp_path: Path):
    done = cli(tmp_path, "agent", "--source", "nvml")
    assert done.returncode == 2 and "--source nvml needs exactly one --site" in done.stderr


class _Error(Exception):
    pass


def _fake_nvml(devices: list[dict]) -> types.SimpleNamespace:
    """NVML as the library presents it, with faults injected per device (no GPU here)."""

    def read(key):
        def get(handle, *_):
            value = devices[handle].get(key)
            if value is None:
                raise _Error("Not Supported")
            return value

        return get

    return types.SimpleNamespace(
        NVMLError=_Error,
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: len(devices),
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=read("name"),
        nvmlDeviceGetUtilizationRates=read("util"),
        nvmlDeviceGetPowerUsage=read("power_mw"),
        nvmlDeviceGetMemoryInfo=read("memory"),
        nvmlDeviceGetTemperature=read("temp"),
        nvmlDeviceGetEnforcedPowerLimit=read("limit_mw"),
        nvmlDeviceGetCurrentClocksEventReasons=read("reasons"),
    )


def test_readings_follow_the_contract_and_unsupported_fields_are_left_out(
    monkeypatch: pytest.MonkeyPatch,
):
    from pipeline.sources.nvml import NvmlSource

    devices = [
        {
            "name": b"NVIDIA H100 80GB HBM3",
            "util": types.SimpleNamespace(gpu=97),
            "power_mw": 612_345,
            "memory": types.SimpleNamespace(used=40 * 2**30, total=80 * 2**30),
            "temp": 64,
            "limit_mw": 700_000,
            "reasons": 0x4,  # nvmlClocksEventReasonSwPowerCap
        },
        {"name": "NVIDIA H100 80GB HBM3", "util": types.SimpleNamespace(gpu=0), "power_mw": 71_000},
        {"name": "NVIDIA A100", "util": types.SimpleNamespace(gpu=5)},  # no power reading
    ]
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(devices))
    source = NvmlSource("inf-fra-1", "r017", host="gpu node #3", interval_s=0.01)
    tick = next(source.ticks())
    (message,) = tick.messages
    assert (message.topic, message.key) == ("telemetry.gpu", b"inf-fra-1")
    events = orjson.loads(message.value)["events"]
    assert [e["gpu"] for e in events] == ["0", "1"]
    assert events[0] | {"ts": 0} == {
        "site": "inf-fra-1",
        "rack": "r017",
        "host": "gpu-node--3",
        "gpu": "0",
        "ts": 0,
        "util_pct": 97.0,
        "power_w": 612.35,
        "vendor": "nvidia",
        "model": "NVIDIA H100 80GB HBM3",
        "mem_used_pct": 50.0,
        "temp_c": 64.0,
        "power_limit_w": 700.0,
        "clock_reasons": 4,
    }
    assert "temp_c" not in events[1] and "mem_used_pct" not in events[1]
    assert "clock_reasons" not in events[1]  # not supported: left out
    decoded = MessageDecoder(GpuSample).decode(message.value, message.key, datetime.now(UTC))
    assert len(decoded.events) == 2 and not decoded.rejects


def test_jobs_come_from_the_hpc_job_mapping_dir_and_the_host_labels(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from pipeline.sources.nvml import NvmlSource

    device = {"name": "NVIDIA H100", "util": types.SimpleNamespace(gpu=90), "power_mw": 600_000}
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml([device] * 3))
    jobs = tmp_path / "dcgm-job-map"
    jobs.mkdir()
    (jobs / "0").write_text("4471203\n")
    (jobs / "1").write_text("4471203\n4471999\n")  # shared by two jobs: none of them
    labels = {"tenant": "lab-1", "priority": "training"}
    source = NvmlSource("s1", "r1", host="n1", job_dir=jobs, labels=labels)
    got = [source.sample(i, 1) for i in range(3)]
    assert [(e or {}).get("job") for e in got] == ["4471203", None, None]
    assert all(
        e is not None and e["tenant"] == "lab-1" and e["priority"] == "training" for e in got
    )
    assert all(GpuSample.model_validate(e) for e in got)


def test_agent_help_lists_scenarios_without_importing_the_heavy_parts(tmp_path: Path):
    done = cli(tmp_path, "agent", "--help")
    assert done.returncode == 0
    for name in ("steady", "cap-breach", "wan-loss", "stale-racks", "chaos", "--speed", "--fleet"):
        assert name in done.stdout
    probe = (
        "import sys; import pipeline.cli.agent_cmd; "
        "print(sorted(m for m in ('numpy', 'kafka', 'pandas', 'faust') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(driver_present(), reason="this host has an NVIDIA driver")
def test_wave_mode_without_a_driver_is_the_same_one_line(tmp_path: Path):
    pytest.importorskip("pynvml")
    done = cli(tmp_path, "agent", "--source", "nvml", "--site", "t-1", "--rack", "r001", "--wave")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "megawatch: --source nvml: no NVIDIA driver on this host (NVML: NVML Shared Library "
        "Not Found); run the agent on a host with NVIDIA GPUs and drivers, or use --source sim"
    ]
