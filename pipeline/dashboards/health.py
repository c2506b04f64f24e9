"""Pipeline health: what the workers and the notifier export to Prometheus, and the
dead letters and delivery attempts kept in ClickHouse."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from pipeline.dashboards.panels import board, figure, grid, row, series
from pipeline.dashboards.sources import SQL, promql

DEAD_LETTERS = """
SELECT topic, reason_code, count() AS dead_letters, max(received_at) AS last_at,
       argMax(reason, received_at) AS latest_reason
FROM dead_letters
WHERE $__timeFilter(received_at)
GROUP BY topic, reason_code
ORDER BY dead_letters DESC
"""

DELIVERIES = """
SELECT receiver, outcome, count() AS attempts, uniqExact(fingerprint, seq) AS alerts,
       round(avg(latency_ms), 1) AS avg_latency_ms, argMax(error, at) AS latest_error
FROM alert_deliveries
WHERE $__timeFilter(at)
GROUP BY receiver, outcome
ORDER BY receiver, outcome
"""


def health_dashboard() -> dashboard.Dashboard:
    rate = "[$__rate_interval]"
    latency = f"sum by (le) (rate(megawatch_sink_insert_seconds_bucket{rate}))"
    return (
        board(
            "megawatch-pipeline",
            "megawatch: pipeline health",
            "The pipeline's own figures: throughput, lag, dead letters, the store, deliveries.",
        )
        .with_row(row("Workers"))
        .with_panel(
            figure("Workers up", promql('sum(up{job="megawatch-worker"})', "workers"), "none")
        )
        .with_panel(
            figure("Notifier up", promql('sum(up{job="megawatch-notifier"})', "notifier"), "none")
        )
        .with_panel(figure("Sites tracked", promql("sum(megawatch_sites)", "sites"), "none"))
        .with_panel(
            figure("Sites warming up", promql("sum(megawatch_sites_warming)", "warming"), "none")
        )
        .with_panel(
            series(
                "Readings per second",
                [promql(f"sum by (topic) (rate(megawatch_readings_total{rate}))", "{{topic}}")],
                "ops",
            )
        )
        .with_panel(
            series(
                "Consumer lag",
                [promql("sum by (topic) (megawatch_consumer_lag)", "{{topic}}")],
                "short",
            )
        )
        .with_panel(
            series(
                "Dead letters per second",
                [
                    promql(
                        f"sum by (topic, reason) (rate(megawatch_dead_letters_total{rate}))",
                        "{{topic}} {{reason}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            series(
                "Offset gaps and replayed messages",
                [
                    promql(
                        f"sum by (topic) (increase(megawatch_offset_gaps_total{rate}))",
                        "gaps {{topic}}",
                    ),
                    promql(
                        f"sum by (topic) (increase(megawatch_replayed_messages_total{rate}))",
                        "replayed {{topic}}",
                        "B",
                    ),
                ],
                "short",
            )
        )
        .with_row(row("Store"))
        .with_panel(
            series(
                "Insert latency (p50, p95)",
                [
                    promql(f"histogram_quantile(0.5, {latency})", "p50"),
                    promql(f"histogram_quantile(0.95, {latency})", "p95", "B"),
                ],
                "s",
            )
        )
        .with_panel(
            series(
                "Sink state",
                [
                    promql("max(megawatch_sink_failing)", "failing"),
                    promql("max(megawatch_sink_backpressure)", "back-pressure", "B"),
                    promql(
                        f"sum(increase(megawatch_sink_failures_total{rate}))", "failed inserts", "C"
                    ),
                    # pauses of a second or two fall between scrapes of the gauge
                    promql(
                        f"max(rate(megawatch_sink_backpressure_seconds_total{rate}))",
                        "share of time paused for the store",
                        "D",
                    ),
                ],
                "short",
            )
        )
        .with_panel(
            series(
                "Rows stored per second",
                [promql(f"sum by (table) (rate(megawatch_sink_rows_total{rate}))", "{{table}}")],
                "ops",
            )
        )
        .with_panel(grid("Dead letters by reason", SQL(DEAD_LETTERS), width=12, height=8))
        .with_row(row("Deliveries"))
        .with_panel(
            series(
                "Delivery attempts by outcome",
                [
                    promql(
                        f"sum by (outcome) (increase(megawatch_deliveries_total{rate}))",
                        "{{outcome}}",
                    )
                ],
                "short",
            )
        )
        .with_panel(
            series(
                "Waiting notifications",
                [promql("sum by (receiver) (megawatch_delivery_backlog)", "{{receiver}}")],
                "short",
            )
        )
        .with_panel(
            grid("Delivery attempts (alert_deliveries)", SQL(DELIVERIES), width=24, height=8)
        )
    )
