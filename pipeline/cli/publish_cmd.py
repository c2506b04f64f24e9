"""``megawatch publish TOPIC --key SITE``: JSON lines from stdin to a Kafka topic.

The way to feed megawatch by hand or from a script, on the embedded broker (found like
every other command finds it) or a real Kafka: kcat cannot talk to the embedded broker
(MEASURED.md). Events of a telemetry topic are sent as the contract's batches
``{"events": [...]}`` (at most ``--batch-size`` per message; a line that already is a
batch is sent as it is); other topics get one message per line. Lines are sent as they
come, so ``tail -f file | megawatch publish ...`` works; every message is acknowledged
by the broker (acks=all, retried) before the command exits 0.
"""

from __future__ import annotations

import select
import sys
from collections.abc import Iterator
from typing import IO, Any

import click
import orjson

from pipeline.cli.common import settings_from
from pipeline.errors import BrokerError, SourceError

TELEMETRY_PREFIX = "telemetry."
WAIT_S = 0.2  # a pause in the input this long sends what has come so far
_BATCH_OVERHEAD = len(b'{"events":[]}')


def _lines_in_bursts(stream: IO[str]) -> Iterator[list[tuple[int, str]]]:
    """Numbered non-blank lines, grouped by what was available without waiting."""
    burst: list[tuple[int, str]] = []
    for number, line in enumerate(stream, start=1):
        if line.strip():
            burst.append((number, line))
        if burst and not _more_ready(stream):
            yield burst
            burst = []
    if burst:
        yield burst


def _more_ready(stream: IO[str]) -> bool:
    try:
        return bool(select.select([stream], [], [], WAIT_S)[0])
    except (ValueError, OSError, TypeError):  # not a real file (tests, Windows): read on
        return True


def parse_line(number: int, line: str) -> Any:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise SourceError(
            f"stdin line {number}: not JSON ({exc}); nothing after it was sent"
        ) from None
    if not isinstance(value, dict):
        raise SourceError(
            f"stdin line {number}: expected a JSON object, got {type(value).__name__}"
        )
    return value


def messages(
    topic: str, key: bytes, values: list[Any], batch_size: int, max_bytes: int | None = None
) -> list[Any]:
    """The messages of ``values``: batches of at most ``batch_size`` events and
    ``max_bytes`` bytes when given (the worker's MEGAWATCH_MAX_MESSAGE_BYTES: one
    power_wave event can be 10 kB, so a count alone would not keep a batch under it); an
    event larger than that goes alone, for the worker to dead-letter with its reason."""
    from pipeline.sources.base import OutMessage

    if not topic.startswith(TELEMETRY_PREFIX):
        return [OutMessage(topic, key, orjson.dumps(v)) for v in values]
    out: list[Any] = []
    batches: list[list[Any]] = [[]]
    size = _BATCH_OVERHEAD
    for value in values:
        if "events" in value:  # already a batch: sent as it is, in its place
            out += [OutMessage(topic, key, orjson.dumps({"events": b})) for b in batches if b]
            out.append(OutMessage(topic, key, orjson.dumps(value)))
            batches, size = [[]], _BATCH_OVERHEAD
            continue
        grows = len(orjson.dumps(value)) + 1
        last = batches[-1]
        too_big = max_bytes is not None and size + grows > max_bytes
        if last and (len(last) >= batch_size or too_big):
            batches.append([])
            size = _BATCH_OVERHEAD
        batches[-1].append(value)
        size += grows
    out += [OutMessage(topic, key, orjson.dumps({"events": b})) for b in batches if b]
    return out


@click.command()
@click.argument("topic")
@click.option("--key", required=True, help="Message key: the site id (the contract keys by site).")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="Most events per message on telemetry.* topics.",
)
def publish(topic: str, key: str, batch_size: int) -> None:
    """Publish JSON lines from stdin to TOPIC, keyed by --key, and wait for the acks.

    \b
    Example (the embedded broker of `megawatch broker` or `megawatch demo`):
      echo '{"site": "atl-2", "rack": "r12", "ts": 1764400000000, "power_w": 118250.5}' \\
        | megawatch publish telemetry.rack_power --key atl-2
      echo '{"site":"atl-2","rack":"r12","ts":1764400000000,"interval_ms":50,"power_w":[9e4]}' \\
        | megawatch publish telemetry.power_wave --key atl-2
    """
    from pipeline.kafka.endpoint import resolve_kafka
    from pipeline.sources.agent import kafka_publisher

    settings = settings_from()
    endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    publisher = kafka_publisher(settings, endpoint)
    publisher.start()
    events = sent = 0
    error: SourceError | None = None
    try:
        for burst in _lines_in_bursts(sys.stdin):
            values = []
            for number, line in burst:
                try:
                    values.append(parse_line(number, line))
                except SourceError as exc:
                    error = exc
                    break
            batch = messages(topic, key.encode(), values, batch_size, settings.max_message_bytes)
            publisher.publish(batch)
            events, sent = events + len(values), sent + len(batch)
            if error is not None:
                break
    finally:
        stats = publisher.close(30.0)
    undelivered = stats.pending + stats.in_flight + stats.unconfirmed + stats.dropped
    if undelivered or stats.rejected:
        raise BrokerError(
            f"{undelivered + stats.rejected} of {sent} messages to {topic} were not delivered to "
            f"{publisher.describe}: {publisher.last_error or 'timed out'}"
        )
    click.echo(f"published {events} events in {sent} messages to {topic}", err=True)
    if error is not None:
        raise error
