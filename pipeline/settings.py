"""One frozen settings object, read from ``MEGAWATCH_*`` variables or a ``.env`` file.

The CLI builds it once (:func:`load_settings`) and passes it down; nothing else in
megawatch reads ``os.environ``. A wrong value fails at start with one line that names the
variable and what is expected (:func:`load_settings` raises :class:`ConfigError`).
Secrets are :class:`~pydantic.SecretStr` (or redacted, for URLs that carry credentials),
so they never appear in reprs, logs or error messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, create_model, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pipeline.core.partial import PARTIAL_INTERVAL_MS
from pipeline.core.rules.fields import setting_fields
from pipeline.core.rules.registry import Number, Param, registry
from pipeline.errors import ConfigError

ENV_PREFIX = "MEGAWATCH_"
SECRET_FIELDS = frozenset(
    {
        "webhook_secret",
        "clickhouse_password",
        "kafka_sasl_password",
        "slack_webhook_url",
        "redfish_password",
        "gateway_token",
        "dr_token",
    }
)


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/megawatch``, else ``~/.local/share/megawatch``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "megawatch"


def redact_url(url: str) -> str:
    """Drop the password (and query string, where tokens hide) from a URL for display."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port out of range
    except ValueError:
        return "<unparseable url>"
    netloc = parts.hostname or ""
    if port:
        netloc = f"{netloc}:{port}"
    if parts.username:
        secret = ":***" if parts.password else ""
        netloc = f"{parts.username}{secret}@{netloc}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


if TYPE_CHECKING:
    _RuleSettings = BaseSettings
else:
    # Each alert rule's parameters are settings (MEGAWATCH_CAP_FOR_S, MEGAWATCH_LOSS_WARN_WAN,
    # ...) declared by the rule itself, with default, bounds and meaning
    # (pipeline.core.rules): fields of this base, read with Settings.rule.
    _RuleSettings = create_model("RuleSettings", __base__=BaseSettings, **setting_fields())


