"""``megawatch headroom``: the headroom advisor on a domain's recorded history.

Reads a site's or power domain's per-minute peaks (named query ``power_history``) and a
rack profile: a rack's own per-minute peaks (``rack_power_profile``) or the per-rack power
of a recorded job mix, per hour (``job_mix_profile``, held over the hour's minutes). Only
minutes where both are known are compared. The arithmetic is
:func:`pipeline.core.energy.headroom.headroom` (docs/energy.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.core.energy.headroom import Headroom, headroom
from pipeline.errors import QueryError

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.settings import Settings
    from pipeline.store.client import Store


@dataclass(frozen=True)
class HeadroomAnswer:
    site: str
    domain: str  # '' for the site itself
    profile: str  # what the added racks look like, in words
    answer: Headroom

    def row(self) -> dict[str, Any]:
        a = self.answer
        return {
            "site": self.site,
            "domain": self.domain or "(site)",
            "profile": self.profile,
            "minutes": a.points,
            "cap_mw": round(a.cap_w / 1e6, 4),
            "peak_mw": round(a.peak_w / 1e6, 4),
            "p99_mw": round(a.p99_w / 1e6, 4),
            "p999_mw": round(a.p999_w / 1e6, 4),
            "stranded_mw": round(a.stranded_w / 1e6, 4),
            "rack_p99_kw": round(a.profile_p99_w / 1e3, 2),
            "risk": a.risk,
            "more_racks": "no bound" if a.racks is None else a.racks,
            "over_cap_pct": round(a.exceed_share * 100, 3),
        }


def read_headroom(
    target: Store | Settings,
    site: str,
    *,
    domain: str = "",
    rack: str | None = None,
    jobs: str | None = None,
    risk: float = 0.001,
    since_s: int = 7 * 86400,
    until: datetime | None = None,
    cap_mw: float | None = None,
) -> HeadroomAnswer:
    """The advisor's answer for one domain and one profile (``rack`` or ``jobs``)."""
    from pipeline.store.named import named_query

    if (rack is None) == (jobs is None):
        raise QueryError("headroom needs one profile: --rack RACK or --jobs JOB[,JOB...]")
    window: dict[str, Any] = {"since_s": since_s, "until": until or "now"}
    history = named_query(target, "power_history", site=site, domain=domain, **window)
    if history.empty:
        where = f"domain {domain} of {site}" if domain else f"site {site}"
        raise QueryError(f"no power history of {where} in the window (check --site, --domain)")
    cap_w = cap_mw * 1e6 if cap_mw is not None else _cap(history)
    if rack is not None:
        profile = named_query(target, "rack_power_profile", site=site, rack=rack, **window)
        per_minute = _by_minute(profile, "minute", "max_w")
        described = f"rack {rack} (its own per-minute peaks)"
    else:
        assert jobs is not None
        profile = named_query(target, "job_mix_profile", site=site, jobs=jobs, **window)
        per_minute = _hourly(profile)
        described = f"jobs {jobs} (per-rack power, hourly)"
    minutes = _by_minute(history, "minute", "max_w")
    common = sorted(set(minutes) & set(per_minute))
    if not common:
        raise QueryError(f"the profile ({described}) has no history in the window of {site}")
    domain_w = np.array([minutes[m] for m in common])
    profile_w = np.array([per_minute[m] for m in common])
    return HeadroomAnswer(site, domain, described, headroom(domain_w, profile_w, cap_w, risk))


def _cap(history: pd.DataFrame) -> float:
    caps = history["cap_w"].dropna()
    if caps.empty:
        raise QueryError("the domain has no cap in its history: give --cap-mw")
    return float(caps.iloc[-1])


def _by_minute(frame: pd.DataFrame, at: str, value: str) -> dict[int, float]:
    import pandas as pd

    if frame.empty:
        return {}
    # whole minutes since the epoch, whatever resolution the frame's times come in
    since = pd.to_datetime(frame[at], utc=True) - pd.Timestamp(0, tz="UTC")
    minutes = since // pd.Timedelta(minutes=1)
    return dict(zip(minutes.tolist(), frame[value].astype(float).tolist(), strict=True))


def _hourly(frame: pd.DataFrame) -> dict[int, float]:
    """An hourly profile held over its hour's 60 minutes."""
    out: dict[int, float] = {}
    for hour, watts in _by_minute(frame, "hour", "w_per_rack").items():
        for minute in range(60):
            out[hour + minute] = watts
    return out
