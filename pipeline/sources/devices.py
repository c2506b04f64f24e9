"""The builders of the polled source kinds (named in :mod:`pipeline.sources.registry`).

``dcgm-exporter``: one reader per ``/metrics`` URL (``--url``, repeatable, or
``--targets FILE``); ``redfish``: one per service root; ``netdev`` and ``rdma``: this
host's mapped interfaces or ports. All share :class:`~pipeline.sources.polling.PollingSource`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.errors import SourceError
from pipeline.sources.kind import BuildContext
from pipeline.sources.mapping import load_mapping
from pipeline.sources.polling import PollingSource, Reader
from pipeline.sources.registry import DeviceSourceOptions, LinkSourceOptions, TickedOptions


def _urls(options: DeviceSourceOptions, context: BuildContext) -> list[str]:
    from pipeline.sources.dcgm import read_targets

    found = list(options.urls)
    if options.targets is not None:
        try:
            found += read_targets(options.targets)
        except OSError as exc:
            raise SourceError(
                f"--targets {options.targets}: cannot read it: {exc.strerror}"
            ) from None
    if not found:
        raise SourceError(f"--source {context.kind} needs --url URL (repeatable) or --targets FILE")
    for url in found:
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"--source {context.kind}: {url!r} is not an http(s):// URL")
    return found


def _polling(
    options: TickedOptions, context: BuildContext, readers: Sequence[Reader]
) -> PollingSource:
    return PollingSource(
        options.site,
        readers,
        label=context.kind,
        interval_s=options.interval_s,
        batch_size=options.batch_size,
        max_bytes=context.settings.max_message_bytes,
    )


def dcgm_exporter_source(options: DeviceSourceOptions, context: BuildContext) -> PollingSource:
    from pipeline.sources.dcgm import DcgmExporterReader
    from pipeline.sources.http_devices import device_client

    mapping = load_mapping(options.map_file)
    client = device_client(context.settings)
    urls = _urls(options, context)
    readers = [DcgmExporterReader(options.site, url, client, mapping) for url in urls]
    return _polling(options, context, readers)


def redfish_source(options: DeviceSourceOptions, context: BuildContext) -> PollingSource:
    from pipeline.sources.redfish import RedfishReader
    from pipeline.sources.redfish_session import RedfishService

    mapping = load_mapping(options.map_file)
    services = [RedfishService(url, context.settings) for url in _urls(options, context)]
    return _polling(options, context, [RedfishReader(options.site, s, mapping) for s in services])


def netdev_source(options: LinkSourceOptions, context: BuildContext) -> PollingSource:
    from pipeline.sources.netdev import NetdevReader

    reader = NetdevReader(options.site, load_mapping(options.map_file))
    return _polling(options, context, [reader])


def rdma_source(options: LinkSourceOptions, context: BuildContext) -> PollingSource:
    from pipeline.sources.rdma import RdmaReader

    reader = RdmaReader(options.site, load_mapping(options.map_file))
    return _polling(options, context, [reader])
