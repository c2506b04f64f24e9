"""The wire contract: pydantic models of every event megawatch reads or writes.

These models are the source of truth. ``schemas/*.json`` are generated from them
(:func:`json_schemas`, ``megawatch schemas``) for producers in other languages, and a test
fails when the checked-in files drift. Field names are public and stable (users'
producers and kcat scripts depend on them): add optional fields, never rename.

Conventions: timestamps are event time in UTC, given as RFC 3339 strings with an offset
or as integer epoch milliseconds, and held as aware datetimes; units are in field names;
unknown fields are ignored so that newer producers can talk to older workers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import core_schema

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"

#: Site, rack, host, GPU and link ids: 1-64 characters of ``[A-Za-z0-9._:-]``.
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
#: The site of a telemetry event: the message key, or its part before ``/`` for a
#: message keyed ``SITE/SHARD`` (pipeline.core.site_key).
SiteId = Annotated[
    Id,
    Field(
        description="the whole site: the message key, or the key's part before '/' "
        "for a site spread over partitions (key SITE/SHARD)"
    ),
]


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


#: Event time: RFC 3339 with an offset, or integer epoch milliseconds; held as epoch
#: milliseconds (an int), which is what the rules compare and ClickHouse's DateTime64(3)
#: stores. Integers pass straight through pydantic's Rust core; only strings are parsed,
#: so agents that send epoch ms (the common case) cost nothing per reading here.
_Timestamp = Annotated[
    Annotated[int, Field(ge=0, le=2**53)] | Annotated[AwareDatetime, AfterValidator(_epoch_ms)],
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "integer", "minimum": 0, "description": "epoch milliseconds"},
            ],
            "description": "event time, UTC: RFC 3339 with offset, or epoch milliseconds",
        }
    ),
]
if TYPE_CHECKING:
    Timestamp = int  # what validation always yields; the union is for the input side
else:
    Timestamp = _Timestamp


# Upper bounds are generous physical limits: they catch unit mix-ups (kW sent as W,
# bytes as packets) without rejecting tomorrow's 1 MW racks.
MAX_RACK_POWER_W = 2_000_000.0
MAX_GPU_POWER_W = 5_000.0
MAX_COUNTER = 2**64 - 1
MAX_CAP_MW = 10_000.0
#: Samples of one power_wave event, and its sample interval bounds (ms): 10 ms is what
#: fast meters and buffered NVML give, 1 s is the slowest that still shows a ramp.
MAX_WAVE_SAMPLES = 1000
MIN_WAVE_INTERVAL_MS = 10
MAX_WAVE_INTERVAL_MS = 1000
#: A facility meter: the intake of a 5 GW campus and some.
MAX_FACILITY_POWER_W = 10_000_000_000.0
MAX_WORK_TOTAL = 1e18
MAX_JOB_HOSTS = 100_000

Watts = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Counter = Annotated[int, Field(ge=0, le=MAX_COUNTER)]

#: Optical power bounds (dBm). SFF-8636 and CMIS modules report power as an unsigned
#: 16-bit count of 0.1 uW: 0.1 uW (-40 dBm) is the smallest reading above none, 6.55 mW
#: (+8.2 dBm) the largest. No light at all (0 mW, no logarithm) is sent as the floor.
MIN_DBM = -40.0
MAX_DBM = 10.0
#: Lanes of one module (QSFP-DD and OSFP have 8) and PFC priorities (IEEE 802.1Qbb: 0-7).
MAX_LANES = 8
MAX_PRIORITY = 7
Dbm = Annotated[float, Field(ge=MIN_DBM, le=MAX_DBM, allow_inf_nan=False)]
Lanes = Annotated[list[Dbm], Field(min_length=1, max_length=MAX_LANES)]
Priority = Annotated[int, Field(ge=0, le=MAX_PRIORITY)]
#: cumulative counters per PFC priority: ``{"3": 1200}`` (JSON keys are strings)
PerPriority = Annotated[dict[Priority, Counter], Field(min_length=1)]


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class AlertStatus(StrEnum):
    firing = "firing"
    resolved = "resolved"


class LinkClass(StrEnum):
    fabric = "fabric"
    wan = "wan"


class Event(BaseModel):
    """Base of the telemetry events: lenient about extra fields, strict about values."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, val_temporal_unit="milliseconds", str_max_length=256
    )


