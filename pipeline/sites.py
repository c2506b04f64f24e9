"""Site specs: reading them from the compacted ``control.sites`` topic, and publishing.

``megawatch sites apply FILE.yaml`` validates every spec against
:class:`pipeline.events.SiteSpec` and its power domains (:func:`tree_problems`: cycles,
unknown children, a rack in two leaves, caps above the parent's) before publishing
anything (one bad spec publishes none), keyed by site. Workers read the topic as a
Faust GlobalTable; :class:`SpecCache` parses each value once, so a cap change takes
effect at the next evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline.core.decode import describe_validation_error
from pipeline.core.domains import tree_problems
from pipeline.core.rules.registry import registry
from pipeline.errors import ConfigError, yaml_error
from pipeline.events import SiteSpec

logger = logging.getLogger(__name__)


class SpecCache:
    """site -> SiteSpec, parsed from the raw table value and cached until it changes."""

    def __init__(self, raw_of: Callable[[str], bytes | None]) -> None:
        self.raw_of = raw_of
        self._parsed: dict[str, tuple[bytes, SiteSpec | None]] = {}

    def get(self, site: str) -> SiteSpec | None:
        raw = self.raw_of(site)
        if not raw:
            return None
        cached = self._parsed.get(site)
        if cached is not None and cached[0] == raw:
            return cached[1]
        spec: SiteSpec | None
        try:
            spec = SiteSpec.model_validate_json(raw)
        except ValidationError as exc:
            logger.error(
                "invalid spec for site %s in control.sites ignored: %s",
                site,
                describe_validation_error(exc),
            )
            spec = None
        if spec is not None and spec.site != site:
            logger.error("spec keyed %s names site %s: ignored", site, spec.site)
            spec = None
        self._parsed[site] = (raw, spec)
        return spec


def load_specs(path: Path) -> list[SiteSpec]:
    """Site specs from YAML: a list, or ``{sites: [...]}`` (the simulator's fleet file)."""
    try:
        doc = yaml.safe_load(_read_bounded(path))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text (expected a YAML file)") from None
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None
    items = doc.get("sites") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{path}: expected a list of site specs, or a 'sites:' list")
    specs = []
    for i, item in enumerate(items):
        fields = _spec_fields(item)
        try:
            specs.append(SiteSpec.model_validate(fields))
        except ValidationError as exc:
            raise ConfigError(f"{path}: site #{i + 1}: {describe_validation_error(exc)}") from None
        problem = spec_contradiction(specs[-1])
        if problem:
            raise ConfigError(f"{path}: site #{i + 1} ({specs[-1].site}): {problem}")
    names = [spec.site for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: site listed twice: {', '.join(duplicates)}")
    problems = [line for spec in specs for line in tree_problems(spec)[0]]
    if problems:
        raise ConfigError("\n".join(f"{path}: {line}" for line in problems))
    return specs


def spec_contradiction(spec: SiteSpec) -> str | None:
    """Two of the spec's own values that contradict each other (a warning level above
    its critical one: the parameters declare it with ``at_most``), or None."""
    for low, high in registry().ordered:
        low_value, high_value = low.spec_value(spec), high.spec_value(spec)
        if low_value is not None and high_value is not None and low_value > high_value:
            return f"{low.spec}={low_value:g} is above {high.spec}={high_value:g}"
    return None


#: A fleet file of thousands of sites is well under this; /dev/zero or a log file is not.
MAX_SPEC_FILE_BYTES = 8 * 1024 * 1024


def _read_bounded(path: Path) -> str:
    """The file's text, refusing one larger than :data:`MAX_SPEC_FILE_BYTES` (read at most
    that much: a device or pipe such as /dev/zero never ends)."""
    with path.open("rb") as handle:
        data = handle.read(MAX_SPEC_FILE_BYTES + 1)
    if len(data) > MAX_SPEC_FILE_BYTES:
        raise ConfigError(
            f"{path} is larger than {MAX_SPEC_FILE_BYTES // (1024 * 1024)} MiB: "
            "not a site spec file"
        )
    return data.decode("utf-8")


def domain_notes(specs: list[SiteSpec]) -> list[str]:
    """One line per power domain allowed to oversubscribe, with its ratio."""
    return [line for spec in specs for line in tree_problems(spec)[1]]


def _spec_fields(item: Any) -> Any:
    """A fleet file nests each site's spec under ``spec:``; a specs file lists them bare."""
    if isinstance(item, dict) and isinstance(item.get("spec"), dict):
        return item["spec"]
    return item
