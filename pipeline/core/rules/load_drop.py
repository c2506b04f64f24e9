"""The load-drop rule: a site that lost ``drop_ratio`` of its load within ``drop_window_s``
and stayed down (:mod:`pipeline.core.wave.drops`: the sustain tells a lost load from a
training swing).

A drop is an event: the alert fires on the stride the drop is confirmed in and resolves
``drop_hold_s`` of event time after the site's last drop (a site that drops again while
firing stays firing). Cells of unknown load never make or confirm a drop. Drops of sites
with a ``region`` are also grouped per region (``fleet_load_drop``).
"""

from __future__ import annotations

from functools import partial

from pipeline.core.alert_book import AlertBook, Facts
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import Param, Rule
from pipeline.core.rules.scopes import WAVE, WaveSubject
from pipeline.core.rules.wave_common import drop_alert
from pipeline.events import Alert

DROP_RATIO = Param(
    "drop_ratio",
    0.2,
    "`load_drop`: share of the site's load lost within `drop_window_s` (and not back "
    "within `drop_sustain_s`)",
    "ratio",
    gt=0,
    lt=1,
    spec="drop_ratio",
)
DROP_WINDOW = Param(
    "drop_window_s",
    2.0,
    "`load_drop`: the loss counts against the highest load of this long before it",
    "s",
    gt=0,
    le=600,
)
DROP_SUSTAIN = Param(
    "drop_sustain_s",
    1.0,
    "`load_drop`: and the load stays down this long (a training swing comes back sooner)",
    "s",
    ge=0,
    le=600,
)


def evaluate_drop(
    book: AlertBook, subject: WaveSubject, now_ms: int, policy: SitePolicy
) -> list[Alert]:
    drop = subject.last_drop
    last_ms = None if drop is None else drop.at_ms
    return drop_alert(
        book, "load_drop", last_ms, now_ms, policy, partial(_facts, book.site, subject)
    )


def _facts(site: str, subject: WaveSubject, breached: bool) -> Facts:
    drop = subject.last_drop
    if drop is None:
        return Facts(0.0, 0.0, f"site {site}: no load drop")
    text = (
        f"site {site} lost {drop.lost_ratio:.0%} of its load: {drop.before_w / 1e6:.2f} MW -> "
        f"{drop.after_w / 1e6:.2f} MW"
    )
    if not breached:
        text = f"site {site}: no further load drop since {text.split(': ', 1)[1]}"
    return Facts(round(drop.lost_ratio, 4), 0.0, text)


RULES = (
    Rule(
        "load_drop",
        ("load_drop",),
        WAVE,
        evaluate_drop,
        "the site lost `drop_ratio` of its load within `drop_window_s`, and stayed down",
        (DROP_RATIO, DROP_WINDOW, DROP_SUSTAIN),
    ),
)
