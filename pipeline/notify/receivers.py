"""Receivers: where alerts go, from the settings and an optional receivers file.

The settings give one receiver per ``MEGAWATCH_WEBHOOK_URLS`` entry (``webhook-1``,
``webhook-2``...), ``alertmanager`` for ``MEGAWATCH_ALERTMANAGER_URL`` and ``slack`` for
``MEGAWATCH_SLACK_WEBHOOK_URL``. ``MEGAWATCH_RECEIVERS_FILE`` adds named receivers of any
kind with filters (docs/alerts.md shows the format)::

    receivers:
      - name: oncall
        kind: webhook            # webhook | alertmanager_webhook | alertmanager_api | slack
        url: https://hooks.example.com/megawatch
        secret: "..."            # webhook only; default MEGAWATCH_WEBHOOK_SECRET
        match: {severity: [critical], site: [fra1, ams2], rule: [site_power_cap]}
        send_resolved: true
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from pipeline.errors import ConfigError, yaml_error
from pipeline.events import Alert, AlertStatus, Severity
from pipeline.notify.signing import SignatureScheme
from pipeline.settings import Settings, redact_url


class ReceiverKind(StrEnum):
    webhook = "webhook"  # megawatch JSON, HMAC-signed
    alertmanager_webhook = "alertmanager_webhook"  # Alertmanager's webhook payload, version 4
    alertmanager_api = "alertmanager_api"  # push to an Alertmanager's /api/v2/alerts
    slack = "slack"  # Slack incoming webhook


class Match(BaseModel):
    """Per-receiver filter: an empty list accepts every value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: tuple[Severity, ...] = ()
    site: tuple[str, ...] = ()
    rule: tuple[str, ...] = ()

    @field_validator("severity", "site", "rule", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    def accepts(self, alert: Alert) -> bool:
        checks: tuple[tuple[tuple[Any, ...], Any], ...] = (
            (self.severity, alert.severity),
            (self.site, alert.site),
            (self.rule, alert.rule),
        )
        return all(not allowed or value in allowed for allowed, value in checks)


class Receiver(BaseModel):
    """One named destination. URLs and secrets never appear in its repr."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    kind: ReceiverKind
    url: str = Field(repr=False)
    secret: SecretStr | None = None
    signature: SignatureScheme = "megawatch"  # webhook: which signature headers
    match: Match = Match()
    send_resolved: bool = True

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ValueError("url must be an http(s):// URL")
        return url

    @property
    def display_url(self) -> str:
        """The URL as logs may show it: a Slack webhook's path is its token."""
        if self.kind is ReceiverKind.slack:
            parts = urlsplit(self.url)
            return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "/***", "", ""))
        return redact_url(self.url)

    def secrets(self) -> list[str]:
        """Strings that must never reach a log or error: the URL, its query and password
        (where tokens hide), a Slack URL's path (its token), the signing secret."""
        parts = urlsplit(self.url)
        found = [self.target_url, self.url, parts.query, parts.password or ""]
        if self.kind is ReceiverKind.slack:
            found.append(parts.path)
        if self.secret is not None:
            found.append(self.secret.get_secret_value())
        return [s for s in found if len(s) > 1]

    @property
    def target_url(self) -> str:
        """Where requests go: Alertmanager's API path is appended to its base URL."""
        if self.kind is ReceiverKind.alertmanager_api:
            return self.url.rstrip("/") + "/api/v2/alerts"
        return self.url

    def wants(self, alert: Alert) -> bool:
        """Test alerts reach every receiver, so that ``alerts test`` checks the wiring."""
        if alert.test:
            return True
        if alert.status is AlertStatus.resolved and not self.send_resolved:
            return False
        return self.match.accepts(alert)


class _ReceiversFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receivers: list[dict[str, Any]] = Field(min_length=1)


def receivers_from_settings(settings: Settings) -> list[Receiver]:
    """Every receiver configured, settings first, then the receivers file."""
    secret = settings.webhook_secret
    found = [
        _from_setting(
            "MEGAWATCH_WEBHOOK_URLS",
            name=f"webhook-{i}",
            kind=ReceiverKind.webhook,
            url=url,
            secret=secret,
            signature=settings.webhook_signature,
        )
        for i, url in enumerate(settings.webhook_urls, start=1)
    ]
    if settings.alertmanager_url:
        found.append(
            _from_setting(
                "MEGAWATCH_ALERTMANAGER_URL",
                name="alertmanager",
                kind=ReceiverKind.alertmanager_api,
                url=settings.alertmanager_url,
            )
        )
    if settings.slack_webhook_url:
        found.append(
            _from_setting(
                "MEGAWATCH_SLACK_WEBHOOK_URL",
                name="slack",
                kind=ReceiverKind.slack,
                url=settings.slack_webhook_url.get_secret_value(),
            )
        )
    if settings.receivers_file:
        found.extend(load_receivers_file(settings.receivers_file, secret))
    _check_receivers(found)
    return found


def _from_setting(variable: str, **fields: Any) -> Receiver:
    """A receiver built from a setting; a bad value is a one-line ConfigError that names
    the variable and never shows the value (URLs carry tokens and passwords)."""
    try:
        return Receiver(**fields)
    except ValidationError as exc:
        raise ConfigError(f"invalid setting: {variable}: {_describe(exc)}") from None


def load_receivers_file(path: Path, default_secret: SecretStr | None = None) -> list[Receiver]:
    """Parse a receivers YAML file; errors name the file, the receiver and the field."""
    where = f"MEGAWATCH_RECEIVERS_FILE={path}"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc, "MEGAWATCH_RECEIVERS_FILE=") from None
    try:
        entries = _ReceiversFile.model_validate(raw).receivers
    except ValidationError:
        raise ConfigError(f"{where}: expected a top-level 'receivers:' list") from None
    out = []
    for index, entry in enumerate(entries):
        label = entry.get("name", f"#{index + 1}") if isinstance(entry, dict) else f"#{index}"
        try:
            receiver = Receiver.model_validate(entry)
        except ValidationError as exc:
            raise ConfigError(f"{where}: receiver {label}: {_describe(exc)}") from None
        if receiver.secret is None and receiver.kind is ReceiverKind.webhook:
            receiver = receiver.model_copy(update={"secret": default_secret})
        out.append(receiver)
    return out


def _check_receivers(receivers: list[Receiver]) -> None:
    names = [r.name for r in receivers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"receiver names must be unique; repeated: {', '.join(dupes)}")
    for receiver in receivers:
        if receiver.kind is ReceiverKind.webhook and receiver.secret is None:
            raise ConfigError(
                f"receiver {receiver.name} is a signed webhook but has no secret: set "
                "MEGAWATCH_WEBHOOK_SECRET (or 'secret' in the receivers file)"
            )


def _describe(exc: ValidationError) -> str:
    # Never echo input values: a receiver's url or secret may be in them.
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '?'}: {err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors(include_url=False)
    )
