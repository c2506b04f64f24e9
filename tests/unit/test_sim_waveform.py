"""The waveform simulator: calibrated on the h100-training-node trace, smoothing that holds
its floor and rates, curtailment as asked, and messages the worker's decoder accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from pipeline.core.decode import MessageDecoder
from pipeline.events import PowerWave
from pipeline.kafka.topics import POWER_WAVE
from pipeline.sources.sim.hardware import ACCELERATORS, CHECKPOINT_DURATION_S, CHECKPOINT_PERIOD_S
from pipeline.sources.sim.wave_site import SiteWaves, WaveOptions, WaveSiteSpec, WaveSource
from pipeline.sources.sim.waveform import (
    ITERATION_S,
    NVML_AVERAGE_S,
    TRACE_LINE_W,
    TRACE_NODE_TRAIN_W,
    Curtailment,
    Smoother,
    Smoothing,
    TrainingJob,
)

H100 = ACCELERATORS["H100"]
START_MS = 1_785_168_000_000


def fitted(t: np.ndarray, x: np.ndarray, hz: float) -> float:
    design = np.column_stack(
        [np.cos(2 * np.pi * hz * t), np.sin(2 * np.pi * hz * t), np.ones_like(t)]
    )
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return float(np.hypot(coef[0], coef[1]))


def test_a_node_seen_through_nvml_shows_what_the_trace_showed() -> None:
    """8 GPUs at 1 ms, averaged over NVML's 1 s, read every 100 ms as nvidia-smi did: the
    lines at the iteration frequency and twice it, and the mean, are the trace's."""
    job = TrainingJob(checkpoint_period_s=None, ramp_s=0)
    t = np.arange(0, 60, 0.001)
    node = 8 * H100.board_w * job.level(t)
    per = round(NVML_AVERAGE_S / 0.001)
    averaged = np.convolve(node, np.ones(per) / per, mode="valid")[::100]
    read_at = t[per - 1 :][::100]
    hz = 1 / ITERATION_S
    assert fitted(read_at, averaged, hz) == pytest.approx(TRACE_LINE_W[0], rel=0.1)
    assert fitted(read_at, averaged, 2 * hz) == pytest.approx(TRACE_LINE_W[1], rel=0.1)
    assert averaged.mean() == pytest.approx(TRACE_NODE_TRAIN_W, rel=0.02)
    assert np.ptp(node) / node.mean() == pytest.approx(0.147, abs=0.005)  # unaveraged swing


def test_job_phases_checkpoints_start_ramp_and_end() -> None:
    job = TrainingJob(start_s=10.0, end_s=400.0)
    t = np.arange(0, 420, 0.01)
    level = job.level(t)
    assert level[t < 10].tolist() == [H100.idle_frac] * int((t < 10).sum())
    assert (level[t >= 400] == H100.idle_frac).all()  # the end is a step to idle
    ckpt = (t >= 10 + CHECKPOINT_PERIOD_S - CHECKPOINT_DURATION_S) & (t < 10 + CHECKPOINT_PERIOD_S)
    assert np.allclose(level[ckpt], H100.ckpt_frac)
    # start: 10 % to 90 % of the way from idle to the compute level in ramp_s
    top = H100.train_frac + (1 - job.compute_duty) * job.swing_frac
    share = (level - H100.idle_frac) / (top - H100.idle_frac)
    first = t[(t >= 10) & (share >= 0.1)][0]
    ninety = t[(t >= 10) & (share >= 0.9)][0]
    assert ninety - first == pytest.approx(job.ramp_s, abs=0.02)
    # a training stretch: compute for 72 % of each iteration
    stretch = (t >= 20) & (t < 40)
    assert np.mean(level[stretch] > H100.train_frac) == pytest.approx(job.compute_duty, abs=0.01)


