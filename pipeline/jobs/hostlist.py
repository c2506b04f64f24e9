"""Slurm hostlist expressions: ``gpu[001-004,010]``, ``tux[1,3-5],login1``,
``rack[1-2]-n[01-02]``.

As Slurm writes them (``scontrol show hostnames`` expands them the same way): a
comma-separated list of names, each with bracketed ranges; a range keeps the width of
its first bound (``[08-10]`` is 08, 09, 10; ``[8-10]`` is 8, 9, 10), and several bracket
groups in one name expand as their product, left to right. Pure.
"""

from __future__ import annotations

import re
from itertools import product

MAX_HOSTS = 100_000  # of one expression: what a job spec may hold
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class HostlistError(ValueError):
    """An expression Slurm would not write, with the part that is wrong."""


def expand(expression: str) -> list[str]:
    """Every host name of ``expression``, in order (duplicates kept out)."""
    names: list[str] = []
    seen: set[str] = set()
    for part in _top_level(expression.strip()):
        for name in _expand_one(part):
            if name not in seen:
                seen.add(name)
                names.append(name)
                if len(names) > MAX_HOSTS:
                    raise HostlistError(f"{expression[:60]!r}: more than {MAX_HOSTS} hosts")
    return names


def _top_level(expression: str) -> list[str]:
    """Split at commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(expression):
        if char == "[":
            depth += 1
            if depth > 1:
                raise HostlistError(f"{expression!r}: nested brackets")
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"{expression!r}: ']' without '['")
        elif char == "," and depth == 0:
            parts.append(expression[start:i])
            start = i + 1
    if depth:
        raise HostlistError(f"{expression!r}: '[' without ']'")
    parts.append(expression[start:])
    return [p for p in (part.strip() for part in parts) if p]


def _expand_one(name: str) -> list[str]:
    pieces = re.split(r"(\[[^\]]*\])", name)
    choices = [_bracket(piece) if piece.startswith("[") else [piece] for piece in pieces]
    return ["".join(combo) for combo in product(*choices)]


def _bracket(piece: str) -> list[str]:
    out: list[str] = []
    for item in piece[1:-1].split(","):
        match = _RANGE.match(item.strip())
        if not match:
            raise HostlistError(f"{piece!r}: {item.strip()!r} is not a number or a range a-b")
        lo_text, hi_text = match.groups()
        lo, hi = int(lo_text), int(hi_text if hi_text is not None else lo_text)
        if hi < lo:
            raise HostlistError(f"{piece!r}: range {item.strip()} runs backwards")
        if hi - lo >= MAX_HOSTS:
            raise HostlistError(f"{piece!r}: range {item.strip()} is over {MAX_HOSTS} hosts")
        width = len(lo_text)
        out += [str(n).zfill(width) for n in range(lo, hi + 1)]
    return out
