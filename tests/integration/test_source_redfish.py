"""--source redfish against DMTF's public mockups served by DMTF's Redfish-Mockup-Server.

tests/fixtures/redfish/SOURCE.md lists the files and the values the mockups publish:
rack PDU ``1`` 6438 W (beside a transfer switch with the same Id and a floor PDU), server
chassis ``1U`` 374 W in EnvironmentMetrics and 344 W in the deprecated Power resource.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from worker_harness import WorkerProcess, wait_for

from pipeline.broker.process import EmbeddedBroker
from pipeline.settings import load_settings
from pipeline.sources.registry import DeviceSourceOptions, source_kind

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "redfish"
SERVER = FIXTURES / "mockup-server" / "redfishMockupServer.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MockupServer:
    """DMTF's mockup server on a free loopback port, serving ``mockup`` (short form)."""

    def __init__(self, mockup: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(SERVER),
                "-S",
                "-D",
                str(mockup),
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=SERVER.parent,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/redfish/v1", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"the mockup server did not start: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def mockups(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Working copies of the two mockups (a test may break a device in its copy)."""
    copies = {}
    for name in ("public-pdu", "public-rackmount1"):
        copies[name] = tmp_path / name
        shutil.copytree(FIXTURES / name, copies[name])
    yield copies


def serve(mockups: dict[str, Path], tmp_path: Path) -> list[MockupServer]:
    return [MockupServer(path, tmp_path / f"{name}.log") for name, path in mockups.items()]


def test_values_stored_equal_the_mockups_and_a_broken_device_does_not_stop_the_others(
    mockups: dict[str, Path], tmp_path: Path
) -> None:
    # A transfer switch's chassis that answers garbage: reported, skipped, the rest read.
    (mockups["public-pdu"] / "Chassis" / "TransferSwitch1" / "index.json").write_text("{oops")
    servers = serve(mockups, tmp_path)
    data = tmp_path / "data"
    try:
        with EmbeddedBroker(data):
            worker = WorkerProcess(data).start()
            try:
                agent = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pipeline",
                        "agent",
                        "--source",
                        "redfish",
                        "--site",
                        "inf-fra-1",
                        "--url",
                        servers[0].url,
                        "--url",
                        servers[1].url,
                        "--interval",
                        "0.5",
                        "--ticks",
                        "3",
                    ],
                    env=worker.env,
                    cwd=data,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert agent.returncode == 0, agent.stderr[-3000:]
                sql = "SELECT rack, power_w, count() AS n FROM rack_power GROUP BY rack, power_w ORDER BY rack"
                rows = wait_for(
                    lambda: (r := worker.sql(sql)) and sum(x["n"] for x in r) >= 6 and r,
                    60,
                    "3 ticks of 2 racks stored",
                )
                dead = worker.sql("SELECT count() AS n FROM dead_letters")[0]["n"]
            finally:
                worker.stop()
    finally:
        for server in servers:
            server.stop()
    # The rack PDU (not the transfer switch sharing its Id, not its own chassis), and the
    # server's EnvironmentMetrics (374 W) rather than its deprecated Power (344 W).
    assert [(r["rack"], r["power_w"], r["n"]) for r in rows] == [("1", 6438.0, 3), ("1U", 374.0, 3)]
    assert dead == 0
    failures = [line for line in agent.stderr.splitlines() if "TransferSwitch1 failed" in line]
    assert len(failures) == 1, agent.stderr[-3000:]  # one line, not one per tick


def test_a_pdu_without_metrics_is_left_out_and_mapped_racks_and_sessions_work(
    mockups: dict[str, Path], tmp_path: Path
) -> None:
    (
        mockups["public-pdu"] / "PowerEquipment" / "RackPDUs" / "1" / "Metrics" / "index.json"
    ).unlink()
    (tmp_path / "map.yaml").write_text("racks:\n  /redfish/v1/Chassis/1U: r07\n")
    settings = load_settings(
        data_dir=tmp_path / "data",
        redfish_auth="session",
        redfish_username="admin",
        redfish_password="hunter2-secret",
    )
    servers = serve(mockups, tmp_path)
    try:
        options = DeviceSourceOptions(
            sites=("inf-fra-1",), urls=tuple(s.url for s in servers), map_file=tmp_path / "map.yaml"
        )
        source = source_kind("redfish").build(options, settings)
        first = source.read_once(1_700_000_000_000)
        second = source.read_once(1_700_000_001_000)
    finally:
        for server in servers:
            server.stop()
    expected = {"site": "inf-fra-1", "rack": "r07", "power_w": 374.0, "source": "redfish"}
    assert first["rack_power"] == [{**expected, "ts": 1_700_000_000_000}]
    assert second["rack_power"] == [{**expected, "ts": 1_700_000_001_000}]
    assert source.stats.failures == 2  # the PDU's metrics, each read
    assert "hunter2" not in repr(settings) and "hunter2" not in source.describe()
    # The session login went to the mockup (it answers with X-Auth-Token and a Location).
    assert "POST /redfish/v1/SessionService/Sessions" in (tmp_path / "public-pdu.log").read_text()