def test_smoothing_holds_its_floor_rates_and_hysteresis() -> None:
    smoothing = Smoothing(
        floor_frac=0.7, ramp_up_w_per_s=400, ramp_down_w_per_s=100, hysteresis_s=0.5
    )
    smoother = Smoother(smoothing, H100.board_w, racks=2)
    step = 0.01
    t = np.arange(0, 20, step)
    demand = np.vstack([np.where((t >= 5) & (t < 10), 0.2, 0.9), np.full(len(t), 0.3)])
    out = smoother.apply(demand, step) * H100.board_w
    assert out.min() >= 0.7 * H100.board_w - 1e-9  # the floor
    change = np.diff(out, axis=1) / step
    assert change.max() <= 400 + 1e-6 and change.min() >= -100 - 1e-6  # the rate limits
    # the fall at 5 s waits out the hysteresis, then ramps at 100 W/s to the floor
    fall = out[0]
    assert fall[(t >= 5) & (t < 5.49)].tolist() == pytest.approx([0.9 * H100.board_w] * 49)
    assert fall[np.searchsorted(t, 6.5)] == pytest.approx(0.9 * H100.board_w - 100 * 1.0, abs=2)
    assert fall[np.searchsorted(t, 9.9)] == pytest.approx(0.7 * H100.board_w)
    # and on the way back up it climbs at 400 W/s
    assert fall[np.searchsorted(t, 10.2)] == pytest.approx(0.7 * H100.board_w + 400 * 0.2, abs=5)
    assert out[1].tolist() == pytest.approx([0.7 * H100.board_w] * len(t))  # under the floor


def test_smoothing_takes_the_swing_out_of_a_site() -> None:
    racks = tuple(f"r{i}" for i in range(8))
    t = np.arange(0, 20, 0.05)
    plain = SiteWaves(WaveSiteSpec("s", racks, seed=1)).power(t, noise=False).sum(0)
    smooth_spec = WaveSiteSpec("s", racks, seed=1, smoothing=Smoothing(floor_frac=0.82))
    smoothed = SiteWaves(smooth_spec).power(t, noise=False).sum(0)
    hz = 1 / ITERATION_S
    assert fitted(t, smoothed, hz) < 0.1 * fitted(t, plain, hz)


def test_curtailment_reaches_its_cut_in_its_ramp_slips_and_restores() -> None:
    cut = Curtailment(
        10.0, 100.0, reduction=0.3, ramp_s=30.0, restore_s=20.0, slips=((50.0, 60.0),)
    )
    f = cut.factor(np.array([0.0, 10.0, 25.0, 40.0, 49.9, 50.0, 59.9, 60.0, 100.0, 110.0, 120.0]))
    assert f.tolist() == pytest.approx([1, 1, 0.85, 0.7, 0.7, 1, 1, 0.7, 0.7, 0.85, 1])
    step = Curtailment(0.0, 5.0, reduction=0.4, ramp_s=0.0, restore_s=0.0)
    assert step.factor(np.array([-0.1, 0.0, 4.9, 5.0])).tolist() == pytest.approx([1, 0.6, 0.6, 1])


def test_messages_are_rack_batched_power_waves_the_decoder_accepts() -> None:
    racks = tuple(f"h1-r{i:03d}" for i in range(300))
    source = WaveSource(
        [WaveSiteSpec("camp-1", racks), WaveSiteSpec("camp-2", racks[:10], seed=3)],
        WaveOptions(start_ms=START_MS, interval_ms=50, max_bytes=200_000),
    )
    decoder = MessageDecoder(PowerWave)
    now = datetime.fromtimestamp(START_MS / 1000 + 5, UTC)
    events: list[PowerWave] = []
    for index in range(3):
        tick = source.tick(index)
        assert tick.due_s == index + 1
        for message in tick.messages:
            assert message.topic == POWER_WAVE == "telemetry.power_wave"
            assert len(message.value) <= 200_000
            assert "events" in orjson.loads(message.value)
            decoded = decoder.decode(message.value, message.key, now)
            assert decoded.rejects == []
            events += decoded.events
    assert len(events) == 3 * 310
    first = [e for e in events if e.site == "camp-1" and e.rack == "h1-r000"]
    assert [e.ts for e in first] == [START_MS, START_MS + 1000, START_MS + 2000]
    assert all(len(e.power_w) == 20 and e.interval_ms == 50 for e in events)

    def first_message() -> bytes:
        fresh = WaveSource([WaveSiteSpec("camp-1", racks)], WaveOptions(start_ms=START_MS))
        return fresh.tick(0).messages[0].value

    assert first_message() == first_message()  # deterministic


def test_same_seed_same_waves() -> None:
    spec = WaveSiteSpec("s", ("a", "b"), seed=4)
    t = np.arange(0, 2, 0.05)
    assert np.array_equal(SiteWaves(spec).power(t), SiteWaves(spec).power(t))
    other = WaveSiteSpec("s", ("a", "b"), seed=5)
    assert not np.array_equal(SiteWaves(spec).power(t), SiteWaves(other).power(t))
