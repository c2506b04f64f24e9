"""The end of the demo: what happened, and three SQL queries a user can run next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.syntax import Syntax

from pipeline.demo.receiver import SignedWebhookReceiver
from pipeline.demo.worker_process import WorkerProcess

SINCE = "{since:DateTime64(3, 'UTC')}"


@dataclass(frozen=True)
class Example:
    title: str
    sql: str


EXAMPLES = (
    Example(
        "Peak draw against the cap, per site",
        f"""
SELECT site, round(max(total_w) / 1e6, 2) AS peak_mw,
       round(argMax(cap_w, total_w) / 1e6, 2) AS cap_mw,
       round(100 * max(total_w / cap_w), 1) AS peak_pct_of_cap
FROM site_power
WHERE ts >= {SINCE} AND cap_w IS NOT NULL
GROUP BY site ORDER BY peak_pct_of_cap DESC LIMIT 5""",
    ),
    Example(
        "Alert episodes, with how long each lasted",
        f"""
SELECT rule, severity, site, if(link = '', '-', link) AS subject,
       formatDateTime(min(starts_at), '%T') AS started,
       ifNull(toString(dateDiff('second', min(starts_at),
                                maxIf(ends_at, status = 'resolved'))),
              'firing') AS lasted_s
FROM alerts FINAL
WHERE ingested_at >= {SINCE}
GROUP BY fingerprint, rule, severity, site, subject ORDER BY started""",
    ),
    Example(
        "WAN links by packet loss",
        f"""
SELECT site, peer_site, link, sum(d_tx) AS sent, sum(d_dropped) AS dropped,
       round(100 * sum(d_dropped) / greatest(sum(d_tx), 1), 4) AS loss_pct
FROM link_samples
WHERE link_class = 'wan' AND ingested_at >= {SINCE}
GROUP BY site, peer_site, link ORDER BY loss_pct DESC LIMIT 5""",
    ),
)

SUMMARY_SQL = f"""
SELECT
  (SELECT count() FROM rack_power WHERE ingested_at >= {SINCE}) AS rack_readings,
  (SELECT count() FROM gpu_samples WHERE ingested_at >= {SINCE}) AS gpu_readings,
  (SELECT count() FROM link_samples WHERE ingested_at >= {SINCE}) AS link_readings,
  (SELECT count() FROM alerts FINAL WHERE ingested_at >= {SINCE} AND status = 'firing')
      AS alerts_fired,
  (SELECT count() FROM alert_deliveries WHERE at >= {SINCE} AND outcome = 'delivered')
      AS deliveries,
  (SELECT count() FROM dead_letters WHERE received_at >= {SINCE}) AS dead_letters"""


def sql_hint(since: str) -> str:
    """How to run the examples, in one line that an 80-column terminal does not wrap."""
    return f"run one with: megawatch sql \"<query>\" -p since='{since}'"


def since_param(started: datetime) -> dict[str, Any]:
    return {"since": started.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}


def print_summary(
    console: Console, worker: WorkerProcess, receiver: SignedWebhookReceiver, started: datetime
) -> dict[str, Any]:
    row = worker.sql(SUMMARY_SQL, since_param(started))[0]
    alerts, rejected, duplicates = receiver.received.snapshot()
    readings = row["rack_readings"] + row["gpu_readings"] + row["link_readings"]
    firing = sum(1 for a in alerts if a.get("status") == "firing")
    console.rule("[bold]summary")
    console.print(
        f"readings stored      {readings:>10,}  (rack {row['rack_readings']:,}, "
        f"GPU {row['gpu_readings']:,}, link {row['link_readings']:,})"
    )
    console.print(
        f"alerts fired         {row['alerts_fired']:>10,}  "
        f"({firing} firing and {len(alerts) - firing} resolved at the webhook)"
    )
    console.print(
        f"delivery attempts ok {row['deliveries']:>10,}  "
        f"(signatures rejected: {rejected}, duplicates ignored: {duplicates})"
    )
    console.print(
        f"dead letters         {row['dead_letters']:>10,}  (bad input, kept with reasons)"
    )
    return {**row, "received": len(alerts), "rejected": rejected}


def print_examples(
    console: Console, worker: WorkerProcess, started: datetime, examples: tuple[Example, ...]
) -> None:
    import pandas as pd

    from pipeline.analytics.render import render_frame

    since = since_param(started)["since"]
    console.rule("[bold]try these in SQL")
    console.print(sql_hint(since), markup=False, soft_wrap=True)
    for example in examples:
        console.print(f"[bold]{example.title}")
        console.print(Syntax(example.sql.strip(), "sql", theme="ansi_dark", word_wrap=True))
        rows = worker.sql(example.sql, since_param(started))
        console.print(render_frame(pd.DataFrame(rows), "table") if rows else "(no rows)")
        console.print("")
