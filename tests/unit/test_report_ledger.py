"""The ledger's bars draw what is true: a site over its cap ends at its power, not at
power + overshoot; one under its cap ends at the cap."""

from __future__ import annotations

import pandas as pd

from pipeline.analytics.report_charts import ledger_bars, rank_by_share


def test_over_cap_is_not_stacked_on_top_of_now() -> None:
    sites = pd.DataFrame(
        {
            "site": ["over", "under", "uncapped"],
            "now_mw": [5.3, 3.2, 2.0],
            "cap_mw": [5.0, 4.0, None],
            "pct_of_cap": [106.0, 80.0, None],
        }
    )
    bars = ledger_bars(sites)
    ends = bars.sum(axis=1).round(3).tolist()
    assert ends == [5.3, 4.0, 2.0]  # was 5.8 for the 5.3 MW site on a 5 MW cap
    assert bars.loc[0].tolist() == [5.0, 0.0, 0.3]
    assert bars.loc[1].tolist() == [3.2, 0.8, 0.0]
    assert bars.loc[2].tolist() == [2.0, 0.0, 0.0]
    assert rank_by_share(sites)["site"].tolist() == ["over", "under", "uncapped"]
