"""What a source kind of ``megawatch agent`` is: its name, its options and its builder.

A kind (:class:`SourceKind`) declares the command-line options it takes (:class:`Param`:
flag, field, type, help) and a typed, frozen dataclass of them (a :class:`SourceOptions`
subclass, which also holds every option's default); its builder is named as
``"module:function"`` and imported only when a source is built, so that reading the
registry (:mod:`pipeline.sources.registry`) never imports the simulator, NVML or an
HTTP client. This module imports no command-line library: the CLI turns the params into
click options (:mod:`pipeline.cli.agent_cmd`).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pipeline.core.site_key import shard_problem
from pipeline.errors import ConfigError
from pipeline.sources.base import DEFAULT_BATCH_SIZE, ShardedSource

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.sources.base import Source


class SourceOptionError(ConfigError):
    """Options that do not fit the chosen kind; the CLI shows it as a usage error."""


@dataclass(frozen=True)
class Param:
    """One option a kind takes: ``--flag`` fills the options' ``field``.

    ``type`` is str, int, float, Path (a file; ``exists``: it must exist) or bool (a
    flag); ``low``/``high`` bound a number; ``parse`` reads a text value (its ValueError
    is the complaint); ``argument``: a positional argument rather than an option.
    ``note`` is what the option means for one kind (set with :meth:`noted` in that
    kind's list); the help joins the notes.
    """

    flag: str
    field: str
    help: str
    type: type = str
    multiple: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    exists: bool = False
    parse: Callable[[str], Any] | None = None
    argument: bool = False
    note: str = ""

    def noted(self, note: str) -> Param:
        return dataclasses.replace(self, note=note)


#: Taken by every kind (see :attr:`SourceKind.all_params`).
BATCH_SIZE = Param(
    "--batch-size",
    "batch_size",
    "Most events per message (one site, kind and tick may take several).",
    type=int,
    low=1,
    high=100_000,
)


def _shard(value: str) -> str:
    if shard_problem(f"site/{value}"):
        raise ValueError(
            f"{value!r} is not a shard: 1-64 characters of [A-Za-z0-9._:-] (a hall, a row)"
        )
    return value


#: Taken by every kind: key every message SITE/SHARD (pipeline.core.site_key).
SHARD = Param(
    "--shard",
    "shard",
    "Key messages SITE/SHARD (a hall, a row, a feed leaf): one agent per shard spreads a "
    "site too big for one worker over partitions (docs/scaling.md).",
    parse=_shard,
)


@dataclass(frozen=True, kw_only=True)
class SourceOptions:
    """The typed options of one kind; subclasses add theirs (field = :attr:`Param.field`)."""

    sites: tuple[str, ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    shard: str | None = None

    @property
    def site(self) -> str:
        """The one site of a kind that needs exactly one (checked by :meth:`SourceKind.build`)."""
        return self.sites[0]

    @property
    def paced(self) -> bool:
        """Send ticks at their due time (False: as fast as they come)."""
        return True


@dataclass(frozen=True)
class Printout:
    """What a build answers instead of a source: text to print, and nothing to run."""

    text: str


@dataclass(frozen=True)
class BuildContext:
    """What a builder gets besides its options."""

    kind: str  # the --source name, for messages and log labels
    settings: Settings


OptionsT = TypeVar("OptionsT", bound=SourceOptions)


@dataclass(frozen=True)
class SourceKind(Generic[OptionsT]):
    """One ``--source``: ``builder`` is ``"module:function"``, called as
    ``function(options, BuildContext)`` and returning a Source or a :class:`Printout`.
    ``one_site`` (why, e.g. "this host's site"): the kind needs exactly one ``--site``."""

    name: str
    summary: str
    options: type[OptionsT]
    params: tuple[Param, ...]
    builder: str
    one_site: str = ""
    details: str = ""  # a help section of its own (the simulator's scenarios)
    examples: tuple[str, ...] = ()

    @property
    def all_params(self) -> tuple[Param, ...]:
        return (*self.params, BATCH_SIZE, SHARD)

    def default(self, param: Param) -> Any:
        """The default of ``param``'s field as the options class declares it; MISSING:
        the kind needs it."""
        for f in dataclasses.fields(self.options):
            if f.name == param.field:
                if f.default_factory is not dataclasses.MISSING:
                    return f.default_factory()
                return f.default
        raise TypeError(f"{self.options.__name__} has no field {param.field!r} ({param.flag})")

    def options_from(self, values: Mapping[str, Any]) -> OptionsT:
        """This kind's options out of the parsed values of every kind (field -> value)."""
        for param in self.all_params:
            if self.default(param) is dataclasses.MISSING and values.get(param.field) is None:
                raise SourceOptionError(f"--source {self.name} needs {param.flag} ({param.help})")
        return self.options(**{p.field: values[p.field] for p in self.all_params})

    def build(self, options: OptionsT, settings: Settings) -> Source | Printout:
        """The source (imports the builder's module now), or what to print instead."""
        if self.one_site and len(options.sites) != 1:
            raise SourceOptionError(
                f"--source {self.name} needs exactly one --site ({self.one_site})"
            )
        module, _, attr = self.builder.partition(":")
        builder = getattr(importlib.import_module(module), attr)
        built: Source | Printout = builder(options, BuildContext(self.name, settings))
        if options.shard and not isinstance(built, Printout):
            return ShardedSource(built, options.shard)
        return built
