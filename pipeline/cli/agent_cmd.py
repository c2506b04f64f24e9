"""``megawatch agent``: publish site telemetry (simulated, replayed, NVML, or polled from
dcgm-exporter, Redfish, netdev or RDMA counters).

The ``--source`` choices, the sources' options, their help and their checks come from
the registry of source kinds (:mod:`pipeline.sources.registry`); this module turns them
into click options and runs the chosen source. Importing it imports no source.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from pipeline.cli.common import settings_from
from pipeline.errors import BrokerError
from pipeline.sources.buffer import DEFAULT_CAPACITY_BYTES
from pipeline.sources.command_line import OptionLine, option_lines, refuse_misfits
from pipeline.sources.kind import Param, Printout, SourceOptionError
from pipeline.sources.registry import DEFAULT_SOURCE, SOURCE_KINDS

LINES = option_lines(list(SOURCE_KINDS.values()))


def _epilog() -> str:
    width = max(len(name) for name in SOURCE_KINDS) + 2
    sources = [f"  {name:<{width}}{kind.summary}" for name, kind in SOURCE_KINDS.items()]
    details = [f"\b\n{kind.details}\n" for kind in SOURCE_KINDS.values() if kind.details]
    examples = [
        f"  megawatch agent {example}"
        for kind in SOURCE_KINDS.values()
        for example in kind.examples
    ]
    return "\n".join(
        ["\b", "Sources (--source):", *sources, "", *details, "\b", "Examples:", *examples, ""]
    )


EPILOG = _epilog()


class _Parsed(click.ParamType):
    """A value read by the param's own ``parse`` (its ValueError is the complaint)."""

    def __init__(self, param: Param) -> None:
        self.name, self.parse = param.field, param.parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str) or self.parse is None:
            return value  # the default, already typed
        try:
            return self.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _click_type(param: Param) -> Any:
    if param.parse is not None:
        return _Parsed(param)
    if param.choices:
        return click.Choice(param.choices)
    if param.type is Path:
        return click.Path(exists=param.exists, dir_okay=False, path_type=Path)
    bounded = param.low is not None or param.high is not None
    if param.type is int and bounded:
        return click.IntRange(
            None if param.low is None else int(param.low),
            None if param.high is None else int(param.high),
        )
    if param.type is float and bounded:
        return click.FloatRange(param.low, param.high)
    return param.type


def _decorator(line: OptionLine) -> Callable[[Any], Any]:
    param = line.param
    if param.argument:
        return click.argument(param.field, required=False, type=_click_type(param))
    if param.type is bool:
        return click.option(param.flag, param.field, is_flag=True, help=line.help)
    shown = line.default not in (None, ())
    return click.option(
        param.flag,
        param.field,
        type=_click_type(param),
        multiple=param.multiple,
        default=line.default,
        show_default=shown,
        help=line.help,
    )


def source_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--source`` and every option of every kind, in the registry's order."""
    for line in reversed(LINES):
        command = _decorator(line)(command)
    return click.option(
        "--source",
        "source_name",
        type=click.Choice(list(SOURCE_KINDS)),
        default=DEFAULT_SOURCE,
        show_default=True,
        help="Where readings come from (listed below).",
    )(command)


@click.command(epilog=EPILOG)
@source_options
@click.option(
    "--duration",
    type=click.FloatRange(0, None, min_open=True),
    help="Stop after this many seconds of readings.",
)
@click.option("--ticks", "max_ticks", type=click.IntRange(1, None), help="Stop after N ticks.")
@click.option(
    "--buffer-mb",
    type=click.FloatRange(0.1, 65536),
    default=DEFAULT_CAPACITY_BYTES / 2**20,
    show_default=True,
    help="Local buffer while the broker is away; when full, the oldest messages are "
    "dropped (counted and logged).",
)
@click.option(
    "--start-broker",
    is_flag=True,
    help="Start the embedded broker if none runs (it stops with the agent).",
)
@click.pass_context
def agent(
    ctx: click.Context,
    /,
    source_name: str,
    duration: float | None,
    max_ticks: int | None,
    buffer_mb: float,
    start_broker: bool,
    **values: Any,
) -> None:
    """Publish site telemetry to Kafka: one message per site, kind and tick, keyed by site.

    Messages are batches {"events": [...]} on telemetry.rack_power, telemetry.gpu and
    telemetry.link, lz4-compressed and retried; while the broker is away they wait in a
    bounded local buffer (--buffer-mb).
    """
    from pipeline.kafka.endpoint import resolve_kafka
    from pipeline.sources.agent import AgentResult, AgentRun, kafka_publisher

    settings = settings_from()
    kind = SOURCE_KINDS[source_name]
    given = {name for name in values if ctx.get_parameter_source(name) != ParameterSource.DEFAULT}
    try:
        refuse_misfits(kind, LINES, given)
        options = kind.options_from(values)
        source = kind.build(options, settings)
    except SourceOptionError as exc:
        raise click.UsageError(str(exc)) from None
    if isinstance(source, Printout):
        click.echo(source.text, nl=False)
        return
    endpoint, broker = resolve_kafka(settings, start_if_missing=start_broker)
    try:
        publisher = kafka_publisher(settings, endpoint, buffer_bytes=int(buffer_mb * 2**20))
        run = AgentRun(
            source, publisher, paced=options.paced, duration_s=duration, max_ticks=max_ticks
        )
        _stop_on_sigterm(run.stop_event)
        result: AgentResult | None
        try:
            result = run.run()
        except KeyboardInterrupt:
            run.stop_event.set()
            result = run.result  # set by run()'s cleanup, which has flushed the buffer
        click.echo(f"agent: {result.summary() if result else 'interrupted'}", err=True)
        if result and result.undelivered:
            raise BrokerError(
                f"{result.undelivered} messages could not be delivered to "
                f"{publisher.describe}: {publisher.last_error or 'timed out'}"
            )
    finally:
        if broker is not None:
            broker.stop()


def _stop_on_sigterm(stop: Any) -> None:
    if sys.platform != "win32":
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
