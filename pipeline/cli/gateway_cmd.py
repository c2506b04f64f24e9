"""``megawatch gateway``: Prometheus remote_write and OTLP/HTTP metrics into Kafka.

``megawatch gateway [--host H] [--port P] [--site S] [--map FILE]`` serves until Ctrl-C
or SIGTERM; ``megawatch gateway status [--url URL]`` asks a running gateway for its
figures. See docs/gateway.md.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import click
import httpx

from pipeline.cli.common import check_port_free, quiet_libraries, settings_from
from pipeline.errors import MegawatchError

logger = logging.getLogger(__name__)


@click.group(invoke_without_command=True)
@click.option("--host", help="Address to listen on (MEGAWATCH_GATEWAY_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (MEGAWATCH_GATEWAY_PORT, 9201).")
@click.option("--site", help="Site of series without a `site` label (MEGAWATCH_GATEWAY_SITE).")
@click.option(
    "--map",
    "map_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where hosts, racks and interfaces belong (the agents' --map format, plus site:).",
)
@click.pass_context
def gateway(
    ctx: click.Context, host: str | None, port: int | None, site: str | None, map_file: Path | None
) -> None:
    """Take Prometheus remote_write (POST /api/v1/write) and OTLP/HTTP metrics
    (POST /v1/metrics) and publish them as contract events on the telemetry topics.

    A write is answered 2xx only once Kafka acknowledged every event it made; 503 with
    Retry-After while Kafka is slow or away. Several gateways can run behind a load
    balancer (route each writer to one gateway: parts of one event join in it).
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_from()
    host = host or settings.gateway_host
    port = settings.gateway_port if port is None else port
    check_port_free(host, port, "MEGAWATCH_GATEWAY_PORT (or --port)")
    quiet_libraries(settings.log_level)
    logging.getLogger("pipeline").setLevel(settings.log_level)

    from pipeline.gateway.service import gateway_config, serve
    from pipeline.kafka.endpoint import resolve_kafka
    from pipeline.kafka.topics import ensure_topics

    config = gateway_config(settings, host, port, site, map_file)  # before starting anything
    endpoint, owned_broker = resolve_kafka(settings, start_if_missing=True)
    try:
        if owned_broker is not None:
            click.echo(f"started the embedded broker at {endpoint.bootstrap}", err=True)
        ensure_topics(settings, endpoint)
        asyncio.run(serve(settings, endpoint, config))
    finally:
        if owned_broker is not None:
            owned_broker.stop()


@gateway.command()
@click.option("--url", help="The gateway (default http://MEGAWATCH_GATEWAY_HOST:PORT).")
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON.")
def status(url: str | None, as_json: bool) -> None:
    """A running gateway's figures: requests, samples, events produced, unmapped series
    per metric name, and the causes of refusals."""
    settings = settings_from()
    url = (url or f"http://{settings.gateway_host}:{settings.gateway_port}").rstrip("/")
    try:
        response = httpx.get(f"{url}/api/status", timeout=10)
        response.raise_for_status()
        figures: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise MegawatchError(f"no gateway answers at {url}: {exc}") from None
    if as_json:
        import json

        click.echo(json.dumps(figures, indent=2))
        return
    click.echo(f"gateway at {url}, up {figures['uptime_s']:.0f} s")
    for title, key in (
        ("requests (endpoint status)", "requests"),
        ("samples received", "samples"),
        ("events produced (acknowledged by Kafka)", "events_produced"),
        ("refused requests (endpoint cause)", "refused_requests"),
        ("refused events (kind reason)", "refused_events"),
        ("incomplete events (kind missing part)", "incomplete_events"),
    ):
        _section(title, figures.get(key) or {})
    click.echo(f"waiting events: {figures['waiting_events']}")
    click.echo(f"duplicate samples (retries): {figures['duplicate_samples']}")
    unmapped = figures.get("unmapped") or {}
    click.echo(f"unmapped samples by metric name: {len(unmapped)} names")
    for name, reasons in unmapped.items():
        detail = ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items()))
        click.echo(f"  {name}: {detail}")


def _section(title: str, counts: dict[str, int]) -> None:
    click.echo(f"{title}:" + ("" if counts else " none"))
    for name, n in counts.items():
        click.echo(f"  {name}: {n}")