class Settings(_RuleSettings):
    """Every knob of megawatch; field ``x`` is the variable ``MEGAWATCH_X``. The alert
    rules' parameters are fields too, declared by the rules (:meth:`rule` reads one)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    # --- where things live -------------------------------------------------------
    data_dir: Path = Field(default_factory=default_data_dir)
    kafka_bootstrap: str | None = None  # unset: the embedded broker
    clickhouse_dsn: str | None = Field(None, repr=False)  # unset: chdb:///<data_dir>/clickhouse
    clickhouse_password: SecretStr | None = None
    retention_days: int = Field(90, ge=1, le=36500)  # raw tables
    rollup_retention_days: int = Field(730, ge=1, le=36500)  # per-minute rollups
    # embedded store: its server stops this long after the last client process exited
    store_idle_exit_s: float = Field(60.0, ge=0)  # 0: never
    # `megawatch sql` and other read queries: bounded so that they never hold the store
    sql_timeout_s: float = Field(30.0, gt=0, le=3600)
    sql_max_result_rows: int = Field(1_000_000, ge=1)
    sql_max_result_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    # a ClickHouse cluster (remote_servers name): `db migrate` applies the cluster form
    clickhouse_cluster: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    # workers migrate the store at start; unset: yes on the embedded store, no on a server
    # (run `megawatch db migrate` once per release there: N workers must not race on DDL)
    auto_migrate: bool | None = None

    # --- Kafka ---------------------------------------------------------------------
    kafka_partitions: int = Field(8, ge=1, le=1024)
    kafka_replication: int = Field(1, ge=1, le=10)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    consumer_group: str = Field("megawatch", min_length=1, max_length=200)

    # --- the wire contract's guard rails -------------------------------------------
    max_event_age_s: float = Field(7 * 86400, gt=0)
    max_clock_skew_s: float = Field(300, ge=0)
    max_message_bytes: int = Field(1_048_576, ge=1024)

    # --- stream processing (the rules' own parameters are declared by the rules) --------
    eval_interval_s: float = Field(1.0, gt=0, le=60)  # staleness, series rows, forecasts
    # a shard whose site stage is on another worker: at most one partial per this many ms
    # after its messages (plus one per tick)
    partial_interval_ms: int = Field(PARTIAL_INTERVAL_MS, ge=1, le=10_000)
    # ClickHouse insert batch, at most: 100k rows cost 7-17 % less CPU per reading than
    # 20k (fewer inserts, parts and merges); at live rates the flush interval rules
    sink_max_rows: int = Field(100_000, ge=1_000)
    sink_flush_interval_s: float = Field(1.0, gt=0, le=60)  # and at least this often
    # rows held for the store at most (buffered + being written); beyond: back-pressure
    # (three batches: one being written while the next fills, without pausing)
    sink_max_buffered_rows: int = Field(300_000, ge=1_000)

    # --- power waves (telemetry.power_wave, docs/power-dynamics.md) -------------------
    wave_step_ms: int = Field(50, ge=10, le=1000)  # the alignment grid: 20 Hz
    wave_lateness_ms: int = Field(2000, ge=0, le=60_000)  # a cell waits this long for meters
    wave_hold_ms: int = Field(10_000, ge=0, le=3_600_000)  # a silent meter held, then unknown
    wave_window_s: float = Field(10.0, ge=1, le=600)  # the features' window (FFT, swing)
    wave_stride_s: float = Field(1.0, ge=0.1, le=60)  # a feature row per this much event time
    # a site stage waits this long for a late shard's block (a region for a site's series)
    wave_part_wait_ms: int = Field(3000, ge=0, le=600_000)
    wave_region_wait_ms: int = Field(6000, ge=0, le=600_000)
    # the raw samples too, in power_wave_samples, kept this many days
    wave_store_samples: bool = False
    wave_sample_retention_days: int = Field(7, ge=1, le=36500)
    # demand response: POST /api/dr on the worker's port wants this bearer token (unset:
    # the endpoint is off), or the token in this file (one line)
    dr_token: SecretStr | None = None
    dr_token_file: Path | None = None
    # the baseline of a DR event: the mean of the `highest` of the `days` most recent
    # comparable days at the event's hours (NYISO: 5 of 10 weekdays), shifted by the event
    # day's level in the hour before it by at most `adjust_cap` (0: no adjustment)
    dr_baseline_highest: int = Field(5, ge=1, le=60)
    dr_baseline_days: int = Field(10, ge=1, le=60)
    dr_baseline_same_day_type: bool = True  # weekdays with weekdays; false: all days compare
    dr_baseline_adjust_cap: float = Field(0.0, ge=0, le=1)

    # --- alert delivery ------------------------------------------------------------
    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list, repr=False)
    webhook_secret: SecretStr | None = None
    # signature headers on generic webhooks: megawatch's X-Megawatch-Signature, the
    # Standard Webhooks webhook-* headers (verifiable with stock libraries), or both
    webhook_signature: Literal["megawatch", "standard", "both"] = "megawatch"
    alertmanager_url: str | None = Field(None, repr=False)
    slack_webhook_url: SecretStr | None = None
    notifier_in_worker: bool = True  # false when `megawatch notifier` runs on its own
    receivers_file: Path | None = None  # YAML: several receivers, per-receiver filters
    external_url: str | None = None  # links in Alertmanager payloads; unset: the web endpoint
    notify_group_wait_s: float = Field(1.0, ge=0, le=3600)  # same site+rule: one notification
    notify_max_alerts: int = Field(50, ge=1, le=10_000)  # per notification; rest truncated
    notify_repeat_interval_s: float = Field(4 * 3600, gt=0)  # re-notify a still-firing alert
    notify_give_up_s: float = Field(900, gt=0)  # retry a notification this long, then dead-letter
    notify_request_timeout_s: float = Field(10.0, gt=0, le=300)
    notify_backoff_max_s: float = Field(30.0, gt=0)
    notify_max_age_s: float = Field(86400, gt=0)  # older alert events are skipped, not sent
    alertmanager_resend_s: float = Field(60.0, gt=0)  # < Alertmanager's resolve_timeout (5m)
    # "08:00": the worker sends the last day's digest to the receivers daily at this UTC time
    digest_schedule_utc: str | None = None

    # --- agent sources that poll devices (dcgm-exporter, Redfish) ---------------------
    redfish_username: str | None = None
    redfish_password: SecretStr | None = None
    redfish_auth: Literal["basic", "session"] = "basic"  # session: one X-Auth-Token per service
    source_ca_file: Path | None = None  # PEM bundle to verify the devices' TLS certificates
    source_verify_tls: bool = True  # false only for a lab device with a self-signed cert
    source_timeout_s: float = Field(5.0, gt=0, le=300)  # per HTTP request to a device

    # --- `megawatch gateway`: Prometheus remote_write and OTLP/HTTP in (docs/gateway.md) ---
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(9201, ge=0, le=65535)
    gateway_site: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")  # no site label
    gateway_map_file: Path | None = None  # the agents' --map format, plus `site:`
    gateway_token: SecretStr | None = None  # writers send Authorization: Bearer <token>
    gateway_token_file: Path | None = None  # the same, read from a file (one line)
    gateway_tls_certfile: Path | None = None  # serve HTTPS with this certificate ...
    gateway_tls_keyfile: Path | None = None  # ... and key
    gateway_tls_client_cafile: Path | None = None  # and require client certificates of this CA
    # a request body at most, compressed and uncompressed alike (beyond: 413)
    gateway_max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    gateway_kafka_timeout_s: float = Field(10.0, gt=0, le=300)  # no ack by then: 503
    gateway_retry_after_s: int = Field(5, ge=1, le=3600)  # the 503's Retry-After
    # parts of one event (a GPU's utilization and power) may come in several requests:
    # they wait this long for each other (> Prometheus' batch_send_deadline, 5 s)
    gateway_join_window_s: float = Field(30.0, gt=0, le=3600)
    gateway_state_dir: Path | None = None  # the join log; unset: <data dir>/gateway-<port>

    # --- the worker's own HTTP endpoint (metrics, health, state) ----------------------
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=0, le=65535)
    # `megawatch notifier` on its own serves /metrics here (0: not at all)
    notifier_metrics_port: int = Field(0, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError("expected comma-separated http(s):// URLs")
        return urls

    @field_validator("clickhouse_dsn")
    @classmethod
    def _check_dsn(cls, dsn: str | None) -> str | None:
        if dsn is None:
            return dsn
        parts = urlsplit(dsn)
        if parts.scheme not in ("chdb", "http", "https"):
            raise ValueError("expected chdb:///path or http(s)://user:pass@host:port/db")
        _ = parts.port  # a ValueError naming the bad port, before any client sees it
        if parts.scheme != "chdb" and not parts.hostname:
            raise ValueError("expected http(s)://user:pass@host:port/db (no host given)")
        return dsn

    @field_validator("digest_schedule_utc")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("expected a UTC time of day as HH:MM, e.g. 08:00")
        return value

    # --- derived values ------------------------------------------------------------
    def rule(self, param: Param[Number]) -> Number:
        """The value of one rule parameter (``settings.rule(CAP_FOR)``)."""
        value: Number = getattr(self, param.name)
        return value

    def rule_values(self) -> dict[str, float]:
        """Every rule parameter by name, as :class:`pipeline.core.policy.RuleConfig` takes
        them."""
        return {param.name: getattr(self, param.name) for param in registry().params}

    @property
    def embedded_broker(self) -> bool:
        """True when no Kafka is configured and megawatch runs its own broker."""
        return self.kafka_bootstrap is None

    @property
    def store_dsn(self) -> str:
        """The ClickHouse DSN in effect (may hold a password: never log it)."""
        return self.clickhouse_dsn or f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def migrates_on_start(self) -> bool:
        """Whether a worker migrates the store when it starts (MEGAWATCH_AUTO_MIGRATE)."""
        if self.auto_migrate is not None:
            return self.auto_migrate
        return urlsplit(self.store_dsn).scheme == "chdb"

    @property
    def store_dsn_redacted(self) -> str:
        return redact_url(self.store_dsn)

    def __repr_args__(self) -> Any:
        # URL fields are repr=False above and shown here redacted: DSNs and webhook URLs
        # carry passwords and tokens.
        yield from super().__repr_args__()
        for name in ("clickhouse_dsn", "alertmanager_url"):
            url = getattr(self, name)
            yield name, redact_url(url) if url else None
        yield "webhook_urls", [redact_url(url) for url in self.webhook_urls]


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def describe_error(exc: ValidationError) -> str:
    """One line per bad variable: its name, what is expected, and (unless secret) the
    value, with URL passwords and query strings (where tokens hide) masked."""
    lines = []
    for err in exc.errors(include_url=False):
        field = str(err["loc"][0]) if err["loc"] else "?"
        msg = " ".join(err["msg"].removeprefix("Value error, ").split())
        shown = "" if field in SECRET_FIELDS else f" (got {shown_value(err.get('input'))})"
        lines.append(f"{env_name(field)}: {msg}{shown}")
    return "; ".join(lines)


_CREDENTIALS = re.compile(r"(?i)\b[\w.+-]*:[^\s@/]*@|[?&#]\S*")


def shown_value(value: Any) -> str:
    """A rejected value as an error may show it: URLs redacted, credentials masked."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown_value(item) for item in value) + "]"
    text = str(value)
    if "://" in text:
        return repr(redact_url(text))
    return repr(_CREDENTIALS.sub("***", text))[:200]


