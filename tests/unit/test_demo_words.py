"""The words agree (issue 24 item 6 and 9): one demo duration in the code, the README's
excerpt and step-by-step and `make demo`; start-up messages suggest what works; the
demo's closing lines fit 80 columns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.cli import COMMANDS
from pipeline.cli.broker_cmd import _print_banner
from pipeline.cli.demo_cmd import demo
from pipeline.demo.options import DEMO_DURATION_S, DemoOptions
from pipeline.demo.summary import EXAMPLES, sql_hint

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def test_the_readme_excerpt_shows_the_default_run() -> None:
    header = re.search(r"^megawatch demo: (\d+) sites, (\d+) s of (\d+) s, ", README, re.M)
    assert header, "the README's excerpt has no header line of the live view"
    sites, elapsed, duration = (int(g) for g in header.groups())
    assert (sites, duration) == (DemoOptions.sites, DEMO_DURATION_S)
    assert elapsed <= duration


def test_every_demo_command_runs_the_default_duration() -> None:
    """The README's step-by-step, `make demo` and the docs say the same length: the
    default, or nothing (then the default holds)."""
    texts = {"README.md": README, "Makefile": MAKEFILE}
    texts |= {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "docs").glob("*.md")}
    runs = [
        (name, line)
        for name, text in texts.items()
        for line in text.splitlines()
        if re.search(r"megawatch demo\b", line) and not line.lstrip().startswith("#")
    ]
    assert any(name == "Makefile" for name, _ in runs)
    for name, line in runs:
        given = re.search(r"--duration[ =](\S+)", line)
        assert given is None or float(given.group(1)) == DEMO_DURATION_S, (name, line)
    assert f"runs for {DEMO_DURATION_S:.0f} s" in README
    assert demo.params[0].name == "duration" and demo.params[0].default == DEMO_DURATION_S


def test_make_demo_promises_only_what_happens() -> None:
    """Ctrl-C under make: the demo owns the terminal's foreground and make exits 0 with
    it (tests/integration/test_demo_make_ctrl_c.py): make prints no Interrupt."""
    comment = MAKEFILE[: MAKEFILE.index("\ndemo:")].rsplit("\n\n", 1)[-1]
    assert "exit 0" in comment and "interrupt" in comment.lower()
    assert "reports the" not in comment  # it used to promise make's "Interrupt" message


def test_the_broker_suggests_megawatch_publish(capsys: pytest.CaptureFixture[str]) -> None:
    """kcat fails against the embedded broker (docs/feeding.md): the banner suggests what
    works."""
    _print_banner("127.0.0.1:19092", "c1", "/data", "/data/broker.log")
    out = capsys.readouterr().out
    assert "kcat -b" not in out
    suggested = re.search(r"megawatch (\w+) TOPIC --key SITE", out)
    assert suggested and suggested.group(1) in COMMANDS


def test_the_closing_sql_lines_fit_80_columns() -> None:
    assert len(sql_hint("2026-11-29 15:05:31.123")) <= 80
    for example in EXAMPLES:
        assert max(len(line) for line in example.sql.splitlines()) <= 80, example.title
    episodes = next(e for e in EXAMPLES if e.title.startswith("Alert episodes"))
    assert re.search(r"SELECT rule, severity,", episodes.sql)
