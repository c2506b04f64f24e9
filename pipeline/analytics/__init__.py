"""Analytics for people: named-query results as an HTML report and a daily digest.

* :mod:`.ranking`, :mod:`.findings`, :mod:`.findings_pipeline`, :mod:`.digest_coverage`,
  :mod:`.findings_energy`, :mod:`.findings_waves`, :mod:`.digest`, :mod:`.time_words`: the
  digest's rules and
  words (pure, table-tested: nothing of ClickHouse or HTTP);
* :mod:`.digest_data`: reads the digest's inputs with the named queries;
* :mod:`.digest_send`: delivers a digest through the configured receivers, signed like
  alerts; :mod:`.schedule`: the worker's daily digest (``MEGAWATCH_DIGEST_SCHEDULE_UTC``);
* :mod:`.report`, :mod:`.report_charts`, :mod:`.report_fleet`, :mod:`.report_energy`,
  :mod:`.report_dynamics`: the self-contained HTML report (plotly; the fleet page, the
  energy page and the power-dynamics page);
  :mod:`.render`: query results as a table, CSV or JSON;
* :mod:`.headroom`: ``megawatch headroom``, the advisor on a domain's history;
* :mod:`.site_list`: the sites an operator sees (specs, and sites sending without one);
  :mod:`.names`: the sites, regions, links and rules a command is given, checked against
  what exists; :mod:`.conditions`: one line per condition where alerts are read (a
  critical alert supersedes its own warning), each with its key figure.

Named queries themselves are :func:`pipeline.store.named_query`.
"""

__all__ = [
    "conditions",
    "digest",
    "digest_coverage",
    "digest_data",
    "digest_send",
    "findings",
    "findings_energy",
    "findings_pipeline",
    "findings_waves",
    "headroom",
    "names",
    "ranking",
    "render",
    "report",
    "report_charts",
    "report_dynamics",
    "report_energy",
    "report_fleet",
    "schedule",
    "site_list",
    "time_words",
]
