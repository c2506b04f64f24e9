"""The headroom advisor: how close a power domain runs to its cap, and how many more racks
of a chosen profile fit under it at a chosen risk.

Inputs are aligned series (one value per instant of history, a minute each in the
store's rollups): the domain's power ``domain_w`` and a rack profile ``profile_w`` (a
rack's own history, or the per-rack power of a recorded job mix at the same instants).
Adding ``k`` racks of the profile makes the domain draw ``domain_w + k * profile_w``;
the *risk* is the share of instants that would then be over the cap. The advisor's
answer is the largest ``k`` whose risk is at most the chosen one (:func:`fit_racks`,
checked against a brute-force count in the tests):

* per instant, the racks that still fit there are ``floor((cap - d) / p)`` (any number
  where ``p`` is 0 and ``d`` is under the cap; none where ``d`` is already over);
* with ``allowed = floor(risk * n)`` instants permitted over the cap, ``k`` is the
  ``allowed``-th smallest of those (0-based), never below 0.

Stranded power is the cap minus the domain's ``1 - risk`` quantile: provisioned, and at
that risk never drawn. Pure numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Headroom:
    cap_w: float
    risk: float
    points: int
    peak_w: float
    p99_w: float
    p999_w: float
    stranded_w: float  # cap - the (1 - risk) quantile, at least 0
    racks: int | None  # more racks of the profile that fit; None: no bound (profile 0)
    exceed_share: float  # with those racks added: share of instants over the cap
    profile_p99_w: float  # the profile's own p99 (per rack)


def exceed_count(domain_w: np.ndarray, profile_w: np.ndarray, cap_w: float, racks: int) -> int:
    """Instants over the cap with ``racks`` racks of the profile added."""
    return int(np.count_nonzero(domain_w + racks * profile_w > cap_w))


def fit_racks(domain_w: np.ndarray, profile_w: np.ndarray, cap_w: float, risk: float) -> int | None:
    """The most racks of the profile that fit at ``risk`` (None: unbounded)."""
    n = len(domain_w)
    if n == 0:
        return 0
    allowed = math.floor(risk * n + 1e-9)
    if allowed >= n:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.floor((cap_w - domain_w) / profile_w)
    room = np.where(profile_w > 0, room, np.where(domain_w <= cap_w, np.inf, -1.0))
    room = np.where(domain_w > cap_w, -1.0, room)
    k = float(np.partition(room, allowed)[allowed])
    if math.isinf(k):
        return None
    racks = max(0, int(k))
    # floating division may land one off at an exact boundary: settle it by counting
    while racks > 0 and exceed_count(domain_w, profile_w, cap_w, racks) > allowed:
        racks -= 1
    while exceed_count(domain_w, profile_w, cap_w, racks + 1) <= allowed:
        racks += 1
    return racks


def headroom(domain_w: np.ndarray, profile_w: np.ndarray, cap_w: float, risk: float) -> Headroom:
    """The advisor's answer for one domain; ``risk`` in (0, 1)."""
    if not 0 < risk < 1:
        raise ValueError("risk must be a share between 0 and 1 (0.001: 1 minute in 1000)")
    d = np.asarray(domain_w, float)
    p = np.clip(np.asarray(profile_w, float), 0.0, None)
    if len(d) != len(p):
        raise ValueError("the domain's and the profile's series must be aligned (same length)")
    if not len(d):
        return Headroom(cap_w, risk, 0, 0.0, 0.0, 0.0, cap_w, 0, 0.0, 0.0)
    racks = fit_racks(d, p, cap_w, risk)
    over = exceed_count(d, p, cap_w, racks) if racks is not None else exceed_count(d, p, cap_w, 0)
    level = float(np.quantile(d, 1 - risk))
    return Headroom(
        cap_w=cap_w,
        risk=risk,
        points=len(d),
        peak_w=float(d.max()),
        p99_w=float(np.quantile(d, 0.99)),
        p999_w=float(np.quantile(d, 0.999)),
        stranded_w=max(0.0, cap_w - level),
        racks=racks,
        exceed_share=over / len(d),
        profile_p99_w=float(np.quantile(p, 0.99)),
    )
