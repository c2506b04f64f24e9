"""The rule registry: what the rule modules declare is what the settings, the site spec,
the policies and the site monitor use (every parameter, every spec field, every scope)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.core.alert_book import AlertBook
from pipeline.core.decode import describe_validation_error
from pipeline.core.energy.book import EnergyBook
from pipeline.core.policy import RuleConfig, SitePolicy
from pipeline.core.rules.cap import evaluate_cap
from pipeline.core.rules.cap_forecast import evaluate_forecast
from pipeline.core.rules.common import MIN_COVERAGE
from pipeline.core.rules.coverage import evaluate_coverage
from pipeline.core.rules.registry import Param, Registry, Rule, registry
from pipeline.core.rules.scopes import (
    DEMAND_RESPONSE,
    DOMAIN_PRIORITIES,
    LINK_HEALTH,
    LINK_SAMPLES,
    LINK_TICK,
    POWER,
    RACK_GPUS,
    REGION_DROPS,
    WAVE,
)
from pipeline.core.site import SiteMonitor
from pipeline.core.site_stage import SiteStage
from pipeline.core.wave.region import RegionStage
from pipeline.core.wave.stage import WaveConfig, WaveStage
from pipeline.errors import ConfigError
from pipeline.events import SiteSpec
from pipeline.settings import Settings, load_settings

PARAMS = registry().params
SPEC_PARAMS = registry().spec_params


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("MEGAWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def inside(param: Param[Any]) -> float:
    """A valid value other than the default: halfway to the upper bound, or twice it."""
    top = param.bounds.get("lt", param.bounds.get("le"))
    if top is not None:
        return param.kind((param.default + top) / 2)
    return param.kind(param.default * 2 if param.default else 1)


def outside(param: Param[Any]) -> float:
    """A value just past one of the parameter's bounds."""
    b = param.bounds
    if "gt" in b:
        return b["gt"]
    if "ge" in b:
        return b["ge"] - 1
    return b.get("lt", b.get("le", 0)) + 1


def test_the_registry_holds_every_alert_the_pipeline_emits() -> None:
    alerts = {alert for rule in registry().rules for alert in rule.alerts}
    assert alerts >= {
        "cap_warning",
        "cap_critical",
        "cap_forecast",
        "telemetry_missing",
        "link_telemetry_missing",
        "link_loss_fabric",
        "link_loss_wan",
        "idle_power",
    }
    assert all(p.bounds for p in PARAMS), "every parameter is bounded"


def test_a_name_declared_twice_is_refused() -> None:
    first = Param("cap_for_s", 1.0, "doc", "s", ge=0)
    twice = Param("cap_for_s", 2.0, "doc", "s", ge=0)
    rule = Rule("x", ("x_alert",), POWER, lambda *_: [], "doc", (twice,))
    with pytest.raises(ValueError, match="rule parameter cap_for_s is declared twice"):
        Registry((rule,), (first,)).check()
    other = Rule("y", ("x_alert",), POWER, lambda *_: [], "doc")
    with pytest.raises(ValueError, match="alert x_alert is declared twice"):
        Registry((rule, other), ()).check()


