"""Publishing site specs to, and reading them back from, the compacted control.sites topic
(through :mod:`pipeline.kafka.compacted`, which serves control.jobs and control.dr too)."""

from __future__ import annotations

import logging

from pipeline.events import SiteSpec
from pipeline.kafka.compacted import publish_latest, read_latest
from pipeline.kafka.topics import SITES
from pipeline.settings import Settings

logger = logging.getLogger(__name__)


def publish_specs(settings: Settings, specs: list[SiteSpec]) -> None:
    """Publish each spec keyed by its site; returns once every record is acknowledged."""
    publish_latest(settings, SITES, ((s.site, s) for s in specs))


def read_specs(settings: Settings) -> dict[str, SiteSpec]:
    """The current spec of every site on control.sites (last record per key; a tombstone
    deletes the spec)."""
    specs, invalid = read_latest(settings, SITES, SiteSpec)
    for site in invalid:
        logger.warning("ignoring an invalid spec for %s on %s", site, SITES)
    return specs
