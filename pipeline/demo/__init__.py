"""``megawatch demo``: the whole pipeline on one machine, with nothing configured."""