class RackPower(Event):
    """Power drawn by one rack, from its PDUs or the facility meter (topic telemetry.rack_power)."""

    site: SiteId
    rack: Id
    ts: Timestamp
    power_w: Annotated[Watts, Field(le=MAX_RACK_POWER_W)]
    pdu: Id | None = None
    source: Id | None = None


class PowerWave(Event):
    """Power of one rack, PDU or meter sampled at a fixed interval (topic telemetry.power_wave).

    Sample ``i`` is the reading at ``ts + i * interval_ms`` and stands for the power until
    the next one; ``ts`` (the first sample's time) follows the rules of every other kind.
    Each sample is bounded like a rack's power.
    """

    site: SiteId
    rack: Id = Field(description="a rack, PDU or meter id; mapped to power domains like racks")
    ts: Timestamp
    interval_ms: Annotated[int, Field(ge=MIN_WAVE_INTERVAL_MS, le=MAX_WAVE_INTERVAL_MS)]
    power_w: Annotated[
        list[Annotated[Watts, Field(le=MAX_RACK_POWER_W)]],
        Field(min_length=1, max_length=MAX_WAVE_SAMPLES),
    ]
    source: Id | None = None
    meter: Id | None = Field(
        None,
        description="one of several meters of the rack (a host, a PDU feed): each is "
        "aligned on its own and summed into the rack; unset: the rack's one meter",
    )


