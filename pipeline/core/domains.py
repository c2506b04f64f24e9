"""Power domains: the tree of feeds, halls and rows below a site, each with its own cap.

A site spec may declare domains (:class:`pipeline.events.PowerDomain`); a domain lists
either child domains or racks (names or globs), so racks map to *leaf* domains and a
parent's power is the sum of its children's. :func:`tree_problems` checks a declared
tree (``megawatch sites apply`` refuses one with problems, one line each);
:class:`DomainTree` is the checked tree as the worker evaluates it.

Per reading nothing here runs: a rack's leaf is resolved the first time a snapshot sees
the rack (globs tried once) and cached, so a snapshot pays one dict lookup per rack.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from pipeline.core.policy import CapLimits
from pipeline.events import PowerDomain, SiteSpec

logger = logging.getLogger(__name__)

#: Leaf index of a rack that matches no leaf domain.
NO_LEAF = -1
_GLOB_CHARS = frozenset("*?[")


def tree_problems(spec: SiteSpec) -> tuple[list[str], list[str]]:
    """(problems, notes) of a spec's domain tree, one line each.

    Problems: the structural ones (:func:`structure_problems`), and children's caps
    summing above their parent's (or the top domains' above the site's) without
    ``oversubscribe: true``. Notes: the ratio of every oversubscription allowed.
    """
    domains = spec.domains or ()
    problems = structure_problems(spec.site, domains)
    notes: list[str] = []
    by_name = {d.name: d for d in domains}
    children_of_any = {c for d in domains for c in d.children or ()}
    roots = [d for d in domains if d.name not in children_of_any]
    levels = [(f"site {spec.site}", spec.cap_mw, spec.oversubscribe, roots)]
    levels += [
        (f"domain {d.name}", d.cap_mw, d.oversubscribe, [by_name[c] for c in d.children or ()])
        for d in domains
        if d.children and all(c in by_name for c in d.children)
    ]
    for label, cap_mw, allowed, children in levels:
        total = sum(c.cap_mw for c in children)
        if total <= cap_mw * (1 + 1e-9):
            continue
        ratio = f"{total:g} MW against {cap_mw:g} MW, {total / cap_mw:.2f}x"
        if allowed:
            notes.append(f"site {spec.site}: {label} is oversubscribed: children's caps {ratio}")
        else:
            problems.append(
                f"site {spec.site}: children's caps of {label} sum above its cap "
                f"({ratio}); set oversubscribe: true if that is on purpose"
            )
    return problems, notes


def structure_problems(site: str, domains: Sequence[PowerDomain]) -> list[str]:
    """A name declared twice, an unknown child, a domain with both children and racks
    (or neither), a domain under two parents, a cycle, a rack listed in two leaves."""
    problems: list[str] = []
    names = [d.name for d in domains]
    by_name = {d.name: d for d in domains}
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"site {site}: domain {name} is declared twice")
    parent_of: dict[str, str] = {}
    for d in domains:
        if bool(d.children) == bool(d.racks):
            problems.append(
                f"site {site}: domain {d.name} needs either children or racks, not "
                f"{'both' if d.children else 'neither'}"
            )
        for child in d.children or ():
            if child not in by_name:
                problems.append(f"site {site}: domain {d.name} has unknown child {child}")
            elif child in parent_of:
                both = f"{parent_of[child]} and {d.name}"
                problems.append(f"site {site}: domain {child} is a child of both {both}")
            else:
                parent_of[child] = d.name
    problems += _cycles(site, by_name)
    problems += _racks_in_two_leaves(site, domains)
    return problems


def _cycles(site: str, by_name: dict[str, PowerDomain]) -> list[str]:
    """One line per cycle of child links (depth-first; trees are a few levels deep)."""
    out: list[str] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        path.append(name)
        for child in by_name[name].children or ():
            if child in path:
                loop = [*path[path.index(child) :], child]
                out.append(f"site {site}: domains form a cycle: {' -> '.join(loop)}")
            elif child in by_name and child not in done:
                visit(child)
        path.pop()
        done.add(name)

    for name in by_name:
        if name not in done:
            visit(name)
    return out


def _racks_in_two_leaves(site: str, domains: Sequence[PowerDomain]) -> list[str]:
    """Racks listed by name in two leaves, or named in one leaf and matched by another's
    glob; two globs that may overlap are only found at run time (first leaf wins)."""
    owner: dict[str, str] = {}
    out = []
    for d in domains:
        for rack in d.racks or ():
            if _GLOB_CHARS.isdisjoint(rack):
                if rack in owner and owner[rack] != d.name:
                    leaves = f"{owner[rack]}, {d.name}"
                    out.append(f"site {site}: rack {rack} is in two leaves: {leaves}")
                owner.setdefault(rack, d.name)
    for d in domains:
        for pattern in d.racks or ():
            if _GLOB_CHARS.isdisjoint(pattern):
                continue
            for rack, leaf in owner.items():
                if leaf != d.name and fnmatchcase(rack, pattern):
                    out.append(
                        f"site {site}: rack {rack} is in two leaves: {leaf}, {d.name} ({pattern})"
                    )
    return out


@dataclass(frozen=True, slots=True)
class Domain:
    """One domain of a checked tree; ``parent`` is an index into the tree's domains."""

    limits: CapLimits
    parent: int | None
    leaf: bool
    racks_expected: int


