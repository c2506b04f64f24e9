"""--source rdma reads the kernel's InfiniBand port counters (a sysfs-shaped tree here:
this machine has no RDMA device and its kernel cannot load soft-RoCE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import SourceError
from pipeline.events import LinkCounters
from pipeline.sources.mapping import load_mapping
from pipeline.sources.polling import PollingSource
from pipeline.sources.rdma import RdmaReader


def port(root: Path, device: str, number: int, **counters: int) -> None:
    directory = root / device / "ports" / str(number) / "counters"
    directory.mkdir(parents=True)
    for name, value in counters.items():
        (directory / name).write_text(f"{value}\n")


def test_mapped_ports_become_link_counters_and_a_missing_port_is_one_failure(
    tmp_path: Path,
) -> None:
    port(
        tmp_path,
        "mlx5_0",
        1,
        port_xmit_packets=1000,
        port_rcv_packets=990,
        port_xmit_discards=3,
        port_rcv_errors=2,
        port_rcv_remote_physical_errors=1,
    )
    port(tmp_path, "mlx5_1", 1, port_xmit_packets=5)  # not mapped: ignored
    (tmp_path / "map.yaml").write_text(
        "links:\n  mlx5_0/1: {link: spine-3, class: fabric}\n  mlx5_9/1: {link: gone}\n"
    )
    reader = RdmaReader("train-ams-1", load_mapping(tmp_path / "map.yaml"), root=tmp_path)
    source = PollingSource("train-ams-1", [reader], label="rdma")
    events = source.read_once(5_000)["link"]
    assert [LinkCounters.model_validate(e).link for e in events] == ["spine-3"]
    assert events[0] | {} == {
        "site": "train-ams-1",
        "link": "spine-3",
        "link_class": "fabric",
        "ts": 5_000,
        "tx_packets": 1003,
        "rx_packets": 990,
        "dropped_packets": 6,
        "error_packets": 3,
    }
    assert source.stats.failing == {"port mlx5_9/1"} and source.stats.failures == 1


def test_rdma_without_mapped_ports_says_what_to_give(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text("links:\n  eth0: {link: x}\n")
    with pytest.raises(SourceError, match="device/port"):
        RdmaReader("s", load_mapping(tmp_path / "map.yaml"), root=tmp_path)
