"""The fleet file: site specs plus what the simulator builds at each site.

YAML with three top-level keys (a sample is ``examples/fleet.yaml``)::

    sites:        # exactly the SiteSpec shape of pipeline/events.py (control.sites);
      - {site: inf-fra-1, cap_mw: 5.0, region: eu-central}   # `megawatch sites apply`
    simulation:   # per site: profile, racks per platform, reserve racks, ...
      inf-fra-1: {profile: inference, racks: {GB200: 34, B200: 7, MI300X: 5}}
    wan:          # WAN links between sites (each end reports its own egress link)
      - [inf-fra-1, train-dfw-1]

``sites`` is kept in the SiteSpec shape on purpose, so that the same file feeds both the
simulator and ``megawatch sites apply FILE`` (:func:`pipeline.sites.load_specs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.core.decode import describe_validation_error
from pipeline.errors import ConfigError, yaml_error
from pipeline.events import Id, SiteSpec
from pipeline.sources.sim.hardware import PLATFORMS, Platform

#: A 1 GW campus is ~7,600 racks (examples/campus-1gw.yaml).
MAX_RACKS_PER_SITE = 10_000


class SiteSim(BaseModel):
    """How one site is simulated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Literal["inference", "training"]
    racks: dict[str, Annotated[int, Field(ge=0, le=MAX_RACKS_PER_SITE)]] = Field(
        description="platform name (H100, H200, B200, GB200, MI300X, Gaudi3) -> rack count"
    )
    reserve_racks: Annotated[int, Field(ge=0)] = Field(
        0, description="racks installed but idle in steady state; cap-breach brings them up"
    )
    jobs: Annotated[int, Field(ge=1, le=64)] = Field(
        2, description="training: concurrent jobs sharing the active racks"
    )
    utc_offset_h: Annotated[float, Field(ge=-12, le=14)] = Field(
        0.0, description="inference: local time of the daily demand shape"
    )
    fabric_pps: Annotated[float, Field(gt=0, le=1e9)] = 2.0e6  # per rack uplink, full load
    wan_pps: Annotated[float, Field(gt=0, le=1e9)] = 4.0e6  # per WAN link, full load
    halls: Annotated[int, Field(ge=1, le=256)] = Field(
        1,
        description="racks split evenly into this many halls (racks hNN-rNNNN); with more "
        "than one, messages are keyed by hall: SITE/hall-NN (a site spread over partitions)",
    )
    rows_per_hall: Annotated[int, Field(ge=1, le=64)] = Field(
        1,
        description="with more than one, messages are keyed by row instead: "
        "SITE/hall-NN.row-N (more shards than partitions spread more evenly)",
    )

    @model_validator(mode="after")
    def _check_racks(self) -> SiteSim:
        unknown = sorted(set(self.racks) - set(PLATFORMS))
        if unknown:
            raise ValueError(f"unknown platform {unknown[0]!r}; known: {', '.join(PLATFORMS)}")
        if self.rack_count < 1:
            raise ValueError("a site needs at least one rack")
        if self.reserve_racks >= self.rack_count:
            raise ValueError("reserve_racks must be fewer than the racks of the site")
        if self.halls * self.rows_per_hall > self.rack_count:
            raise ValueError("halls x rows_per_hall must be at most the racks of the site")
        return self

    def scaled(self, factor: float) -> SiteSim:
        """The same site with ``factor`` of its racks (at least one per platform)."""
        racks = {name: max(1, round(n * factor)) for name, n in self.racks.items() if n}
        total = sum(racks.values())
        return self.model_copy(
            update={
                "racks": racks,
                "reserve_racks": min(round(self.reserve_racks * factor), total - 1),
                "halls": min(self.halls, total),
                "rows_per_hall": max(1, min(self.rows_per_hall, total // min(self.halls, total))),
            }
        )

    @property
    def rack_count(self) -> int:
        return sum(self.racks.values())

    def platforms(self) -> list[Platform]:
        """The platform of every rack, in rack order."""
        return [PLATFORMS[name] for name, count in self.racks.items() for _ in range(count)]

    def max_w(self) -> float:
        return sum(p.max_w() for p in self.platforms())


class Fleet(BaseModel):
    """A whole fleet file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sites: list[SiteSpec] = Field(min_length=1)
    simulation: dict[Id, SiteSim]
    wan: list[tuple[Id, Id]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_consistent(self) -> Fleet:
        names = [spec.site for spec in self.sites]
        if len(set(names)) != len(names):
            raise ValueError("a site appears twice under sites")
        missing = [name for name in names if name not in self.simulation]
        if missing:
            raise ValueError(f"site {missing[0]!r} has no entry under simulation")
        extra = sorted(set(self.simulation) - set(names))
        if extra:
            raise ValueError(f"simulation entry {extra[0]!r} is not listed under sites")
        for a, b in self.wan:  # one end may be a site simulated (or real) elsewhere
            if a == b or (a not in self.simulation and b not in self.simulation):
                raise ValueError(f"wan link [{a}, {b}] must join a listed site to another site")
        return self

    def spec(self, site: str) -> SiteSpec:
        for spec in self.sites:
            if spec.site == site:
                return spec
        raise KeyError(site)

    def site_specs(self) -> list[SiteSpec]:
        """The specs to publish on control.sites (``megawatch sites apply``)."""
        return list(self.sites)

    def peers(self, site: str) -> list[str]:
        """Sites this site has a WAN link to, in file order."""
        out = [b for a, b in self.wan if a == site] + [a for a, b in self.wan if b == site]
        return list(dict.fromkeys(out))

    def only(self, names: list[str]) -> Fleet:
        """The fleet restricted to ``names``; their WAN links to other sites are kept
        (the far end may be simulated by another agent)."""
        unknown = [name for name in names if name not in self.simulation]
        if unknown:
            known = ", ".join(spec.site for spec in self.sites)
            raise ConfigError(f"--site {unknown[0]}: not in the fleet (sites: {known})")
        return Fleet(
            sites=[spec for spec in self.sites if spec.site in names],
            simulation={k: v for k, v in self.simulation.items() if k in names},
            wan=[(a, b) for a, b in self.wan if a in names or b in names],
        )

    def scaled(self, factor: float) -> Fleet:
        """The fleet at ``factor`` of its size (``--scale``): racks, caps and expected
        racks of every site and power domain; a fraction of a 1 GW campus keeps its
        proportions (halls, feeds, racks per hall)."""
        if factor == 1:
            return self
        return Fleet(
            sites=[_scaled_spec(spec, factor) for spec in self.sites],
            simulation={k: v.scaled(factor) for k, v in self.simulation.items()},
            wan=self.wan,
        )

    def to_yaml(self) -> str:
        doc: dict[str, Any] = {
            "sites": [spec.model_dump(mode="json", exclude_none=True) for spec in self.sites],
            "simulation": {k: v.model_dump(mode="json") for k, v in self.simulation.items()},
            "wan": [list(pair) for pair in self.wan],
        }
        return yaml.safe_dump(doc, sort_keys=False, width=100)


def _scaled_spec(spec: SiteSpec, factor: float) -> SiteSpec:
    doc = spec.model_dump(mode="json", exclude_none=True)
    doc["cap_mw"] = spec.cap_mw * factor
    if spec.racks_expected:
        doc["racks_expected"] = max(1, round(spec.racks_expected * factor))
    for domain in doc.get("domains", ()):
        domain["cap_mw"] *= factor
        if domain.get("racks_expected"):
            domain["racks_expected"] = max(1, round(domain["racks_expected"] * factor))
    return SiteSpec.model_validate(doc)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read fleet file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc, "fleet file ") from None


def load_fleet(path: Path) -> Fleet:
    """Read and validate a fleet file; one-line :class:`ConfigError` naming the problem."""
    doc = _read_yaml(path)
    try:
        return Fleet.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(f"fleet file {path}: {describe_validation_error(exc)}") from None
