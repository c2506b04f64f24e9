"""--source netdev on this machine's own sysfs, and real packet loss across a veth pair.

As root: a veth pair into a network namespace of the test's own (link-local addresses
that exist only on that pair), a dropping root qdisc on the sending end (netem ``loss``
where the kernel has it; else a token bucket that tail-drops a burst, as a congested
egress does), a bounded UDP burst; then megawatch's loss ratio is compared with what
``tc -s`` and both ends' interface counters say.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.core.links import LinkState
from pipeline.core.policy import RuleConfig
from pipeline.core.processor import Processor
from pipeline.events import LinkCounters
from pipeline.settings import load_settings
from pipeline.sources.registry import LinkSourceOptions, source_kind

pytestmark = pytest.mark.integration

SENDER_IP, RECEIVER_IP = "169.254.77.1", "169.254.77.2"


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout


@pytest.fixture
def veth_pair() -> Iterator[tuple[str, str, str, str]]:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a network namespace and a veth pair")
    if shutil.which("ip") is None or shutil.which("tc") is None:
        pytest.skip("needs iproute2 (ip, tc): make test-deps")
    tag = f"{os.getpid() % 100000}"
    ns, a, b = f"mwsrc-{tag}", f"mwa{tag}", f"mwb{tag}"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns)
        for args in (
            ("sysctl", "-qw", f"net.ipv6.conf.{a}.disable_ipv6=1"),  # no ND/MLD chatter
            ("ip", "addr", "add", f"{SENDER_IP}/30", "dev", a),
            ("ip", "link", "set", a, "up"),
            ("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{b}.disable_ipv6=1"),
            ("ip", "-n", ns, "addr", "add", f"{RECEIVER_IP}/30", "dev", b),
            ("ip", "-n", ns, "link", "set", b, "up"),
        ):
            sh(*args)
        mac = json.loads(sh("ip", "-n", ns, "-j", "link", "show", b))[0]["address"]
        # A static neighbour: no ARP through the dropping qdisc, only the test's packets.
        sh("ip", "neigh", "replace", RECEIVER_IP, "lladdr", mac, "dev", a, "nud", "permanent")
        try:
            sh("tc", "qdisc", "add", "dev", a, "root", "netem", "loss", "5%")
            how = "netem loss 5%"
        except subprocess.CalledProcessError:  # this kernel has no sch_netem
            sh(
                "tc",
                "qdisc",
                "add",
                "dev",
                a,
                "root",
                "tbf",
                "rate",
                "8mbit",
                "burst",
                "10kb",
                "limit",
                "20kb",
            )
            how = "tbf 8mbit, 20 kB queue"
        yield ns, a, b, how
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", a], check=False, capture_output=True)


def qdisc(dev: str) -> dict[str, int]:
    root = next(
        q for q in json.loads(sh("tc", "-s", "-j", "qdisc", "show", "dev", dev)) if q.get("root")
    )
    return {"sent": root["packets"], "dropped": root["drops"]}


def wait_drained(dev: str) -> None:
    """Until the qdisc holds no packet: a queued one is neither sent nor dropped yet."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        root = next(
            q
            for q in json.loads(sh("tc", "-s", "-j", "qdisc", "show", "dev", dev))
            if q.get("root")
        )
        if root.get("qlen", 0) == 0 and root.get("backlog", 0) == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"the qdisc of {dev} did not drain")


def counters(dev: str, ns: str | None = None) -> dict[str, int]:
    names = ("tx_packets", "tx_dropped", "rx_packets", "rx_dropped")
    if ns is None:
        return {n: int(Path(f"/sys/class/net/{dev}/statistics/{n}").read_text()) for n in names}
    # `ip netns exec` mounts the namespace's own sysfs for the command it runs.
    out = sh(
        "ip", "netns", "exec", ns, "cat", *(f"/sys/class/net/{dev}/statistics/{n}" for n in names)
    )
    return dict(zip(names, map(int, out.split()), strict=True))


