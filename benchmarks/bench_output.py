"""Where the benchmarks write their figures, and the one way they write them.

``benchmarks/results/`` next to this file, whatever the working directory, created
before the first write (a fresh clone has no such folder: a benchmark must never measure
for minutes and then fail writing). ``--smoke`` is every benchmark's smallest run:
seconds instead of minutes, every step taken and the result written, its figures
meaningless (tests/integration/test_benchmarks_smoke.py runs each one so).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SMOKE_HELP = "the smallest run (seconds): every step, figures meaningless; for tests"


def result_path(name: str) -> Path:
    """``benchmarks/results/<name>`` (not created yet: :func:`write_json` does)."""
    return RESULTS / name


def write_json(path: Path, data: Any) -> Path:
    """``data`` as indented JSON at ``path``, its folder created first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def add_smoke(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)


def smallest(args: argparse.Namespace, **sizes: Any) -> argparse.Namespace:
    """``args`` with ``sizes`` in place when ``--smoke`` was given."""
    if getattr(args, "smoke", False):
        for name, value in sizes.items():
            setattr(args, name, value)
    return args
