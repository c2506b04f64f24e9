"""``megawatch demo``: the whole pipeline on one machine, with nothing configured.

:mod:`.runner` starts and stops it all; :mod:`.worker_process` the worker child,
:mod:`.receiver` the signed-webhook receiver, :mod:`.view` the live terminal view,
:mod:`.terminal` Ctrl-C handling, :mod:`.summary` the closing summary, :mod:`.options`
the options and their defaults (the run's length, :data:`.options.DEMO_DURATION_S`).
"""

__all__ = [
    "options",
    "receiver",
    "runner",
    "summary",
    "terminal",
    "view",
    "worker_process",
]