#: (low, high) settings besides the rules' own (those declare ``at_most``): ``low`` must
#: not exceed ``high``
ORDERED_SETTINGS: tuple[tuple[str, str], ...] = (
    # a baseline averages some of the days it looks at
    ("dr_baseline_highest", "dr_baseline_days"),
)


def ordered_pairs() -> tuple[tuple[str, str], ...]:
    """Every (low, high) pair of settings: the rules' and :data:`ORDERED_SETTINGS`."""
    rules = tuple((low.name, high.name) for low, high in registry().ordered)
    return rules + ORDERED_SETTINGS


def contradiction(settings: Settings) -> str | None:
    """One line naming two settings that contradict each other, or None."""
    for low, high in ordered_pairs():
        low_value, high_value = getattr(settings, low), getattr(settings, high)
        if low_value > high_value:
            return (
                f"contradicting settings: {env_name(low)}={low_value:g} is above "
                f"{env_name(high)}={high_value:g}; it must be at most that"
            )
    return None


def unknown_variables(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> list[str]:
    """A warning for each ``MEGAWATCH_*`` variable (of the environment, and of the
    ``.env`` file the settings read) that is no setting, with the closest known name:
    a misspelt variable is otherwise ignored without a word."""
    import difflib

    from dotenv import dotenv_values

    known = sorted(env_name(name) for name in Settings.model_fields)
    environ = os.environ if environ is None else environ
    env_file = Path(str(Settings.model_config.get("env_file"))) if env_file is None else env_file
    sources = [("", list(environ))]
    if env_file.is_file():
        sources.append((f"{env_file}: ", [str(k) for k in dotenv_values(env_file)]))
    bare = [k.removeprefix(ENV_PREFIX) for k in known]  # the prefix would make all alike
    out = []
    for where, names in sources:
        for name in sorted(n for n in names if n.upper().startswith(ENV_PREFIX)):
            if name.upper() in known:
                continue
            close = difflib.get_close_matches(name.upper()[len(ENV_PREFIX) :], bare, n=1)
            hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
            out.append(f"{where}{name} is not a megawatch setting{hint}: ignored")
    return out


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, raising one-line :class:`ConfigError`
    for a bad value, or for two settings that contradict each other."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid setting: {describe_error(exc)}") from None
    problem = contradiction(settings)
    if problem is not None:
        raise ConfigError(problem)
    return settings