class DemandResponse(BaseModel):
    """A demand-response event: a utility or aggregator asks a site, or every site of a
    region, to stay under a ceiling or to cut a share of its baseline from ``start_ts``
    to ``end_ts`` (compacted topic control.dr, key = ``id``; ``cancelled`` ends it early,
    a null value forgets it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id = Field(description="the utility's or aggregator's id of the event")
    site: Id | None = Field(None, description="the site asked (or give region)")
    region: Id | None = Field(None, description="every site of this region, as one load")
    start_ts: Timestamp
    end_ts: Timestamp
    ceiling_mw: Annotated[float, Field(ge=0, le=MAX_CAP_MW, allow_inf_nan=False)] | None = Field(
        None, description="stay at or under this load (or give reduction_pct)"
    )
    reduction_pct: Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)] | None = Field(
        None, description="cut this share of the baseline (the load without the event)"
    )
    program: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        None, description="the program it belongs to, as the utility names it"
    )
    cancelled: bool = Field(False, description="called off: measured until now, then ended")

    @model_validator(mode="after")
    def _one_of_each(self) -> DemandResponse:
        if (self.site is None) == (self.region is None):
            raise ValueError("give site or region, not both")
        if (self.ceiling_mw is None) == (self.reduction_pct is None):
            raise ValueError("give ceiling_mw or reduction_pct, not both")
        if self.end_ts <= self.start_ts:
            raise ValueError("end_ts must be after start_ts")
        return self

    @property
    def scope(self) -> str:
        """The site or region asked."""
        return self.site or self.region or ""


class GpuSample(Event):
    """One accelerator of one host, any vendor (topic telemetry.gpu)."""

    site: SiteId
    rack: Id
    host: Id
    gpu: Id
    ts: Timestamp
    util_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    power_w: Annotated[Watts, Field(le=MAX_GPU_POWER_W)]
    vendor: Id | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    mem_used_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    temp_c: Annotated[float, Field(ge=-40, le=150, allow_inf_nan=False)] | None = None
    power_limit_w: Annotated[Watts, Field(gt=0, le=MAX_GPU_POWER_W)] | None = None
    job: Id | None = Field(None, description="the job (Slurm job, pod) the GPU works for")
    tenant: Id | None = Field(None, description="who the job is for: account, namespace")
    priority: Id | None = Field(
        None, description="the job's class: inference, training, batch, or the site's own"
    )
    clock_reasons: Counter | None = Field(
        None,
        description="why the clocks are held down: NVML's clocks event reasons bitmask "
        "(DCGM_FI_DEV_CLOCKS_EVENT_REASONS): 0x4 software power cap, 0x8 hardware "
        "slowdown, 0x80 power brake, ...",
    )


class LinkCounters(Event):
    """Cumulative packet counters of one link, as NICs, switches and gNMI report them
    (topic telemetry.link). A counter that goes down is a reset, never loss.

    The optional link-health fields (docs/link-health.md) are what the physical layer
    says before packets are lost: cumulative counters (each reset on its own when it
    goes down), the carrier state, and the optics' power per lane with the module's own
    thresholds."""

    site: SiteId
    link: Id
    link_class: LinkClass
    ts: Timestamp
    tx_packets: Counter
    rx_packets: Counter
    dropped_packets: Counter
    peer_site: Id | None = None
    error_packets: Counter | None = None
    fec_corrected_codewords: Counter | None = Field(
        None, description="FEC codewords with errors the FEC corrected (IEEE 802.3 119.3.2)"
    )
    fec_uncorrectable_codewords: Counter | None = Field(
        None, description="FEC codewords the FEC could not correct (IEEE 802.3 119.3.3)"
    )
    symbol_errors: Counter | None = Field(
        None, description="bits in error after FEC (post-FEC), e.g. rx_pcs_symbol_err_phy"
    )
    rx_bits: Counter | None = Field(
        None, description="bits the receiver saw (rx_bits_phy): the denominator of the BER"
    )
    effective_ber: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = Field(
        None, description="post-FEC bit error rate as the device computes it (a gauge)"
    )
    carrier_transitions: Counter | None = Field(
        None, description="carrier (oper state) changes, up and down both: a flap counts 2"
    )
    link_down_events: Counter | None = Field(
        None, description="times the PHY's link went down (link_down_events_phy)"
    )
    carrier_up: bool | None = Field(None, description="the link's carrier (oper state) is up")
    rx_discarded_packets: Counter | None = Field(
        None, description="received packets the port discarded for lack of buffer (rx_discards_phy)"
    )
    pause_storm_warnings: Counter | None = Field(
        None, description="times the NIC sent pauses past its stall warning mark"
    )
    pause_storm_errors: Counter | None = Field(
        None, description="times the NIC sent pauses past its stall error mark and stopped"
    )
    rx_pause_frames: PerPriority | None = Field(None, description="PFC pause frames received")
    tx_pause_frames: PerPriority | None = Field(None, description="PFC pause frames sent")
    rx_pause_us: PerPriority | None = Field(
        None, description="time paused by the peer (us): this end could not send on the priority"
    )
    tx_pause_us: PerPriority | None = Field(None, description="time this end paused its peer (us)")
    rx_power_dbm: Lanes | None = Field(None, description="optical receive power per lane")
    tx_power_dbm: Lanes | None = Field(None, description="optical transmit power per lane")
    rx_power_low_warn_dbm: Dbm | None = Field(
        None, description="the module's own low warning threshold of rx power"
    )
    rx_power_low_alarm_dbm: Dbm | None = Field(
        None, description="the module's own low alarm threshold of rx power"
    )
    rx_power_high_warn_dbm: Dbm | None = Field(
        None, description="the module's own high warning threshold of rx power"
    )
    rx_power_high_alarm_dbm: Dbm | None = Field(
        None, description="the module's own high alarm threshold of rx power"
    )


class MeterKind(StrEnum):
    """What a facility meter measures."""

    utility = "utility"  # the site's intake from the grid: IT and overhead together
    cooling = "cooling"
    ups_loss = "ups_loss"
    distribution_loss = "distribution_loss"
    other = "other"  # lighting, offices, ...


class FacilityPower(Event):
    """Power of one facility meter: the utility intake, cooling, UPS or distribution
    losses (topic telemetry.facility). With the racks' PDUs (the IT load) it gives PUE."""

    site: SiteId
    meter: Id
    meter_kind: MeterKind
    ts: Timestamp
    power_w: Annotated[Watts, Field(le=MAX_FACILITY_POWER_W)]


