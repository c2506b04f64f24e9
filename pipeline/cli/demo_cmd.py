"""``megawatch demo``: see the whole pipeline work, with nothing configured."""

from __future__ import annotations

import click

from pipeline.cli.common import settings_from
from pipeline.demo.options import DEMO_DURATION_S, DemoOptions

# DemoOptions' fields hold their defaults as class attributes (a frozen dataclass)


def _duration(value: float) -> float | None:
    if value == 0:
        return None  # until Ctrl-C
    if value < 10:
        raise click.BadParameter("at least 10 s (or 0: until Ctrl-C)", param_hint="--duration")
    return value


@click.command()
@click.option(
    "--duration",
    type=float,
    default=DEMO_DURATION_S,
    show_default=True,
    callback=lambda _ctx, _param, value: _duration(value),
    help="Seconds to run (at least 10; 0: until Ctrl-C). Ctrl-C ends it sooner, with its summary.",
)
@click.option(
    "--sites",
    type=click.IntRange(2, 100),
    default=DemoOptions.sites,
    show_default=True,
    help="Simulated sites.",
)
@click.option(
    "--seed", type=int, default=DemoOptions.seed, show_default=True, help="Simulator seed."
)
@click.option(
    "--breach-after",
    type=click.FloatRange(min=0),
    default=DemoOptions.breach_after_s,
    show_default=True,
    help="Seconds until a site ramps over its cap and a WAN link starts dropping.",
)
@click.option(
    "--live/--no-live",
    default=None,
    help="Live terminal view (default: when stdout is a terminal).",
)
def demo(
    duration: float | None, sites: int, seed: int, breach_after: float, live: bool | None
) -> None:
    """Run broker, store, worker, notifier, a webhook receiver and a simulated fleet for
    --duration seconds.

    Starts the embedded broker (or uses MEGAWATCH_KAFKA_BOOTSTRAP), migrates the store
    (MEGAWATCH_CLICKHOUSE_DSN, default the embedded chDB in MEGAWATCH_DATA_DIR), starts a
    worker with the notifier, a local webhook receiver that verifies signatures, and a
    fleet of simulated sites: one ramps over its megawatt cap and one WAN link starts
    dropping packets. Shows each site against its cap live, then a summary and three SQL
    queries. Everything it started is stopped at the end; the data stays in the store
    for `megawatch sql`, `query`, `report` and `digest`.
    """
    from rich.console import Console

    from pipeline.demo.runner import Demo
    from pipeline.demo.terminal import terminal_foreground

    options = DemoOptions(
        duration_s=duration, sites=sites, seed=seed, breach_after_s=breach_after, live=live
    )
    with terminal_foreground():  # Ctrl-C under `make demo` reaches the demo alone
        Demo(settings_from(), options, Console()).run()
