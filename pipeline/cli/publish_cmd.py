"""``megawatch publish TOPIC --key SITE``: JSON lines from stdin to a Kafka topic.

The way to feed megawatch by hand or from a script, on the embedded broker (found like
every other command finds it) or a real Kafka: kcat cannot talk to the embedded broker
(MEASURED.md). Every line is first checked with the worker's own decoder
(:class:`pipeline.sources.line_check.LineChecker`): what the worker would dead-letter is
not sent but reported, by line (and column, or event of a batch) with the worker's
reason, and the command then exits 1; ``--send-invalid`` sends it anyway, on purpose
(to see dead letters). Events of a telemetry topic are sent as the contract's batches
``{"events": [...]}`` (at most ``--batch-size`` per message; a line that already is a
batch is sent as it is); other topics get one message per line. Lines are sent as they
come, so ``tail -f file | megawatch publish ...`` works; every message is acknowledged
by the broker (acks=all, retried) before the command exits.
"""

from __future__ import annotations

import select
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import click
import orjson

from pipeline.cli.common import settings_from
from pipeline.errors import BrokerError, ConfigError, SourceError

if TYPE_CHECKING:
    from pipeline.sources.line_check import Refusal

TELEMETRY_PREFIX = "telemetry."
SHOWN = 20  # refused lines shown one by one; the rest are counted
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


def messages(
    topic: str, key: bytes, values: list[Any], batch_size: int, max_bytes: int | None = None
) -> list[Any]:
    """The messages of ``values``: batches of at most ``batch_size`` events and
    ``max_bytes`` bytes when given (the worker's MEGAWATCH_MAX_MESSAGE_BYTES: one
    power_wave event can be 10 kB, so a count alone would not keep a batch under it); an
    event larger than that goes alone, for the worker to dead-letter with its reason.
    A value that is bytes (a line sent as written, ``--send-invalid``) is one message."""
    from pipeline.sources.base import OutMessage

    def encoded(value: Any) -> bytes:
        return value if isinstance(value, bytes) else orjson.dumps(value)

    if not topic.startswith(TELEMETRY_PREFIX):
        return [OutMessage(topic, key, encoded(v)) for v in values]
    out: list[Any] = []
    batches: list[list[Any]] = [[]]
    size = _BATCH_OVERHEAD
    for value in values:
        if isinstance(value, bytes) or "events" in value:  # sent as it is, in its place
            out += [OutMessage(topic, key, orjson.dumps({"events": b})) for b in batches if b]
            out.append(OutMessage(topic, key, encoded(value)))
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
@click.option(
    "--key",
    required=True,
    help="Message key: the site id (the contract keys by site), or SITE/SHARD.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="Most events per message on telemetry.* topics.",
)
@click.option(
    "--send-invalid",
    is_flag=True,
    help="Send lines the worker will dead-letter too, on purpose (to see dead letters).",
)
def publish(topic: str, key: str, batch_size: int, send_invalid: bool) -> None:
    """Publish JSON lines from stdin to TOPIC, keyed by --key, and wait for the acks.

    Each line is checked as the worker will check it: a line (or an event of a batch)
    it would dead-letter is not sent but reported with its line number and reason, and
    the command exits 1.

    \b
    Example (the embedded broker of `megawatch broker` or `megawatch demo`):
      echo '{"site": "atl-2", "rack": "r12", "ts": 1764400000000, "power_w": 118250.5}' \\
        | megawatch publish telemetry.rack_power --key atl-2
      echo '{"site":"atl-2","rack":"r12","ts":1764400000000,"interval_ms":50,"power_w":[9e4]}' \\
        | megawatch publish telemetry.power_wave --key atl-2
    """
    from pipeline.kafka.endpoint import resolve_kafka
    from pipeline.sources.agent import kafka_publisher
    from pipeline.sources.line_check import LineChecker
    from pipeline.worker.parameters import decode_limits

    check_topic(topic)
    settings = settings_from()
    checker = LineChecker(topic, key, decode_limits(settings))
    endpoint, _ = resolve_kafka(settings, start_if_missing=False)
    publisher = kafka_publisher(settings, endpoint)
    publisher.start()
    events = sent = refused_events = 0
    refused: list[Refusal] = []
    try:
        for burst in _lines_in_bursts(sys.stdin):
            checked = checker.check(burst, send_invalid)
            refused += checked.refused
            refused_events += checked.refused_events
            batch = messages(
                topic, key.encode(), checked.values, batch_size, settings.max_message_bytes
            )
            publisher.publish(batch)
            events, sent = events + checked.events, sent + len(batch)
    finally:
        stats = publisher.close(30.0)
    undelivered = stats.pending + stats.in_flight + stats.unconfirmed + stats.dropped
    if undelivered or stats.rejected:
        raise BrokerError(
            f"{undelivered + stats.rejected} of {sent} messages to {topic} were not delivered to "
            f"{publisher.describe}: {publisher.last_error or 'timed out'}"
        )
    _say_refused(refused, send_invalid)
    click.echo(f"published {events} events in {sent} messages to {topic}", err=True)
    if refused and not send_invalid:
        raise SourceError(
            f"refused {refused_events} events on {len({r.line for r in refused})} lines "
            "that the worker would dead-letter (shown above; --send-invalid sends them)"
        )


def check_topic(topic: str) -> None:
    """``topic`` is one of the contract's (a typo would feed a topic nobody reads)."""
    import difflib

    from pipeline.kafka.topics import CONTRACT_TOPICS

    names = [spec.name for spec in CONTRACT_TOPICS]
    if topic in names:
        return
    close = difflib.get_close_matches(topic, names, n=2, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}?" if close else f"topics: {', '.join(names)}"
    raise ConfigError(f"TOPIC {topic!r} is not a topic of the contract: {hint}")


def _say_refused(refused: list[Refusal], on_purpose: bool) -> None:
    verb = "sent anyway" if on_purpose else "refused"
    for refusal in refused[:SHOWN]:
        click.echo(f"{verb}: stdin {refusal}", err=True)
    if len(refused) > SHOWN:
        click.echo(f"{verb}: ... and {len(refused) - SHOWN} more", err=True)
