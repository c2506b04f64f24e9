"""The fleet simulator (``megawatch agent --source sim``): fleets, sites, jobs, links,
scenarios and the deliberately bad messages of ``chaos``, calibrated on real traces
(:mod:`.hardware`).

:mod:`.fleet` and :mod:`.fleet_gen` (fleet files, built-in fleets), :mod:`.scenarios`,
:mod:`.simulator` (and its source), :mod:`.site_model`, :mod:`.layout`, :mod:`.jobs`,
:mod:`.link_model`, :mod:`.chaos`.
"""

__all__ = [
    "chaos",
    "fleet",
    "fleet_gen",
    "hardware",
    "jobs",
    "layout",
    "link_model",
    "scenarios",
    "simulator",
    "site_model",
    "wave_site",
    "waveform",
]
