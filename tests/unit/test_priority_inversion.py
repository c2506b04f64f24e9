"""priority_inversion through the processor: it fires on an injected inversion only."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.core.columnar import EventColumns
from pipeline.core.energy.capping import HW_POWER_BRAKE_SLOWDOWN, SW_POWER_CAP
from pipeline.core.policy import RuleConfig
from pipeline.core.processor import Processor
from pipeline.events import GpuSample, PowerDomain, SiteSpec

T0 = 1_800_000_000_000
SPEC = SiteSpec(
    site="s1",
    cap_mw=10,
    domains=(
        PowerDomain(name="hall-a", cap_mw=5, racks=("a-*",)),
        PowerDomain(name="hall-b", cap_mw=5, racks=("b-*",)),
    ),
)


def gpus(rack: str, priority: str, reasons: int, n: int, ts: int) -> list[dict[str, Any]]:
    return [
        {
            "site": "s1",
            "rack": rack,
            "host": f"{rack}-h",
            "gpu": str(i),
            "ts": ts,
            "util_pct": 90.0,
            "power_w": 600.0,
            "vendor": None,
            "model": None,
            "mem_used_pct": None,
            "temp_c": None,
            "power_limit_w": 700.0,
            "job": None,
            "tenant": None,
            "priority": priority,
            "clock_reasons": reasons,
        }
        for i in range(n)
    ]


def run(layout: list[tuple[str, str, int]], spec: SiteSpec = SPEC, minutes: int = 3) -> list[Any]:
    """Feed the racks' GPUs every 10 s and tick every 10 s; the alerts that came out."""
    processor = Processor(RuleConfig(inversion_for_s=30), {"s1": spec}.get, lambda s: None)
    alerts = []
    for k in range(minutes * 6):
        ts = T0 + k * 10_000
        rows: list[dict[str, Any]] = []
        for rack, priority, reasons in layout:
            rows += gpus(rack, priority, reasons, 8, ts)
        columns = {name: [r[name] for r in rows] for name in GpuSample.model_fields}
        processor.gpu(EventColumns(GpuSample, columns, len(rows)), 0, k, ts)
        alerts += processor.tick_sites(ts + 1, ["s1"]).alerts
    return [a for a in alerts if a.rule == "priority_inversion"]


def test_inference_capped_while_training_in_the_same_hall_runs_free_fires() -> None:
    alerts = run([("a-1", "inference", SW_POWER_CAP), ("a-2", "training", 0), ("b-1", "batch", 0)])
    assert [(a.status.value, a.domain) for a in alerts] == [("firing", "hall-a")]
    assert "8 of 8 inference GPUs are capped (software power cap)" in alerts[0].summary
    assert "training GPUs run free" in alerts[0].summary and alerts[0].value == 1.0


@pytest.mark.parametrize(
    "layout",
    [
        # the right order: the lower class is the one capped
        [("a-1", "inference", 0), ("a-2", "training", SW_POWER_CAP)],
        # both capped: a short domain capping everyone is no inversion
        [("a-1", "inference", SW_POWER_CAP), ("a-2", "training", HW_POWER_BRAKE_SLOWDOWN)],
        # different domains: hall-b's training does not share hall-a's power
        [("a-1", "inference", SW_POWER_CAP), ("b-1", "training", 0)],
        # thermal slowdown is not a power reason
        [("a-1", "inference", 0x20), ("a-2", "training", 0)],
        # one class only
        [("a-1", "inference", SW_POWER_CAP), ("a-2", "inference", 0)],
    ],
)
def test_no_inversion_no_alert(layout: list[tuple[str, str, int]]) -> None:
    assert run(layout) == []


def test_a_site_without_domains_is_one_domain_and_its_own_classes_rank() -> None:
    plain = SiteSpec(site="s1", cap_mw=10, priorities=("gold", "silver"))
    fired = run([("r1", "gold", SW_POWER_CAP), ("r2", "silver", 0)], plain)
    assert [(a.status.value, a.domain) for a in fired] == [("firing", None)]
    assert run([("r1", "silver", SW_POWER_CAP), ("r2", "gold", 0)], plain) == []


def test_the_alert_resolves_when_the_lower_class_is_capped_too() -> None:
    processor = Processor(RuleConfig(inversion_for_s=10), {"s1": SPEC}.get, lambda s: None)
    statuses = []
    for k in range(30):
        ts = T0 + k * 10_000
        low = SW_POWER_CAP if k >= 15 else 0  # the power manager fixes the order
        rows = gpus("a-1", "inference", SW_POWER_CAP, 8, ts) + gpus("a-2", "training", low, 8, ts)
        columns = {name: [r[name] for r in rows] for name in GpuSample.model_fields}
        processor.gpu(EventColumns(GpuSample, columns, len(rows)), 0, k, ts)
        statuses += [a.status.value for a in processor.tick_sites(ts + 1, ["s1"]).alerts]
    assert statuses == ["firing", "resolved"]


def sharded(layout: dict[str, list[tuple[str, str, int]]]) -> tuple[Processor, list[Any]]:
    """As :func:`run`, each shard's racks under its own key ``s1/SHARD`` (partition =
    the shard's position); the processor and the priority_inversion alerts."""
    processor = Processor(RuleConfig(inversion_for_s=30), {"s1": SPEC}.get, lambda s: None)
    keys = [f"s1/{shard}" for shard in layout]
    alerts = []
    for k in range(18):
        ts = T0 + k * 10_000
        for partition, (key, racks) in enumerate(zip(keys, layout.values(), strict=True)):
            rows = [row for rack, cls, reasons in racks for row in gpus(rack, cls, reasons, 8, ts)]
            columns = {name: [r[name] for r in rows] for name in GpuSample.model_fields}
            processor.gpu(EventColumns(GpuSample, columns, len(rows)), partition, k, ts, key)
        alerts += processor.tick_sites(ts + 1, [*keys, "s1"]).alerts
    return processor, [a for a in alerts if a.rule == "priority_inversion"]


def test_a_sharded_site_judges_each_shards_gpus_one_alert_per_shard() -> None:
    """The GPUs' state is the shard stage's, per key: each shard with an inversion in
    hall-a fires its own alert (its own fingerprint, its summary naming the shard), not
    one fingerprint stepped by two keys' alert books."""
    inverted = [("a-1", "inference", SW_POWER_CAP), ("a-2", "training", 0)]
    processor, alerts = sharded(
        {"x": inverted, "y": [("a-3", *inverted[0][1:]), ("a-4", "training", 0)]}
    )
    assert sorted((a.status.value, a.domain) for a in alerts) == [("firing", "hall-a")] * 2
    assert len({a.fingerprint for a in alerts}) == 2
    assert sorted(a.summary.split(": ")[0] for a in alerts) == [
        "domain hall-a of s1 (the GPUs of shard x)",
        "domain hall-a of s1 (the GPUs of shard y)",
    ]
    # each key integrates its own GPUs; a revoked partition takes its key's state along
    assert [len(processor.monitors[k].energy.gpus) for k in ("s1/x", "s1/y")] == [16, 16]
    processor.revoke({0})
    assert "s1/x" not in processor.monitors and len(processor.monitors["s1/y"].energy.gpus) == 16


def test_an_inversion_across_shards_is_not_seen() -> None:
    """The documented limit (docs/energy.md): inference capped on one shard, training
    free on another, each shard sees one class only."""
    _, alerts = sharded({"x": [("a-1", "inference", SW_POWER_CAP)], "y": [("a-2", "training", 0)]})
    assert alerts == []
