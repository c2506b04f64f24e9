"""The fleet simulator (``megawatch agent --source sim``): fleets, sites, jobs, links,
scenarios and the deliberately bad messages of ``chaos``, calibrated on real traces
(:mod:`.hardware`)."""
