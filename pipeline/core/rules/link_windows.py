"""The windows of the link-health state, declared once: the site monitor sizes each link's
:class:`pipeline.core.link_health.LinkHealth` with them, and the link-health rules
(``link_ber``, ``link_flap``, ``pfc_storm``, ``optics_drift``) judge over them. Like the
loss window they are the worker's (settings), not a site's: they size live state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.core.link_health import Windows
from pipeline.core.rules.registry import Param

if TYPE_CHECKING:
    from pipeline.core.policy import RuleConfig

BER_WINDOW = Param(
    "ber_window_s",
    300.0,
    "window of a link's post-FEC BER and uncorrectable codewords (`link_ber`, stored `ber`)",
    "s",
    gt=0,
    le=86_400,
)
FLAP_WINDOW = Param(
    "flap_window_s",
    600.0,
    "window in which a link's carrier transitions are counted (`link_flap`)",
    "s",
    gt=0,
    le=86_400,
)
PFC_WINDOW = Param(
    "pfc_window_s",
    120.0,
    "window of a link's PFC pause time share (`pfc_storm`, stored `pause_share`)",
    "s",
    gt=0,
    le=3600,
)
OPTICS_DRIFT_WINDOW = Param(
    "optics_drift_window_s",
    86_400.0,
    "window of a lane's rx power trend (`optics_drift`); judged once samples span half of it",
    "s",
    ge=3600,  # shorter, a few hundredths of a dB of noise read as dBs a day
    le=7 * 86_400,
)

PARAMS = (BER_WINDOW, FLAP_WINDOW, PFC_WINDOW, OPTICS_DRIFT_WINDOW)


def health_windows(config: RuleConfig) -> Windows:
    """The window lengths (ms) a link's health state is made with."""
    return Windows(
        config.ms(BER_WINDOW),
        config.ms(FLAP_WINDOW),
        config.ms(PFC_WINDOW),
        config.ms(OPTICS_DRIFT_WINDOW),
    )