@pytest.mark.parametrize("param", PARAMS, ids=lambda p: p.name)
def test_each_parameter_is_a_setting_with_its_default(
    param: Param[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().rule(param) == param.default
    assert RuleConfig()[param] == param.default
    monkeypatch.setenv(f"MEGAWATCH_{param.name.upper()}", str(inside(param)))
    for low, high in registry().ordered:  # keep a declared pair in order
        if low is param and inside(param) > high.default:
            monkeypatch.setenv(f"MEGAWATCH_{high.name.upper()}", str(inside(param)))
    settings = load_settings()
    assert settings.rule(param) == inside(param)
    assert RuleConfig(**settings.rule_values())[param] == inside(param)


@pytest.mark.parametrize("param", PARAMS, ids=lambda p: p.name)
def test_a_setting_out_of_bounds_is_one_line_naming_the_variable(
    param: Param[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"MEGAWATCH_{param.name.upper()}", str(outside(param)))
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert text.startswith(f"invalid setting: MEGAWATCH_{param.name.upper()}: Input should be")
    assert "\n" not in text


@pytest.mark.parametrize("param", SPEC_PARAMS, ids=lambda p: p.name)
def test_a_site_spec_overrides_the_setting_for_its_site_only(param: Param[Any]) -> None:
    config = RuleConfig()
    spec = SiteSpec.model_validate({"site": "a", "cap_mw": 5, **nested(param, inside(param))})
    assert param.spec_value(spec) == inside(param)
    assert SitePolicy.of("a", spec, config)[param] == inside(param)
    bare = SiteSpec(site="b", cap_mw=5)
    assert param.spec_value(bare) is None
    assert SitePolicy.of("b", bare, config)[param] == param.default
    assert SitePolicy.of("c", None, RuleConfig(**{param.name: inside(param)}))[param] == inside(
        param
    )
    assert (param.spec or "").partition(".")[0] in SiteSpec.model_json_schema()["properties"]


@pytest.mark.parametrize("param", SPEC_PARAMS, ids=lambda p: p.name)
def test_a_spec_value_out_of_bounds_names_the_field(param: Param[Any]) -> None:
    with pytest.raises(ValidationError) as info:
        SiteSpec.model_validate({"site": "a", "cap_mw": 5, **nested(param, outside(param))})
    assert describe_validation_error(info.value).startswith(f"{param.spec}: Input should be")


def test_a_spec_with_an_unknown_key_or_field_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        SiteSpec.model_validate({"site": "a", "cap_mw": 5, "loss_warn": {"lan": 1e-3}})
    assert describe_validation_error(info.value).startswith(
        "loss_warn.lan: Extra inputs are not permitted"
    )
    with pytest.raises(ValidationError):
        SiteSpec.model_validate({"site": "a", "cap_mw": 5, "stale_hold": 60})


def test_spec_fields_round_trip_as_published() -> None:
    spec = SiteSpec(site="a", cap_mw=5, stale_hold_s=60, loss_crit={"wan": 1e-3})
    text = spec.model_dump_json(exclude_none=True)
    assert '"stale_hold_s":60.0' in text and '"loss_crit":{"wan":0.001}' in text
    assert SiteSpec.model_validate_json(text) == spec
    assert "stale_hold_s=60.0" in repr(spec)


def test_derived_values_are_made_once_per_policy_and_anew_for_a_new_spec() -> None:
    made: list[float] = []

    def doubled(policy: SitePolicy) -> float:
        made.append(policy[MIN_COVERAGE])
        return policy[MIN_COVERAGE] * 2

    policy = SitePolicy.of("a", SiteSpec(site="a", cap_mw=1, min_coverage=0.4), RuleConfig())
    assert policy.derived(doubled) == policy.derived(doubled) == 0.8 and made == [0.4]
    changed = SitePolicy.of("a", SiteSpec(site="a", cap_mw=1, min_coverage=0.3), RuleConfig())
    assert changed.derived(doubled) == 0.6 and made == [0.4, 0.3]


def test_unknown_rule_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rule parameter: cap_for"):
        RuleConfig(cap_for=1)


def test_the_monitor_and_site_stage_run_the_rules_of_each_scope() -> None:
    """The power rules run at the site stage (site and domains, from every shard's sums),
    the link and GPU rules with the racks and links, on the key's monitor."""
    monitor = SiteMonitor("a", RuleConfig(), 0, None)
    stage = SiteStage("a", RuleConfig(), 0, monitor.alerts)
    rules = registry()
    assert stage.power_rules == rules.rules_of(POWER)
    # in module order: the cap before its forecast, then telemetry
    order = [stage.power_rules.index(f) for f in (evaluate_cap, evaluate_forecast)]
    assert order == sorted(order) and evaluate_coverage in stage.power_rules
    assert monitor.link_rules == rules.rules_of(LINK_SAMPLES)
    assert monitor.link_tick_rules == rules.rules_of(LINK_TICK)
    assert monitor.link_health_rules == rules.rules_of(LINK_HEALTH)
    assert monitor.gpu_rules == rules.rules_of(RACK_GPUS)
    every = {*stage.power_rules, *monitor.link_rules, *monitor.link_tick_rules}
    every |= set(monitor.link_health_rules)
    # the energy book runs the domain-priority scope on the key's tick (priority_inversion)
    energy = EnergyBook().rules
    assert energy == rules.rules_of(DOMAIN_PRIORITIES) and energy
    every |= set(monitor.gpu_rules) | set(energy)
    # the wave stream's site stage, regions and DR measurement run theirs
    wave = WaveStage("a", WaveConfig(), monitor.alerts)
    region = RegionStage("r", WaveConfig(), AlertBook("r"))
    assert wave.rules == rules.rules_of(WAVE) and region.rules == rules.rules_of(REGION_DROPS)
    assert wave.dr.rules == rules.rules_of(DEMAND_RESPONSE) and wave.dr.rules
    every |= {*wave.rules, *region.rules, *wave.dr.rules}
    assert every == {rule.evaluate for rule in rules.rules}


def nested(param: Param[Any], value: float) -> dict[str, Any]:
    """``{"loss_warn": {"fabric": value}}`` for ``loss_warn.fabric``; flat otherwise."""
    field, _, key = (param.spec or "").partition(".")
    return {field: {key: value}} if key else {field: value}
