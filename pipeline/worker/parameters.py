"""The worker's settings as the core's parameters: rule timings and thresholds, decoding
limits. The core takes plain values (milliseconds, ratios), never the settings object."""

from __future__ import annotations

from datetime import timedelta

from pipeline.core.alert_state import Timing
from pipeline.core.decode import Limits
from pipeline.core.policy import RuleConfig
from pipeline.events import LinkClass
from pipeline.settings import Settings


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def rule_config(settings: Settings) -> RuleConfig:
    return RuleConfig(
        stale_after_ms=_ms(settings.stale_after_s),
        stale_hold_ms=_ms(settings.stale_hold_s),
        min_coverage=settings.min_coverage,
        telemetry_timing=Timing(_ms(settings.telemetry_for_s), _ms(settings.cap_resolve_for_s)),
        forget_after_ms=_ms(settings.forget_after_s),
        cap_timing=Timing(_ms(settings.cap_for_s), _ms(settings.cap_resolve_for_s)),
        hysteresis=settings.hysteresis,
        forecast_horizon_ms=_ms(settings.forecast_horizon_s),
        forecast_window_ms=_ms(settings.forecast_window_s),
        loss_window_ms=_ms(settings.loss_window_s),
        loss_timing=Timing(_ms(settings.loss_for_s), _ms(settings.loss_resolve_for_s)),
        loss_min_tx=settings.loss_min_tx_packets,
        loss_defaults={
            LinkClass.fabric: (settings.loss_warn_fabric, settings.loss_crit_fabric),
            LinkClass.wan: (settings.loss_warn_wan, settings.loss_crit_wan),
        },
        idle_share=settings.idle_power_share,
        idle_timing=Timing(_ms(settings.idle_for_s), _ms(settings.idle_for_s) // 5),
    )


def decode_limits(settings: Settings) -> Limits:
    return Limits(
        max_message_bytes=settings.max_message_bytes,
        max_age=timedelta(seconds=settings.max_event_age_s),
        max_skew=timedelta(seconds=settings.max_clock_skew_s),
    )
