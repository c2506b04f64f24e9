"""Build the polling sources of ``megawatch agent`` from its options.

``dcgm-exporter``: one reader per ``/metrics`` URL (``--url``, repeatable, or
``--targets FILE``); ``redfish``: one per service root; ``netdev`` and ``rdma``: this
host's mapped interfaces or ports. All share :class:`~pipeline.sources.polling.PollingSource`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import SourceError
from pipeline.settings import Settings
from pipeline.sources.base import DEFAULT_BATCH_SIZE, DEFAULT_MAX_MESSAGE_BYTES
from pipeline.sources.mapping import load_mapping
from pipeline.sources.polling import PollingSource, Reader

SOURCES = ("dcgm-exporter", "redfish", "netdev", "rdma")


def _urls(name: str, urls: Sequence[str], targets: Path | None) -> list[str]:
    from pipeline.sources.dcgm import read_targets

    found = list(urls)
    if targets is not None:
        try:
            found += read_targets(targets)
        except OSError as exc:
            raise SourceError(f"--targets {targets}: cannot read it: {exc.strerror}") from None
    if not found:
        raise SourceError(f"--source {name} needs --url URL (repeatable) or --targets FILE")
    for url in found:
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"--source {name}: {url!r} is not an http(s):// URL")
    return found


def polling_source(
    name: str,
    site: str,
    settings: Settings,
    *,
    urls: Sequence[str] = (),
    targets: Path | None = None,
    map_file: Path | None = None,
    interval_s: float = 1.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> PollingSource:
    """The source ``name`` (one of :data:`SOURCES`) for ``site``."""
    mapping = load_mapping(map_file)
    readers: list[Reader]
    if name == "dcgm-exporter":
        from pipeline.sources.dcgm import DcgmExporterReader
        from pipeline.sources.http_devices import device_client

        client = device_client(settings)
        readers = [
            DcgmExporterReader(site, url, client, mapping) for url in _urls(name, urls, targets)
        ]
    elif name == "redfish":
        from pipeline.sources.redfish import RedfishReader
        from pipeline.sources.redfish_session import RedfishService

        readers = [
            RedfishReader(site, RedfishService(url, settings), mapping)
            for url in _urls(name, urls, targets)
        ]
    elif name == "netdev":
        from pipeline.sources.netdev import NetdevReader

        readers = [NetdevReader(site, mapping)]
    elif name == "rdma":
        from pipeline.sources.rdma import RdmaReader

        readers = [RdmaReader(site, mapping)]
    else:
        raise SourceError(f"unknown source {name!r}: expected one of {', '.join(SOURCES)}")
    return PollingSource(
        site,
        readers,
        label=name,
        interval_s=interval_s,
        batch_size=batch_size,
        max_bytes=max_bytes,
    )
