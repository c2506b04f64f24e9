"""A broken YAML file is named with its line and column, whichever loader reads it: site
specs, fleet files, map files, the receivers file (issue 24 item 4)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ConfigError
from pipeline.notify.receivers import load_receivers_file
from pipeline.sites import load_specs
from pipeline.sources.mapping import load_mapping
from pipeline.sources.sim.fleet import load_fleet

# The flow mapping on line 3 lacks a comma before "cap_mw": "train-ams-1 cap_mw" reads as
# one value, so the parser stops at the colon after it, column 32 (4 spaces, "- {",
# "site: " and the 18 characters of that value come before it).
BROKEN = "sites:\n  # the fleet\n    - {site: train-ams-1 cap_mw: 5}\n"
LINE, COLUMN = 3, 4 + 3 + 6 + len("train-ams-1 cap_mw") + 1

LOADERS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "sites apply": (load_specs, ""),
    "fleet file": (load_fleet, "fleet file "),
    "--map": (load_mapping, "--map "),
    "receivers file": (load_receivers_file, "MEGAWATCH_RECEIVERS_FILE="),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_yaml_errors_name_file_line_and_column(tmp_path: Path, loader: str) -> None:
    load, label = LOADERS[loader]
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    assert BROKEN.splitlines()[LINE - 1][COLUMN - 1 :] == ": 5}"
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{label}{path}, line {LINE}, column {COLUMN}: not valid YAML: ")
    assert "expected ',' or '}'" in message and "(while parsing a flow mapping)" in message
    assert "\n" not in message
