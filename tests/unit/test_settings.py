"""Settings: MEGAWATCH_* names, one-line errors, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.errors import ConfigError
from pipeline.settings import Settings, load_settings, redact_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("MEGAWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_defaults_are_the_embedded_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGAWATCH_DATA_DIR", str(tmp_path / "d"))
    s = load_settings()
    assert s.embedded_broker and s.kafka_partitions == 8
    assert s.store_dsn == f"chdb://{(tmp_path / 'd' / 'clickhouse').resolve()}"


def test_env_names_and_comma_separated_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGAWATCH_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("MEGAWATCH_WEBHOOK_URLS", "http://a.example/hook, https://b.example/x")
    s = load_settings()
    assert not s.embedded_broker
    assert s.webhook_urls == ["http://a.example/hook", "https://b.example/x"]


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MEGAWATCH_KAFKA_PARTITIONS=12\n")
    assert load_settings().kafka_partitions == 12


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "MEGAWATCH_KAFKA_PARTITIONS",
            "many",
            "MEGAWATCH_KAFKA_PARTITIONS: Input should be a valid integer",
        ),
        (
            "MEGAWATCH_KAFKA_PARTITIONS",
            "0",
            "MEGAWATCH_KAFKA_PARTITIONS: Input should be greater than or equal to 1",
        ),
        (
            "MEGAWATCH_CLICKHOUSE_DSN",
            "mysql://x",
            "MEGAWATCH_CLICKHOUSE_DSN: expected chdb:///path or http(s)://",
        ),
        (
            "MEGAWATCH_WEBHOOK_URLS",
            "ftp://x",
            "MEGAWATCH_WEBHOOK_URLS: expected comma-separated http(s):// URLs",
        ),
        (
            "MEGAWATCH_KAFKA_SECURITY_PROTOCOL",
            "TLS",
            "MEGAWATCH_KAFKA_SECURITY_PROTOCOL: Input should be",
        ),
        # the rules' parameters, declared by the rules: the same one line
        (
            "MEGAWATCH_CAP_FOR_S",
            "-1",
            "MEGAWATCH_CAP_FOR_S: Input should be greater than or equal to 0 (got '-1')",
        ),
        (
            "MEGAWATCH_LOSS_WARN_FABRIC",
            "2",
            "MEGAWATCH_LOSS_WARN_FABRIC: Input should be less than 1",
        ),
        (
            "MEGAWATCH_LOSS_MIN_TX_PACKETS",
            "many",
            "MEGAWATCH_LOSS_MIN_TX_PACKETS: Input should be a valid integer",
        ),
    ],
)
def test_wrong_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert expected in text and "\n" not in text


RULE_VARIABLES = [
    "STALE_AFTER_S",
    "STALE_HOLD_S",
    "MIN_COVERAGE",
    "TELEMETRY_FOR_S",
    "FORGET_AFTER_S",
    "CAP_FOR_S",
    "CAP_RESOLVE_FOR_S",
    "HYSTERESIS",
    "FORECAST_HORIZON_S",
    "FORECAST_WINDOW_S",
    "LOSS_WINDOW_S",
    "LOSS_FOR_S",
    "LOSS_RESOLVE_FOR_S",
    "LOSS_MIN_TX_PACKETS",
    "LOSS_WARN_FABRIC",
    "LOSS_CRIT_FABRIC",
    "LOSS_WARN_WAN",
    "LOSS_CRIT_WAN",
    "IDLE_POWER_SHARE",
    "IDLE_FOR_S",
]


def test_the_rules_variables_keep_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Users' deployments set these: the rules declare them, under these names."""
    for name in RULE_VARIABLES:
        monkeypatch.setenv(f"MEGAWATCH_{name}", "0.25" if name != "LOSS_MIN_TX_PACKETS" else "7")
    settings = load_settings(forecast_window_s=60)
    values = settings.rule_values()
    assert {name.lower() for name in RULE_VARIABLES} <= set(values)  # new rules add more
    assert values["loss_min_tx_packets"] == 7 and values["cap_for_s"] == 0.25


def test_secrets_never_appear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGAWATCH_WEBHOOK_SECRET", "s3cr3t-hmac")
    monkeypatch.setenv(
        "MEGAWATCH_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/tok3n"
    )
    monkeypatch.setenv("MEGAWATCH_KAFKA_SASL_PASSWORD", "kafkapw")
    monkeypatch.setenv("MEGAWATCH_CLICKHOUSE_DSN", "https://user:chpw@ch.example:8443/megawatch")
    monkeypatch.setenv("MEGAWATCH_WEBHOOK_URLS", "https://x.example/hook?token=urltok")
    s = load_settings()
    shown = repr(s) + str(s) + s.store_dsn_redacted
    for secret in ("s3cr3t-hmac", "tok3n", "kafkapw", "chpw", "urltok"):
        assert secret not in shown
    assert "ch.example:8443" in s.store_dsn_redacted
    assert s.webhook_secret is not None and s.webhook_secret.get_secret_value() == "s3cr3t-hmac"


def test_secret_value_is_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGAWATCH_SLACK_WEBHOOK_URL", "")
    monkeypatch.setenv("MEGAWATCH_WEB_PORT", "99999")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "MEGAWATCH_WEB_PORT" in str(info.value)


def test_redact_url() -> None:
    assert redact_url("https://u:p@h:8443/db?x=1") == "https://u:***@h:8443/db?***"
    assert redact_url("http://h/path") == "http://h/path"


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.kafka_partitions = 3  # type: ignore[misc]
