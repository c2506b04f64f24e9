"""The alert rules, one module per family; each returns the Alert events of its
transitions, evaluated by :class:`pipeline.core.site.SiteMonitor`.

* :mod:`.cap`           site power against its cap (warning and critical)
* :mod:`.cap_forecast`  the power trend projected to reach the cap within the horizon
* :mod:`.loss`          packet loss of a link over its window (fabric and WAN thresholds)
* :mod:`.idle`          GPUs drawing power while they do nothing

Every rule goes through :class:`pipeline.core.alert_book.AlertBook`, which owns the
state machine (``for``, hysteresis, fingerprints) of :mod:`pipeline.core.alert_state`.
Each module also holds the words of its alerts: short summaries an operator reads on a
phone at 3 a.m., in the units people use.
"""