class WorkCounter(Event):
    """A cumulative count of work done: tokens, samples, requests (topic telemetry.work).

    ``total`` only grows (a counter that goes down is a restart: a new baseline). It
    belongs to a ``host`` (an inference server on it) or a ``job`` (at least one)."""

    site: SiteId
    ts: Timestamp
    counter: Id = Field(description="what is counted: generation_tokens, prompt_tokens, ...")
    total: Annotated[float, Field(ge=0, le=MAX_WORK_TOTAL, allow_inf_nan=False)]
    host: Id | None = None
    job: Id | None = None
    served_model: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        None, description="the AI model served (vLLM's model_name, Triton's model)"
    )
    source: Id | None = None

    @model_validator(mode="after")
    def _host_or_job(self) -> WorkCounter:
        if self.host is None and self.job is None:
            raise ValueError("host or job: a work counter belongs to at least one")
        return self


class JobSpec(Event):
    """Where and when a job runs (compacted topic control.jobs, key = ``SITE/JOB``; a
    null value forgets the job). GPU samples of its hosts (and GPUs, when listed) from
    ``start_ts`` to ``end_ts`` get its job, tenant and priority unless they carry their own."""

    site: Id
    job: Id
    hosts: Annotated[list[Id], Field(min_length=1, max_length=MAX_JOB_HOSTS)]
    start_ts: Timestamp
    end_ts: Timestamp | None = Field(None, description="null: still running")
    tenant: Id | None = None
    user: Id | None = None
    priority: Id | None = None
    gpus: Annotated[list[Id], Field(min_length=1, max_length=64)] | None = Field(
        None, description="the GPU ids it holds on each host; null: every GPU of its hosts"
    )

    @property
    def key(self) -> str:
        return f"{self.site}/{self.job}"


#: A rack name or a glob of rack names (``h1-*``, ``r[0-4]?``) in a power domain.
RackPattern = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:*?\[\]!-]{1,64}$")]
CapMw = Annotated[float, Field(gt=0, le=MAX_CAP_MW, allow_inf_nan=False)]


class PowerDomain(BaseModel):
    """One level of a site's power tree (a feed, hall, row or busway) with its own cap.

    A domain lists either ``children`` (other domains of the same spec) or ``racks``
    (names or globs): racks map to leaf domains, and a parent's power is its children's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Id
    cap_mw: CapMw
    warn_ratio: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        None, description="unset: the site's warn_ratio"
    )
    children: tuple[Id, ...] | None = None
    racks: tuple[RackPattern, ...] | None = None
    oversubscribe: bool = Field(
        False, description="allow the children's caps to sum above this domain's cap"
    )
    racks_expected: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class SiteSpec(BaseModel):
    """A site's power cap and alerting parameters (compacted topic control.sites, key = site)."""

    # Besides the fields below, each alert-rule parameter that a site may override is a
    # field (stale_after_s, min_coverage, loss_warn, ...): the rules declare them, with
    # their bounds, in pipeline.core.rules (fields.spec_fields), and they join this model
    # when pydantic first builds it (defer_build: the rules import this module, so they
    # are read then, not at import). The core reads them through SitePolicy.of, which
    # falls back on the settings.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    site: Id
    cap_mw: CapMw
    region: Id | None = None
    warn_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.9
    racks_expected: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        None, description="racks the site has: those that never reported count as missing"
    )
    domains: tuple[PowerDomain, ...] | None = Field(
        None, description="the site's power tree: feeds, halls, rows with their own caps"
    )
    oversubscribe: bool = Field(
        False, description="allow the top domains' caps to sum above the site's cap"
    )
    shards_expected: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        None,
        description="a site keyed SITE/SHARD over several partitions: the shards it has; "
        "one never heard from counts as missing racks (coverage, telemetry_missing)",
    )
    priorities: Annotated[tuple[Id, ...], Field(min_length=1, max_length=32)] | None = Field(
        None,
        description="GPU priority classes, highest first (unset: inference, training, "
        "batch); `priority_inversion` compares them",
    )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /
    ) -> core_schema.CoreSchema:
        from pipeline.core.rules.fields import spec_fields  # lazily: see model_config

        schema = handler(source)
        fields = _model_fields(schema)
        for name, annotation in spec_fields().items():
            fields[name] = core_schema.model_field(
                core_schema.with_default_schema(handler.generate_schema(annotation), default=None)
            )
        return schema

    def __repr_args__(self) -> Any:
        yield from super().__repr_args__()
        yield from ((k, v) for k, v in self.__dict__.items() if k not in type(self).model_fields)


