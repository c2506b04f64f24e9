"""``link_ber``: a link's post-FEC bit error rate, and codewords the FEC could not correct.

* warning: the post-FEC BER over ``ber_window_s`` at or over the class's ``ber_warn``
  (1e-10). The BER is post-FEC errors / bits received (``symbol_errors`` / ``rx_bits``,
  e.g. mlx5's ``rx_pcs_symbol_err_phy`` / ``rx_bits_phy``) once the window holds
  ``ber_min_bits``; a link that reports no bit counter is judged on the BER the device
  computes (``effective_ber``). IEEE 802.3 specifies its PHYs for a BER of 1e-12 or
  better after FEC (1e-13 for the 200G/400G PCS), so 1e-10 is a link running 100 times
  worse than its specification: still passing traffic, on its way to failing.
* critical: ``fec_uncorrectable_crit`` (1) or more uncorrectable codewords in the window.
  An uncorrectable codeword is a corrupted frame the receiver drops: loss has begun,
  whatever the packet counters say yet. (NVIDIA's mlx5 counter documentation on
  ``rx_pcs_symbol_err_phy``, the post-FEC errors: an increasing count means a high BER
  and lost traffic; the cable or transceiver may need replacing.)

Resolution: the BER under its threshold minus the hysteresis margin, or no
uncorrectable codeword left in the window, for ``ber_resolve_for_s``. A window not yet
judgeable (too few bits, the counters not reported) holds the alert as it is.
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, Facts
from pipeline.core.alert_state import Timing
from pipeline.core.link_health import LinkHealth
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.common import HYSTERESIS
from pipeline.core.rules.link_text import CLASS_NAMES, link_label, per_class, rate, severities, step
from pipeline.core.rules.link_windows import BER_WINDOW
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import LINK_HEALTH, Links
from pipeline.events import Alert, LinkClass

RULE = "link_ber"
BER_FOR = Param("ber_for_s", 0.0, "a BER or FEC condition must hold this long", "s", ge=0, le=3600)
BER_RESOLVE_FOR = Param(
    "ber_resolve_for_s",
    60.0,
    "under the BER margin, or no uncorrectable codeword in the window, this long to resolve",
    "s",
    ge=0,
    le=3600,
)
BER_MIN_BITS = Param(
    "ber_min_bits",
    100_000_000_000,
    "fewer bits counted in the window: the BER is not judged (1e11: 10 errors at 1e-10)",
    "bits",
    ge=1,
)
BER_WARN = {
    link_class: Param(
        f"ber_warn_{link_class.value}",
        1e-10,
        f"{CLASS_NAMES[link_class]} links: post-FEC BER at which `link_ber` warns",
        "ratio",
        gt=0,
        lt=1,
        spec=f"ber_warn.{link_class.value}",
    )
    for link_class in LinkClass
}
UNCORRECTABLE_CRIT = {
    link_class: Param(
        f"fec_uncorrectable_crit_{link_class.value}",
        1,
        f"{CLASS_NAMES[link_class]} links: uncorrectable FEC codewords in the window at which "
        "`link_ber` is critical",
        "codewords",
        ge=1,
        spec=f"fec_uncorrectable_crit.{link_class.value}",
    )
    for link_class in LinkClass
}


def evaluate_ber(book: AlertBook, subject: Links, now_ms: int, policy: SitePolicy) -> list[Alert]:
    out: list[Alert] = []
    limits = policy.derived(_limits)
    min_bits, margin = policy[BER_MIN_BITS], 1 - policy[HYSTERESIS]
    timing = policy.derived(_timing)
    for link in subject.names:
        state, link_class, peer = subject.known[link]
        health = state.health
        if health is None:
            continue
        warn_at, crit_at = limits[link_class]
        warning, critical = severities(link, peer, RULE)
        label = partial(link_label, book.site, link, link_class, peer)
        ber = judged_ber(health, min_bits)
        if ber is not None:
            facts = partial(_ber_facts, label, health, ber, warn_at, policy.ms(BER_WINDOW))
            cleared = ber < warn_at * margin
            out += step(book, warning, ber >= warn_at, cleared, now_ms, timing, facts)
        if health.reports("fec_uncorrectable_codewords"):
            lost = health.ber_counts()[2]
            facts = partial(_fec_facts, label, health, crit_at, policy.ms(BER_WINDOW))
            out += step(book, critical, lost >= crit_at, lost < crit_at, now_ms, timing, facts)
    return out


def judged_ber(health: LinkHealth, min_bits: int) -> float | None:
    """The window's post-FEC BER when it can be judged: counted over at least
    ``min_bits`` bits, else (no bit counter at all) the device's own figure."""
    if health.reports("rx_bits"):
        errors, bits, _, _ = health.ber_counts()
        return errors / bits if bits >= min_bits and health.reports("symbol_errors") else None
    return health.effective_ber


def _limits(policy: SitePolicy) -> dict[LinkClass, tuple[float, int]]:
    params = {cls: (BER_WARN[cls], UNCORRECTABLE_CRIT[cls]) for cls in LinkClass}
    return per_class(policy, params)


def _timing(policy: SitePolicy) -> Timing:
    return Timing(policy.ms(BER_FOR), policy.ms(BER_RESOLVE_FOR))


def _ber_facts(
    label: partial[str], health: LinkHealth, ber: float, threshold: float, window_ms: int
) -> Facts:
    errors, bits, _, _ = health.ber_counts()
    counted = f" ({errors:,.0f} errored of {bits:.3g} bits)" if bits else " (as the device reports)"
    text = (
        f"{label()}: post-FEC bit error rate {rate(ber)} over the last "
        f"{window_ms / 1000:.0f} s{counted}, warning at {rate(threshold)}"
    )
    return Facts(ber, threshold, text)


def _fec_facts(label: partial[str], health: LinkHealth, threshold: int, window_ms: int) -> Facts:
    _, _, lost, corrected = health.ber_counts()
    text = (
        f"{label()}: {lost:,.0f} FEC codewords uncorrectable in the last "
        f"{window_ms / 1000:.0f} s ({corrected:,.0f} corrected): frames are being "
        f"dropped on this link; critical at {threshold}"
    )
    return Facts(lost, threshold, text)


RULES = (
    Rule(
        RULE,
        (RULE,),
        LINK_HEALTH,
        evaluate_ber,
        "post-FEC BER over the window at the class's warning threshold; uncorrectable "
        "FEC codewords in the window at its critical one",
        (
            BER_FOR,
            BER_RESOLVE_FOR,
            BER_MIN_BITS,
            *BER_WARN.values(),
            *UNCORRECTABLE_CRIT.values(),
        ),
    ),
)
