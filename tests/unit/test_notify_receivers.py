"""Receivers from settings and from a receivers file, their filters and redaction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.events import Alert
from pipeline.notify.receivers import Receiver, ReceiverKind, receivers_from_settings
from pipeline.settings import load_settings

SLACK = "https://hooks.slack.com/services/T0001/B0002/XXXXsecrettokenXXXX"


def alert(**changes: object) -> Alert:
    base = {
        "fingerprint": "0123456789abcdef",
        "rule": "site_power_cap",
        "severity": "critical",
        "status": "firing",
        "site": "fra1",
        "value": 10.5e6,
        "threshold": 10e6,
        "starts_at": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "summary": "fra1 draws 10.5 MW, cap 10 MW",
    }
    return Alert.model_validate(base | changes)


def test_receivers_from_environment(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        webhook_urls="http://a.example/hook, https://b.example/hook",
        webhook_secret="topsecret",
        alertmanager_url="http://am.example:9093",
        slack_webhook_url=SLACK,
    )
    receivers = receivers_from_settings(settings)
    assert [(r.name, r.kind) for r in receivers] == [
        ("webhook-1", ReceiverKind.webhook),
        ("webhook-2", ReceiverKind.webhook),
        ("alertmanager", ReceiverKind.alertmanager_api),
        ("slack", ReceiverKind.slack),
    ]
    assert receivers[0].secret is not None
    assert receivers[0].secret.get_secret_value() == "topsecret"
    assert receivers[2].target_url == "http://am.example:9093/api/v2/alerts"
    slack = receivers[3]
    assert "XXXXsecrettokenXXXX" not in slack.display_url
    assert "XXXXsecrettokenXXXX" not in repr(slack)
    assert "topsecret" not in repr(receivers[0])


def test_webhook_without_secret_is_a_config_error(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, webhook_urls="http://a.example/hook")
    with pytest.raises(ConfigError, match="MEGAWATCH_WEBHOOK_SECRET"):
        receivers_from_settings(settings)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "receivers.yaml"
    path.write_text(text)
    return path


def test_receivers_file_with_filters(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
receivers:
  - name: oncall
    kind: webhook
    url: https://oncall.example/megawatch
    match: {severity: [critical], site: [fra1, ams2]}
  - name: wan-team
    kind: alertmanager_webhook
    url: http://wan.example/am
    match: {rule: link_loss}
    send_resolved: false
  - name: chat
    kind: slack
    url: https://hooks.slack.com/services/T/B/token
""",
    )
    settings = load_settings(data_dir=tmp_path, receivers_file=path, webhook_secret="dflt")
    oncall, wan, chat = receivers_from_settings(settings)
    assert oncall.secret is not None and oncall.secret.get_secret_value() == "dflt"
    assert oncall.wants(alert())
    assert oncall.wants(alert(site="ams2"))
    assert not oncall.wants(alert(site="par1"))
    assert not oncall.wants(alert(severity="warning"))
    assert wan.wants(alert(rule="link_loss", severity="warning"))
    assert not wan.wants(alert(rule="link_loss", status="resolved"))
    assert not wan.wants(alert())
    assert chat.wants(alert(severity="info", site="x"))
    # A test alert checks the wiring of every receiver, whatever its filter.
    assert wan.wants(alert(test=True, status="resolved"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("receivers: [", "not valid YAML"),
        ("hello: 1", "top-level 'receivers:' list"),
        ("receivers:\n  - {name: x, kind: pager, url: http://a/}", "receiver x: kind"),
        ("receivers:\n  - {name: x, kind: slack, url: 'ftp://a/b'}", "receiver x: url"),
        (
            "receivers:\n  - {name: x, kind: webhook, url: 'http://a/', match: {severity: [loud]}}",
            "receiver x: match.severity",
        ),
        (
            "receivers:\n  - {name: x, kind: slack, url: 'http://a/'}\n"
            "  - {name: x, kind: slack, url: 'http://b/'}",
            "repeated: x",
        ),
    ],
)
def test_bad_receivers_file_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    settings = load_settings(data_dir=tmp_path, receivers_file=write(tmp_path, text))
    with pytest.raises(ConfigError, match=message) as info:
        receivers_from_settings(settings)
    assert "MEGAWATCH_RECEIVERS_FILE" in str(info.value) or "repeated" in str(info.value)


def test_file_errors_never_echo_urls_or_secrets(tmp_path: Path) -> None:
    text = "receivers:\n  - {name: x, kind: webhook, url: 'gopher://token123@a/', secret: zz9}"
    settings = load_settings(data_dir=tmp_path, receivers_file=write(tmp_path, text))
    with pytest.raises(ConfigError) as info:
        receivers_from_settings(settings)
    assert "token123" not in str(info.value)
    assert "zz9" not in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, receivers_file=tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        receivers_from_settings(settings)


def test_secrets_lists_what_must_be_scrubbed() -> None:
    slack = Receiver(name="s", kind=ReceiverKind.slack, url=SLACK)
    assert "/services/T0001/B0002/XXXXsecrettokenXXXX" in slack.secrets()
    hook = Receiver(name="h", kind=ReceiverKind.webhook, url="http://a/h", secret="k3y")
    assert "k3y" in hook.secrets()
