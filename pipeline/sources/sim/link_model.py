"""Link counters of one simulated site: a fabric uplink per rack, a WAN link per peer.

Counters are cumulative as switches and NICs report them. Traffic follows load (a rack's
uplink carries more when its GPUs work; WAN links with the site's overall load). Healthy
links lose almost nothing (a drop every few minutes); natural loss bursts and counter
resets (device reboots: all counters restart from zero) occur at the plan's rates, and
the ``wan-loss`` scenario scripts a sustained loss on one WAN link. Drops are drawn per
packet (binomial), so the loss ratio a worker computes from deltas is the one set here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.sources.sim.scenarios import ScenarioPlan

FABRIC_BASE_LOSS = 1e-9
WAN_BASE_LOSS = 2e-8
ERROR_RATIO = 1e-10  # CRC and framing errors, counted apart from drops
BURST_S = (5.0, 30.0)
BURST_RATIO_LOG10 = (-5.0, -3.3)


class SiteLinks:
    """Counters and loss state of every link of one site."""

    def __init__(
        self,
        site: str,
        rack_ids: list[str],
        peers: list[str],
        fabric_pps: float,
        wan_pps: float,
        plan: ScenarioPlan,
        rng: np.random.Generator,
    ) -> None:
        self.site, self.plan, self.rng = site, plan, rng
        self.peers = peers
        self.ids = [f"fab-{rack}" for rack in rack_ids] + [f"wan-{peer}"[:64] for peer in peers]
        self.n_fabric = len(rack_ids)
        n = len(self.ids)
        self.is_wan = np.arange(n) >= self.n_fabric
        self.full_pps = np.where(self.is_wan, wan_pps, fabric_pps) * rng.uniform(0.8, 1.2, n)
        self.base_loss = np.where(self.is_wan, WAN_BASE_LOSS, FABRIC_BASE_LOSS)
        # Counters start mid-life (agents attach to links that have been up for days).
        start = (self.full_pps * rng.uniform(3600, 30 * 86400, n)).astype(np.int64)
        self.tx = start.copy()
        self.dropped = (start * self.base_loss).astype(np.int64)
        self.errors = (start * ERROR_RATIO).astype(np.int64)
        self.rx = self.tx - self.dropped - self.errors
        self.burst_until = np.zeros(n)
        self.burst_ratio = np.zeros(n)
        self.resets = 0  # how many resets this site's links have had (for logs and tests)

    def _loss_ratios(self, t_s: float, dt_s: float) -> np.ndarray:
        n = len(self.ids)
        start = self.rng.random(n) < self.plan.burst_rate_h * dt_s / 3600
        fresh = start & (self.burst_until <= t_s)
        if fresh.any():
            k = int(fresh.sum())
            self.burst_until[fresh] = t_s + self.rng.uniform(*BURST_S, k)
            self.burst_ratio[fresh] = 10 ** self.rng.uniform(*BURST_RATIO_LOG10, k)
        ratio = self.base_loss + np.where(self.burst_until > t_s, self.burst_ratio, 0.0)
        for i, peer in enumerate(self.peers):
            ratio[self.n_fabric + i] += self.plan.wan_loss(self.site, peer, t_s)
        return np.asarray(np.minimum(ratio, 0.5))

    def step(self, t_s: float, dt_s: float, rack_load: np.ndarray, site_load: float) -> None:
        n = len(self.ids)
        load = np.concatenate(
            [0.15 + 0.85 * rack_load, np.full(n - self.n_fabric, 0.2 + 0.8 * site_load)]
        )
        sent = (
            (self.full_pps * load * dt_s * self.rng.normal(1.0, 0.03, n)).clip(0).astype(np.int64)
        )
        drops = self.rng.binomial(sent, self._loss_ratios(t_s, dt_s))
        errors = self.rng.binomial(sent - drops, ERROR_RATIO)
        reset = self.rng.random(n) < self.plan.reset_rate_h * dt_s / 3600
        if reset.any():
            self.resets += int(reset.sum())
            for counter in (self.tx, self.rx, self.dropped, self.errors):
                counter[reset] = 0
        self.tx += sent
        self.dropped += drops
        self.errors += errors
        self.rx += sent - drops - errors

    def events(self, ts_ms: int) -> list[dict[str, Any]]:
        out = []
        rows = zip(
            self.tx.tolist(),
            self.rx.tolist(),
            self.dropped.tolist(),
            self.errors.tolist(),
            strict=True,
        )
        for i, (tx, rx, dropped, errors) in enumerate(rows):
            event = {
                "site": self.site,
                "link": self.ids[i],
                "ts": ts_ms,
                "link_class": "wan" if i >= self.n_fabric else "fabric",
                "tx_packets": tx,
                "rx_packets": rx,
                "dropped_packets": dropped,
                "error_packets": errors,
            }
            if i >= self.n_fabric:
                event["peer_site"] = self.peers[i - self.n_fabric]
            out.append(event)
        return out
