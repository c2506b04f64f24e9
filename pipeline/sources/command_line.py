"""The agent's source options as one command line, from the kinds of the registry.

Kinds share options (``--site``, ``--interval``, ``--map``): :func:`option_lines` merges
them into one option each, whose help says which kinds take it (or what it means for
each, from the kinds' notes) and whose default is the kinds' one default;
:func:`refuse_misfits` names the kinds an option given on the command line is for.
Click-free, so that it is tested without the CLI (:mod:`pipeline.cli.agent_cmd` turns
the lines into click options).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.sources.kind import Param, SourceKind, SourceOptionError


@dataclass(frozen=True)
class OptionLine:
    """One command-line option (or argument) and the kinds that take it."""

    param: Param  # without a kind's note
    kinds: tuple[str, ...]
    default: Any
    help: str


def _plain(param: Param) -> Param:
    return dataclasses.replace(param, note="")


def _joined(names: Sequence[str]) -> str:
    return "/".join(names)


def _help(param: Param, uses: Sequence[tuple[str, Param]], every_kind: bool) -> str:
    notes: dict[str, list[str]] = {}
    for kind, use in uses:
        if use.note:
            notes.setdefault(use.note, []).append(kind)
    if notes:
        parts = "; ".join(f"{_joined(kinds)}: {note}" for note, kinds in notes.items())
        return f"{param.help} {parts}."
    if every_kind:
        return param.help
    return f"{_joined([kind for kind, _ in uses])}: {param.help}"


def option_lines(kinds: Sequence[SourceKind[Any]]) -> list[OptionLine]:
    """Every option of ``kinds``, once: those of every kind first, then in the order the
    kinds first name them.

    A flag must mean one thing: two kinds that declare it differently (other than by
    their notes), or with other defaults, are a mistake in the registry (TypeError)."""
    uses: dict[str, list[tuple[SourceKind[Any], Param]]] = {}
    for kind in kinds:
        for param in kind.all_params:
            uses.setdefault(param.flag, []).append((kind, param))
    lines = []
    for flag, found in uses.items():
        first_kind, first = found[0]
        for kind, param in found[1:]:
            if _plain(param) != _plain(first) or kind.default(param) != first_kind.default(first):
                raise TypeError(f"{flag}: {kind.name} and {first_kind.name} declare it apart")
        default = first_kind.default(first)
        lines.append(
            OptionLine(
                _plain(first),
                tuple(kind.name for kind, _ in found),
                None if default is dataclasses.MISSING else default,
                _help(first, [(k.name, p) for k, p in found], len(found) == len(kinds)),
            )
        )
    lines.sort(key=lambda line: len(line.kinds) < len(kinds))  # stable: keeps the order
    return lines


def refuse_misfits(
    kind: SourceKind[Any], lines: Collection[OptionLine], given: Collection[str]
) -> None:
    """Options given on the command line (their fields in ``given``) that ``kind`` does
    not take: one usage error naming the kinds that do."""
    for line in lines:
        if line.param.field in given and kind.name not in line.kinds:
            takers = list(line.kinds)
            alternatives = takers[0] if len(takers) == 1 else ", ".join(takers[:-1])
            if len(takers) > 1:
                alternatives += f" or {takers[-1]}"
            raise SourceOptionError(
                f"{line.param.flag} is for --source {alternatives} (not {kind.name})"
            )