def _model_fields(schema: core_schema.CoreSchema) -> dict[str, core_schema.ModelField]:
    """The field schemas of a model's core schema (under its wrappers)."""
    inner: Any = schema
    while inner["type"] != "model-fields":
        inner = inner["schema"]
    fields: dict[str, core_schema.ModelField] = inner["fields"]
    return fields


class Alert(BaseModel):
    """One state change of one alert (topic alerts, key = fingerprint).

    An episode is one ``firing`` and one ``resolved`` event with the same fingerprint;
    ``seq`` counts the events of that fingerprint so receivers can dedupe on
    ``fingerprint:seq`` and order what arrives late.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
    rule: Id
    severity: Severity
    status: AlertStatus
    site: Id
    value: float
    threshold: float
    starts_at: AwareDatetime
    summary: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    link: Id | None = None
    peer_site: Id | None = None
    rack: Id | None = None
    domain: Id | None = Field(None, description="the power domain (feed, hall, row) of a cap alert")
    ends_at: AwareDatetime | None = None
    seq: Annotated[int, Field(ge=0)] = 0
    forecast_at: AwareDatetime | None = Field(
        None, description="cap_forecast only: when the site is projected to reach its cap"
    )
    test: bool = Field(False, description="true for `megawatch alerts test`; not a real condition")


class DeadLetter(BaseModel):
    """A message or event that failed validation (topic telemetry.deadletter)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    reason: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    topic: str
    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]
    raw: str = Field(description="the offending bytes: UTF-8 text, or base64 (see raw_encoding)")
    raw_encoding: Literal["utf-8", "base64"] = "utf-8"
    index: Annotated[int, Field(ge=0)] | None = Field(
        None, description="position of the event in its batch; null for the whole message"
    )
    key: str | None = None
    received_at: AwareDatetime | None = None
    reason_code: str | None = Field(
        None,
        description="stable category for counting: not_json, invalid, too_old, too_new, "
        "too_large, no_key, bad_key, key_mismatch, ...",
    )
    raw_size: Annotated[int, Field(ge=0)] | None = Field(
        None,
        description="size in bytes of the offending bytes when raw holds only a prefix of "
        "them (they were over the dead-letter bound); null when raw is complete",
    )
    raw_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        None, description="hex SHA-256 of the whole offending bytes when raw is a prefix"
    )


#: Kind name -> model; the kind name is also the schema file name.
KINDS: dict[str, type[BaseModel]] = {
    "rack_power": RackPower,
    "power_wave": PowerWave,
    "gpu": GpuSample,
    "link": LinkCounters,
    "site_spec": SiteSpec,
    "alert": Alert,
    "deadletter": DeadLetter,
    "facility": FacilityPower,
    "work": WorkCounter,
    "job": JobSpec,
    "dr_event": DemandResponse,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every kind, as written to ``schemas/<kind>.json``."""
    out = {}
    for kind, model in KINDS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[kind] = schema
    return out


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
