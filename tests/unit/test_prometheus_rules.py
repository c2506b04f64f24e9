"""deploy/prometheus: the config and rules pass promtool, the rules' unit tests pass, and
every megawatch metric they (and the Grafana dashboards) name is one the code exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from pipeline.worker.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
METRIC = re.compile(r"\bmegawatch_[a-z_]+\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: `make test-deps` installs Debian's prometheus")
    return subprocess.run(
        [tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )


def test_rules_and_config_pass_promtool_check() -> None:
    rules = promtool("check", "rules", "rules/megawatch.rules.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_rule_unit_tests_pass() -> None:
    run = promtool("test", "rules", "tests/megawatch.test.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_a_broken_expectation_fails_the_rule_tests(tmp_path: Path) -> None:
    """The rule tests can fail: the same tests with a wrong expected lag do."""
    broken = (PROMETHEUS / "tests" / "megawatch.test.yml").read_text()
    broken = broken.replace("value: 11000", "value: 11001")
    (tmp_path / "broken.test.yml").write_text(
        broken.replace("../rules/", f"{PROMETHEUS / 'rules'}/")
    )
    run = promtool("test", "rules", str(tmp_path / "broken.test.yml"))
    assert run.returncode != 0


def exported_names() -> set[str]:
    """Every series name a worker's /metrics shows, with the scrape-time ones filled."""
    metrics = Metrics()
    for metric in vars(metrics).values():  # a labelled series shows once it has labels
        labelnames = getattr(metric, "_labelnames", ())
        if labelnames:
            metric.labels(*["x"] * len(labelnames))
    metrics.live.lag = lambda: {("telemetry.rack_power", 0): 1}
    metrics.live.deliveries = lambda: {"receivers": {"w": {"backlog": 1, "gave_up": 1}}}
    text = generate_latest(metrics.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def named_metrics(text: str) -> set[str]:
    return {
        name
        for name in METRIC.findall(text)
        if not name.startswith(("megawatch_worker", "megawatch_notifier"))  # job names
    }


def test_rules_name_only_metrics_the_code_exports() -> None:
    used = named_metrics((PROMETHEUS / "rules" / "megawatch.rules.yml").read_text())
    assert used, "no megawatch metric in the rules"
    assert used - exported_names() == set()


def test_dashboards_name_only_metrics_the_code_exports() -> None:
    used: set[str] = set()
    for path in DASHBOARDS.glob("*.json"):
        for target in _targets(json.loads(path.read_text())):
            used |= named_metrics(str(target.get("expr", "")))
    assert used, "no Prometheus panel in the dashboards"
    assert used - exported_names() == set()


def _targets(dashboard: dict[str, object]) -> list[dict[str, object]]:
    panels = list(dashboard.get("panels", []))  # type: ignore[call-overload]
    for panel in list(panels):
        panels.extend(panel.get("panels", []))
    return [t for p in panels for t in p.get("targets", [])]