class DomainTree:
    """A site's checked domain tree, in an order where every child precedes its parent
    (so sums roll up in one pass), and the rack -> leaf cache."""

    __slots__ = ("_exact", "_leaf_of", "_patterns", "domains", "leaf_index", "source")

    def __init__(self, site: str, spec_domains: tuple[PowerDomain, ...], warn_ratio: float):
        self.source = spec_domains  # the spec's tuple: a new spec means a new tree
        order = _children_first(spec_domains)
        index = {d.name: i for i, d in enumerate(order)}
        parent_of = {c: index[d.name] for d in order for c in d.children or ()}
        self.domains: tuple[Domain, ...] = tuple(
            Domain(
                limits=CapLimits(
                    site,
                    d.name,
                    d.cap_mw * 1e6,
                    d.cap_mw * 1e6 * (d.warn_ratio or warn_ratio),
                    d.warn_ratio or warn_ratio,
                ),
                parent=parent_of.get(d.name),
                leaf=not d.children,
                racks_expected=d.racks_expected or 0,
            )
            for d in order
        )
        #: leaf name -> its index: how a site stage places the leaves of a shard's partial
        self.leaf_index = {d.name: index[d.name] for d in order if not d.children}
        # Exact names in one dict, globs tried in declaration order (first leaf wins).
        self._patterns: list[tuple[str, int]] = []
        self._exact: dict[str, int] = {}
        self._leaf_of: dict[str, int] = {}  # racks seen -> leaf: the cache
        for d in spec_domains:
            for rack in d.racks or ():
                if _GLOB_CHARS.isdisjoint(rack):
                    self._exact.setdefault(rack, index[d.name])
                else:
                    self._patterns.append((rack, index[d.name]))

    @classmethod
    def of_domains(
        cls, site: str, domains: tuple[PowerDomain, ...], warn_ratio: float
    ) -> DomainTree | None:
        """The checked tree, or None when its structure has problems (logged: the site
        is then evaluated against its own cap only). Caps that sum above a parent's are
        refused by ``sites apply`` but evaluated here: each cap is still a real limit."""
        problems = structure_problems(site, domains)
        if problems:
            logger.error("power domains of site %s ignored: %s", site, problems[0])
            return None
        return cls(site, domains, warn_ratio)

    def __len__(self) -> int:
        return len(self.domains)

    def leaf_of(self, rack: str) -> int:
        """The leaf index of ``rack`` (:data:`NO_LEAF` when no leaf claims it), cached."""
        leaf = self._leaf_of.get(rack)
        if leaf is None:
            leaf = self._exact.get(rack)
            if leaf is None:
                matches = (i for pattern, i in self._patterns if fnmatchcase(rack, pattern))
                leaf = next(matches, NO_LEAF)
            self._leaf_of[rack] = leaf
        return leaf

    def cached_leaves(self) -> dict[str, int]:
        """The rack -> leaf cache itself, for a snapshot's loop (misses: :meth:`leaf_of`)."""
        return self._leaf_of

    def forget(self, racks: Iterable[str]) -> None:
        """Drop the cached leaves of forgotten racks: memory follows the live racks."""
        for rack in racks:
            self._leaf_of.pop(rack, None)


def _children_first(domains: tuple[PowerDomain, ...]) -> list[PowerDomain]:
    by_name = {d.name: d for d in domains}
    order: list[PowerDomain] = []
    placed: set[str] = set()

    def place(d: PowerDomain) -> None:
        if d.name in placed:
            return
        placed.add(d.name)
        for child in d.children or ():
            place(by_name[child])
        order.append(d)

    for d in domains:
        place(d)
    return order
