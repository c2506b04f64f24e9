"""The alert rules, one module per rule (or small family), and their registry.

Each rule module declares its rules (``RULES``: the alerts they emit, their scope, their
parameters with defaults and bounds) next to the code that steps them; shared
parameters are declared in :mod:`.common`. :func:`registry` finds every module of this
package, so adding a rule is adding a module: settings, site-spec fields, the docs
tables and the site monitor's rule lists all follow from the declarations.

* :mod:`.registry`   what a declaration is (:class:`Param`, :class:`Rule`); discovery
* :mod:`.scopes`     what a rule reads and when it runs (site power, links, GPUs)
* :mod:`.fields`     the parameters as pydantic fields (settings, site spec)
* :mod:`.reference`  the docs tables, rendered from the declarations

Every rule goes through :class:`pipeline.core.alert_book.AlertBook`, which owns the
state machine (``for``, hysteresis, fingerprints) of :mod:`pipeline.core.alert_state`.
Each module also holds the words of its alerts: short summaries an operator reads on a
phone at 3 a.m., in the units people use.
"""

from pipeline.core.rules.registry import Param, Rule, registry

__all__ = ["Param", "Rule", "registry"]
