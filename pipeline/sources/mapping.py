"""The agent's mapping file (``--map FILE``): where the devices a site runs belong.

One YAML file, three optional sections, one per kind of source::

    hosts:                  # dcgm-exporter: exporter host label -> rack (and host id)
      gpu-node-01: {rack: r12}
      gpu-node-02: {rack: r12, host: n02}
    racks:                  # redfish: device Id or @odata.id -> rack
      "1": r12
      /redfish/v1/Chassis/1U: r07
    links:                  # netdev: interface; rdma: device/port
      eth0: {link: atl-wis-1, class: wan, peer: wis-1}
      mlx5_0/1: {link: atl-spine-3, class: fabric}

Unmapped GPU hosts and Redfish devices keep their own names; unmapped interfaces are
ignored (a host has loopbacks, bridges and container veths that are no site link).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError, yaml_error

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9._:-]")
LINK_CLASSES = ("fabric", "wan")


def as_id(name: str, fallback: str = "unknown") -> str:
    """A device name as a contract id: other characters become '-', at most 64."""
    return _BAD_ID_CHARS.sub("-", name)[:64] or fallback


@dataclass(frozen=True)
class HostPlace:
    rack: str
    host: str | None = None


@dataclass(frozen=True)
class LinkPlace:
    link: str
    link_class: str
    peer: str | None = None


@dataclass(frozen=True)
class Mapping:
    hosts: dict[str, HostPlace] = field(default_factory=dict)
    racks: dict[str, str] = field(default_factory=dict)
    links: dict[str, LinkPlace] = field(default_factory=dict)


def load_mapping(path: Path | None) -> Mapping:
    """The mapping in ``path`` (an empty mapping for None); ConfigError names the entry."""
    if path is None:
        return Mapping()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"--map {path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--map {path}: not UTF-8 text (expected a YAML file)") from None
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc, "--map ") from None
    return parse_mapping(data, path)


def parse_mapping(data: Any, path: Path) -> Mapping:
    """The mapping in ``data`` (the file's YAML, read from ``path``)."""
    if not isinstance(data, dict) or set(data) - {"hosts", "racks", "links"}:
        raise ConfigError(f"--map {path}: expected a mapping with hosts:, racks: and/or links:")
    racks = _section(path, data, "racks")
    return Mapping(
        hosts={str(k): _host(path, k, v) for k, v in _section(path, data, "hosts").items()},
        racks={str(k): _id(path, f"racks.{k}", v) for k, v in racks.items()},
        links={str(k): _link(path, k, v) for k, v in _section(path, data, "links").items()},
    )


def _section(path: Path, data: dict[str, Any], name: str) -> dict[Any, Any]:
    section = data.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"--map {path}: {name}: must be a mapping of name -> place")
    return section


def _id(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str | int) or not _ID.match(str(value)):
        raise ConfigError(
            f"--map {path}: {where}: {value!r} is not an id (1-64 of A-Z a-z 0-9 . _ : -)"
        )
    return str(value)


def _host(path: Path, name: Any, value: Any) -> HostPlace:
    if isinstance(value, str):
        return HostPlace(_id(path, f"hosts.{name}", value))
    if not isinstance(value, dict) or "rack" not in value:
        raise ConfigError(f"--map {path}: hosts.{name}: expected {{rack: ID, host: ID}}")
    host = value.get("host")
    return HostPlace(
        _id(path, f"hosts.{name}.rack", value["rack"]),
        None if host is None else _id(path, f"hosts.{name}.host", host),
    )


def _link(path: Path, name: Any, value: Any) -> LinkPlace:
    if not isinstance(value, dict) or "link" not in value:
        raise ConfigError(f"--map {path}: links.{name}: expected {{link: ID, class: fabric|wan}}")
    link_class = value.get("class", "fabric")
    if link_class not in LINK_CLASSES:
        raise ConfigError(f"--map {path}: links.{name}.class: {link_class!r} is not fabric or wan")
    peer = value.get("peer")
    return LinkPlace(
        _id(path, f"links.{name}.link", value["link"]),
        link_class,
        None if peer is None else _id(path, f"links.{name}.peer", peer),
    )
