"""Settings that cannot be right are said so (issue 24 item 4): a MEGAWATCH_* variable
that is no setting is warned about with the closest known name, once per command; two
settings (or a spec's two values) that contradict each other are refused in one line
naming both."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.core.rules.registry import registry
from pipeline.errors import ConfigError
from pipeline.settings import ORDERED_SETTINGS, env_name, load_settings, unknown_variables
from pipeline.sites import load_specs


def test_a_misspelt_variable_is_named_with_the_closest_setting(tmp_path: Path) -> None:
    environ = {"MEGAWATCH_WEBPORT": "7000", "MEGAWATCH_WEB_PORT": "7001", "PATH": "/bin"}
    dotenv = tmp_path / ".env"
    dotenv.write_text("MEGAWATCH_LOSS_WARN_WNA=1e-5\nMEGAWATCH_QQQQQQ=1\nOTHER=1\n")
    assert unknown_variables(environ, dotenv) == [
        "MEGAWATCH_WEBPORT is not a megawatch setting (did you mean MEGAWATCH_WEB_PORT?): ignored",
        f"{dotenv}: MEGAWATCH_LOSS_WARN_WNA is not a megawatch setting (did you mean "
        "MEGAWATCH_LOSS_WARN_WAN?): ignored",
        f"{dotenv}: MEGAWATCH_QQQQQQ is not a megawatch setting: ignored",
    ]
    assert unknown_variables({"MEGAWATCH_WEB_PORT": "1"}, tmp_path / "none") == []


def test_the_command_warns_once_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("MEGAWATCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MEGAWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEGAWATCH_WEBPORT", "7000")
    assert main(["store", "status"]) in (0, None)
    out, err = capsys.readouterr()
    assert err == (
        "megawatch: warning: MEGAWATCH_WEBPORT is not a megawatch setting (did you mean "
        "MEGAWATCH_WEB_PORT?): ignored\n"
    )
    assert out.startswith("store server for ")


def test_a_loss_warning_above_its_critical_level_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(loss_warn_wan=1e-3, loss_crit_wan=1e-4)
    assert str(caught.value) == (
        "contradicting settings: MEGAWATCH_LOSS_WARN_WAN=0.001 is above "
        "MEGAWATCH_LOSS_CRIT_WAN=0.0001; it must be at most that"
    )
    assert load_settings(loss_warn_wan=1e-4, loss_crit_wan=1e-4).loss_warn_wan == 1e-4


def every_pair() -> list[tuple[str, str]]:
    rules = [(low.name, high.name) for low, high in registry().ordered]
    return rules + list(ORDERED_SETTINGS)


def test_the_pairs_cover_both_link_classes_and_more() -> None:
    assert {
        ("loss_warn_fabric", "loss_crit_fabric"),
        ("loss_warn_wan", "loss_crit_wan"),
        ("stale_after_s", "forget_after_s"),
    } <= set(every_pair())


@pytest.mark.parametrize(("low", "high"), every_pair())
def test_every_declared_pair_is_refused_when_crossed(low: str, high: str) -> None:
    low_value = getattr(load_settings(), low)
    # high at half of low's default: within each one's own bounds, crossed only together
    high_value = type(low_value)(low_value / 2)
    with pytest.raises(ConfigError, match=f"{env_name(low)}=.* is above {env_name(high)}="):
        load_settings(**{high: high_value})


def test_a_site_spec_contradicting_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sites.yaml"
    path.write_text(
        "- site: atl-2\n  cap_mw: 5\n  loss_warn: {wan: 0.001}\n  loss_crit: {wan: 0.0001}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_specs(path)
    assert str(caught.value) == (
        f"{path}: site #1 (atl-2): loss_warn.wan=0.001 is above loss_crit.wan=0.0001"
    )
