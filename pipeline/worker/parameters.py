"""The worker's settings as the core's parameters: rule parameters and decoding limits.
The core takes plain values (milliseconds, ratios), never the settings object."""

from __future__ import annotations

from datetime import timedelta

from pipeline.core.decode import Limits
from pipeline.core.policy import RuleConfig
from pipeline.settings import Settings


def rule_config(settings: Settings) -> RuleConfig:
    """Every rule parameter (declared in :mod:`pipeline.core.rules`) at its setting."""
    return RuleConfig(**settings.rule_values())


def decode_limits(settings: Settings) -> Limits:
    return Limits(
        max_message_bytes=settings.max_message_bytes,
        max_age=timedelta(seconds=settings.max_event_age_s),
        max_skew=timedelta(seconds=settings.max_clock_skew_s),
    )
