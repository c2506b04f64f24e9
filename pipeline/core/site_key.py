"""Message keys: ``SITE``, or ``SITE/SHARD`` for a site spread over several partitions.

A Kafka message is keyed by the site its events belong to, so that one worker owns all
the streams of a site. A site too big for one worker (a 1 GW campus) is keyed by *shard*
instead: ``SITE/SHARD``, where a shard is a hall, a row or a feed leaf (any id without
``/``). Each shard key hashes to its own partition, so the shards of one site spread over
the workers; the events keep ``site`` = the whole site, and the part of the key before the
``/`` must equal it. A plain ``SITE`` key is the one-shard case (shard ``""``).

The worker keeps live state per key (:class:`pipeline.core.site.SiteMonitor`) and
combines the shards of a site in its site stage (:mod:`pipeline.core.site_stage`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Between the site and the shard of a key.
SEPARATOR = "/"
#: pipeline.events.ID_PATTERN, matched whole: a shard is an id (so it has no ``/``).
_SHARD = re.compile(r"[A-Za-z0-9._:-]{1,64}").fullmatch


@dataclass(frozen=True, slots=True)
class SiteKey:
    """A message key split: the site, and the shard (``""`` for a plain site key)."""

    site: str
    shard: str = ""

    @property
    def text(self) -> str:
        """The key as sent: ``SITE`` or ``SITE/SHARD``."""
        return f"{self.site}{SEPARATOR}{self.shard}" if self.shard else self.site

    @classmethod
    def of(cls, key: str) -> SiteKey:
        """Split a key (not checked: see :func:`shard_problem`)."""
        site, _, shard = key.partition(SEPARATOR)
        return cls(site, shard)


def site_of(key: str) -> str:
    """The site a key is about: the whole key, or its part before ``/``."""
    return key.partition(SEPARATOR)[0]


def shard_problem(key: str) -> str | None:
    """One line saying what is wrong with the shard of ``key``; None when the key is a
    plain ``SITE`` or a well-formed ``SITE/SHARD``."""
    site, sep, shard = key.partition(SEPARATOR)
    if not sep or _SHARD(shard):
        return None
    shown = key if len(key) <= 80 else key[:77] + "..."
    what = "is empty" if not shard else "is not an id"
    if SEPARATOR in shard:
        what = "contains another '/'"
    return (
        f"message key {shown!r}: the shard after {site!r}/ {what}; key messages SITE or "
        "SITE/SHARD, the shard 1-64 characters of [A-Za-z0-9._:-]"
    )


__all__ = ["SEPARATOR", "SiteKey", "shard_problem", "site_of"]
