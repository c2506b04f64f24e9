"""docker-compose.yml stays consistent with the code (CI cannot start Docker here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.cli import COMMANDS
from pipeline.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
MEGAWATCH = {name: s for name, s in SERVICES.items() if s.get("image", "").startswith("megawatch")}


def test_every_megawatch_variable_is_a_setting() -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    used = {
        var
        for s in SERVICES.values()
        for var in (s.get("environment") or {})
        if var.startswith(ENV_PREFIX)
    }
    assert used, "the compose file sets no MEGAWATCH_ variable"
    assert used - known == set()


def test_settings_values_parse() -> None:
    for service in MEGAWATCH.values():
        env = {
            k.removeprefix(ENV_PREFIX).lower(): v
            for k, v in service["environment"].items()
            if k.startswith(ENV_PREFIX)
        }
        Settings(**env)  # raises on a value the worker would reject at start


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_megawatch_services_run_real_commands() -> None:
    assert {"worker", "notifier", "agent", "migrate", "sites"} <= set(MEGAWATCH)
    for name, service in MEGAWATCH.items():
        command = service.get("command") or service["entrypoint"][-1].split()[1:2]
        assert command[0] in COMMANDS, f"{name}: {command}"


def test_workers_scale_and_are_health_checked() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=3
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("kafka", "clickhouse", "alertmanager"):
        assert "healthcheck" in SERVICES[name], name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile


def test_compose_uses_kafka_and_clickhouse_servers() -> None:
    env = SERVICES["worker"]["environment"]
    assert env["MEGAWATCH_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["MEGAWATCH_CLICKHOUSE_DSN"].startswith("http://")
    assert "KRaft" in (ROOT / "docker-compose.yml").read_text()
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
