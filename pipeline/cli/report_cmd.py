"""``megawatch report [--site S] [--since 24h] --out report.html [--png chart.png]``: charts
people would rather look at than read, in one self-contained HTML file (plotly.js inlined).

``--png`` also writes one chart (by default the site power one) as a PNG image, with
plotly's exporter kaleido, which drives a local Chrome or Chromium (no network needed):
``pip install 'megawatch[png]'`` and e.g. ``apt-get install chromium``.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.alerts_cmd import parse_duration
from pipeline.cli.common import settings_from
from pipeline.errors import ConfigError


@click.command()
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="HTML file to write.",
)
@click.option("--since", default="24h", show_default=True, help="Window: 6h, 24h, 7d...")
@click.option(
    "--until", "until_text", default=None, help="End of the window, ISO-8601 UTC (default: now)."
)
@click.option("--site", default=None, help="One site only (default: the whole fleet).")
@click.option(
    "--page",
    "page_name",
    type=click.Choice(["fleet", "energy", "dynamics"]),
    default="fleet",
    show_default=True,
    help="fleet: power, caps, links, GPUs; energy: jobs, tenants, PUE, capped time, headroom; "
    "dynamics: demand response verified, ramps, oscillation, fleet incidents.",
)
@click.option(
    "--png",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write one chart as a PNG image (needs kaleido and Chromium).",
)
@click.option(
    "--png-chart",
    type=click.Choice(
        ["ledger", "heatmap", "power", "loss", "gpus", "jobs", "pue", "headroom", "dr", "ramps"]
    ),
    default=None,
    help="The chart --png writes (default: power; jobs on the energy page; dr on dynamics).",
)
def report(
    out: Path,
    since: str,
    until_text: str | None,
    site: str | None,
    page_name: str,
    png: Path | None,
    png_chart: str | None,
) -> None:
    """Write an HTML report: site power against cap with alert episodes, the fleet MW
    ledger, WAN loss per link over time, GPU utilization against power.

    \b
    Examples:
      megawatch report --out report.html
      megawatch report --site train-ams-1 --since 7d --out ams-1.html
      megawatch report --page energy --since 7d --out energy.html
      megawatch report --page dynamics --since 7d --out dr.html
    """
    from pipeline.analytics.names import check_name, known_names
    from pipeline.analytics.report import build_sections, read_report_data, render_html
    from pipeline.cli.digest_cmd import parse_until
    from pipeline.store.named import query_target

    settings = settings_from()
    window = (parse_duration(since), parse_until(until_text), site)
    with query_target(settings) as target:
        if site:
            check_name("site", site, known_names(target, "site"), "--site")
        if page_name == "energy":
            from pipeline.analytics.report_energy import energy_sections, read_energy_data

            data = read_energy_data(target, *window)
            sections = energy_sections(data)
        elif page_name == "dynamics":
            from pipeline.analytics.report_dynamics import dynamics_sections, read_dynamics_data

            data = read_dynamics_data(target, *window)
            sections = dynamics_sections(data)
        else:
            data = read_report_data(target, *window)
            sections = build_sections(data)
    page = render_html(data, sections)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write ({exc.strerror})") from None
    charts = page.count('class="plotly-graph-div"')
    click.echo(
        f"wrote {out} ({len(page) / 1e6:.1f} MB, {charts} charts, "
        f"{data.start:%Y-%m-%d %H:%M} - {data.end:%Y-%m-%d %H:%M} UTC)"
    )
    if png is not None:
        from pipeline.analytics.report import write_png

        key = png_chart or {"energy": "jobs", "dynamics": "dr"}.get(page_name, "power")
        chart = next((section for section in sections if section.key == key), None)
        if chart is None:
            raise ConfigError(f"--png-chart {key}: not a chart of the {page_name} page")
        write_png(chart.figure, png)
        click.echo(f"wrote {png} ({chart.title})")