def test_loss_ratio_matches_tc_and_both_ends_counters(veth_pair, tmp_path: Path) -> None:
    ns, a, b, how = veth_pair
    (tmp_path / "map.yaml").write_text(
        f"links:\n  {a}: {{link: lab-veth, class: wan, peer: lab-b}}\n  lo0-absent: {{link: x}}\n"
    )
    options = LinkSourceOptions(sites=("lab-a",), map_file=tmp_path / "map.yaml")
    source = source_kind("netdev").build(options, load_settings(data_dir=tmp_path))
    before_tc, before_a, before_b = qdisc(a), counters(a), counters(b, ns)
    first = source.read_once(1_000)["link"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(3000):  # bursts of 40 at about the shaper's mean rate
            with contextlib.suppress(OSError):  # ENOBUFS: the qdisc dropped it (counted there)
                sock.sendto(b"x" * 1000, (RECEIVER_IP, 9))
            if i % 40 == 39:
                time.sleep(0.04)
    wait_drained(a)
    second = source.read_once(2_000)["link"]
    after_tc, after_a, after_b = qdisc(a), counters(a), counters(b, ns)

    events = [LinkCounters.model_validate(e) for e in first + second]
    assert [e.link for e in events] == ["lab-veth", "lab-veth"]  # the unmapped one ignored
    assert source.stats.failing == {"interface lo0-absent"}
    state = LinkState(window_ms=60_000)
    for e in events:
        delta = state.observe(e.ts, e.tx_packets, e.rx_packets, e.dropped_packets)
    megawatch_loss = delta.loss_ratio

    tc_dropped = after_tc["dropped"] - before_tc["dropped"]
    tc_sent = after_tc["sent"] - before_tc["sent"]
    offered = tc_sent + tc_dropped
    received = after_b["rx_packets"] - before_b["rx_packets"]
    print(
        f"{how}: offered {offered}, tc dropped {tc_dropped}, peer received {received}, "
        f"megawatch loss {megawatch_loss}"
    )
    assert tc_dropped > 0, "the qdisc dropped nothing: no loss to measure"
    # The qdisc's drops are not in the interface's own drop counters...
    assert after_a["tx_dropped"] == before_a["tx_dropped"]
    # ...so megawatch adds them: its ratio is tc's, and what the far end did not get.
    assert megawatch_loss == pytest.approx(tc_dropped / offered, abs=1e-12)
    assert megawatch_loss == pytest.approx((offered - received) / offered, abs=1e-12)
    assert after_a["tx_packets"] - before_a["tx_packets"] == tc_sent == received


def test_this_machines_own_interfaces_are_read(tmp_path: Path) -> None:
    names = sorted(p.name for p in Path("/sys/class/net").iterdir() if (p / "statistics").is_dir())
    assert names, "no network interface in /sys/class/net"
    links = "".join(f"  {n}: {{link: host-{i}, class: fabric}}\n" for i, n in enumerate(names))
    (tmp_path / "map.yaml").write_text("links:\n" + links)
    options = LinkSourceOptions(sites=("here",), map_file=tmp_path / "map.yaml")
    source = source_kind("netdev").build(options, load_settings(data_dir=tmp_path))
    events = source.read_once(1_000)["link"]
    assert [e["link"] for e in events] == [f"host-{i}" for i in range(len(names))]
    for name, event in zip(names, events, strict=True):
        LinkCounters.model_validate(event)
        rx_now = int(Path(f"/sys/class/net/{name}/statistics/rx_packets").read_text())
        assert 0 <= event["rx_packets"] <= rx_now  # read from the kernel, counters only grow


def test_carrier_changes_follow_a_veth_toggled_down_and_up(veth_pair, tmp_path: Path) -> None:
    """The far end of the pair goes down and up again: the near end's carrier count
    moves by one each way, its state follows, and the flap rule of a real Processor
    fires on the two transitions (the outage was shorter than its critical mark)."""
    ns, a, b, _ = veth_pair
    (tmp_path / "map.yaml").write_text(f"links:\n  {a}: {{link: lab-veth, class: fabric}}\n")
    options = LinkSourceOptions(sites=("lab-a",), map_file=tmp_path / "map.yaml")
    source = source_kind("netdev").build(options, load_settings(data_dir=tmp_path))
    t0 = int(time.time() * 1000)
    samples = [source.read_once(t0)["link"][0]]
    sh("ip", "-n", ns, "link", "set", b, "down")
    time.sleep(0.2)
    samples.append(source.read_once(t0 + 1_000)["link"][0])
    sh("ip", "-n", ns, "link", "set", b, "up")
    deadline = time.monotonic() + 5
    while Path(f"/sys/class/net/{a}/operstate").read_text().strip() != "up":
        assert time.monotonic() < deadline, "the pair did not come back up"
        time.sleep(0.05)
    samples.append(source.read_once(t0 + 2_000)["link"][0])

    first = samples[0]["carrier_transitions"]
    assert [s["carrier_transitions"] - first for s in samples] == [0, 1, 2]
    assert [s["carrier_up"] for s in samples] == [True, False, True]
    events = [LinkCounters.model_validate(s) for s in samples]

    processor = Processor(RuleConfig(stale_after_s=1), lambda site: None, lambda site: None)
    alerts = []
    for i, event in enumerate(events):
        # the site warms up for stale_after_s after its first message; then it is judged
        alerts += processor.link([event], 0, i, event.ts + (5_000 if i else 0)).alerts
    assert [(a.rule, a.severity.value, a.status.value, a.value) for a in alerts] == [
        ("link_flap", "warning", "firing", 2.0)
    ]
    assert "carrier changed 2 times" in alerts[0].summary
