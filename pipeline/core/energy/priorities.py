"""Capped GPUs by power domain and priority class: what ``priority_inversion`` reads.

From the live GPU state (:class:`pipeline.core.energy.integrate.Integrator`: each GPU's
last reading, its rack and priority class as tags) and the site's power tree, every
power domain gets, per priority class, how many of its GPUs are fresh (a reading within
the staleness window) and how many of those are capped (:mod:`.capping`).

Only GPUs under the same lowest cap are compared: each leaf domain's racks, and the racks
no leaf claims (directly under the site's cap; the whole site when it declares no
domains). A parent domain is not a group of its own: inference capped in one hall and
training free in another is no inversion when each hall's own cap is what binds, and
which cap binds is not known here. Vectorized: one ``bincount`` per tick, whatever the
GPU count. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.core.domains import NO_LEAF, DomainTree
from pipeline.core.energy.capping import CAPPED


@dataclass(frozen=True, slots=True)
class ClassCount:
    """One priority class in one domain."""

    priority: str
    rank: int  # 0: the highest
    gpus: int  # fresh
    capped: int
    reasons: int  # the power reasons seen among its capped GPUs (OR)

    @property
    def share(self) -> float:
        return self.capped / self.gpus if self.gpus else 0.0


@dataclass(frozen=True, slots=True)
class DomainClasses:
    """A leaf power domain (``name`` None: the racks directly under the site's cap) and
    its classes."""

    name: str | None
    classes: tuple[ClassCount, ...]


@dataclass(frozen=True, slots=True)
class DomainPriorities:
    """Every leaf domain, then the site's own racks (with or without fresh GPUs), as the
    GPUs of one message key see them: ``shard`` of the site ('' for a plain key)."""

    domains: tuple[DomainClasses, ...]
    shard: str = ""


def count_classes(
    last_ts: np.ndarray,
    reasons: np.ndarray,
    rack_code: np.ndarray,
    class_code: np.ndarray,
    rack_names: Sequence[str],
    class_names: Sequence[str],
    ranks: dict[str, int],
    tree: DomainTree | None,
    fresh_after_ms: int,
    shard: str = "",
) -> DomainPriorities:
    """The subject of one tick. ``class_code`` 0 means no class (left out); code ``c``
    names ``class_names[c]``; a class not in ``ranks`` ranks below every listed one."""
    n_classes = len(class_names)
    fresh = (last_ts >= fresh_after_ms) & (class_code > 0)
    is_capped = fresh & ((reasons & CAPPED) != 0)
    domains = len(tree) if tree is not None else 0
    if tree is not None:
        leaf_of_rack = np.array([tree.leaf_of(r) for r in rack_names] or [NO_LEAF], np.int64)
        leaf = leaf_of_rack[rack_code]
        leaf = np.where(leaf == NO_LEAF, domains, leaf)  # the site's own bucket
    else:
        leaf = np.zeros(len(last_ts), np.int64)
    cells = (domains + 1) * n_classes
    index = leaf * n_classes + class_code
    total = np.bincount(index, weights=fresh, minlength=cells).reshape(domains + 1, n_classes)
    capped = np.bincount(index, weights=is_capped, minlength=cells).reshape(domains + 1, n_classes)
    seen = np.zeros((domains + 1, n_classes), np.uint64)
    if is_capped.any():
        np.bitwise_or.at(
            seen, (leaf[is_capped], class_code[is_capped]), reasons[is_capped] & CAPPED
        )
    names: list[str | None] = [d.limits.domain for d in tree.domains] if tree is not None else []
    names.append(None)
    leaves = [d.leaf for d in tree.domains] if tree is not None else []
    leaves.append(True)
    lowest = max(ranks.values(), default=-1) + 1
    out = []
    for row, name in enumerate(names):
        if not leaves[row]:
            continue
        classes = tuple(
            ClassCount(
                class_names[c],
                ranks.get(class_names[c], lowest),
                int(total[row, c]),
                int(capped[row, c]),
                int(seen[row, c]),
            )
            for c in range(1, n_classes)
            if total[row, c] > 0
        )
        out.append(DomainClasses(name, classes))  # empty too: a held alert resolves
    return DomainPriorities(tuple(out), shard)
