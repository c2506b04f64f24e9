"""The links dashboard's link-health panels, without a store: they are there, bounded by
the dashboard's time range, and name only columns link_samples has (or their own
aliases); the integration test runs them on the embedded store."""

from __future__ import annotations

import json
import re

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from pipeline.core.rows import LINK_COLUMNS
from pipeline.dashboards.links import (
    HEALTH,
    WEAKEST_OPTICS,
    WORST_BER,
    WORST_PAUSE,
    links_dashboard,
)

HEALTH_SQL = (WORST_BER, WORST_PAUSE, WEAKEST_OPTICS, HEALTH)
COLUMN_LIKE = re.compile(r"\b(?:d|rx|tx|fec|pause|carrier|symbol|effective)_[a-z0-9_]+\b")
ALIAS = re.compile(r"\bAS\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)


def test_the_link_health_row_and_its_panels() -> None:
    board = json.loads(json.dumps(links_dashboard().build(), cls=JSONEncoder))
    titles = [panel["title"] for panel in board["panels"]]
    row = titles.index("Link health beyond loss")
    assert titles[row + 1 :] == [
        "Post-FEC BER: the 10 worst links",
        "PFC pause share: the 10 most paused links",
        "Optics: the 10 weakest rx lanes",
        "Link health, worst first: FEC, BER, flaps, pauses, optics",
    ]
    sql = [t["rawSql"] for p in board["panels"][row + 1 :] for t in p.get("targets", [])]
    assert sql == [text.strip() for text in HEALTH_SQL]


def test_health_sql_is_bounded_and_names_only_link_sample_columns() -> None:
    for text in HEALTH_SQL:
        assert "FROM link_samples" in text and "$__timeFilter(ts)" in text
        aliases = set(ALIAS.findall(text))
        unknown = set(COLUMN_LIKE.findall(text)) - set(LINK_COLUMNS) - aliases
        assert unknown == set(), unknown
