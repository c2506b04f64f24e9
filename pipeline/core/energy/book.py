"""Energy at ingest: the integration state of a message key and the rows it adds.

Each :class:`pipeline.core.site.SiteMonitor` (a message key: ``SITE``, or one shard
``SITE/SHARD``, where its GPU and rack samples are) holds a :class:`SiteEnergy`, so the
state moves with its partition and is forgotten with it. The
:class:`pipeline.core.processor.Processor` holds the fleet's :class:`EnergyBook` (the job
map and the rules that read the state) and makes one call per message, getting the extra
columns of its rows back:

* GPU samples (:meth:`EnergyBook.gpu_columns`): job, tenant and priority (the sample's
  own, else the job map's: :class:`pipeline.core.energy.jobs.JobBook`), the clock-event
  reasons, and the interval each sample closes (:mod:`pipeline.core.energy.integrate`):
  known seconds and joules, gap seconds and unknown joules, the reasons held over it;
* rack power (:meth:`SiteEnergy.rack_columns`): the rack's power domains (its leaf's path
  from the top, ``feed-a/hall-1/row-3``) and the same interval columns;
* facility meters and work counters (:meth:`SiteEnergy.facility_columns`,
  :meth:`SiteEnergy.work_columns`).

The store rolls those rows up per hour with materialized views (``sql/migrations/``),
so per-job, per-tenant, per-site energy is a sum over hourly rows at query time, never an
integration over raw samples. The state is soft, like all live state: after a restart or
a partition move each entity's first reading opens its series again (the interval before
it is not counted, neither as known nor as unknown; the rack PDUs' energy shows it as
unattributed). On the tick, :meth:`EnergyBook.evaluate` runs the rules of the
``DOMAIN_PRIORITIES`` scope (``priority_inversion``) on one key's GPUs. Pure.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.core.alert_book import AlertBook
from pipeline.core.columnar import or_empty
from pipeline.core.domains import NO_LEAF, DomainTree
from pipeline.core.energy.capping import DEFAULT_PRIORITIES, rank_of
from pipeline.core.energy.integrate import Integrator, Steps
from pipeline.core.energy.jobs import JobBook
from pipeline.core.energy.priorities import count_classes
from pipeline.core.energy.work import WorkCounters
from pipeline.core.policy import SitePolicy
from pipeline.core.rules.registry import registry
from pipeline.core.rules.scopes import DOMAIN_PRIORITIES
from pipeline.events import Alert, SiteSpec

Columns = list[list[Any]]
_RACK, _CLASS = 0, 1  # the GPU state's tags


class SiteEnergy:
    """The integration state of one message key (a site, or one shard of it)."""

    __slots__ = (
        "_codes",
        "_paths",
        "classes",
        "gpus",
        "meters",
        "rack_names",
        "racks",
        "tree",
        "work",
    )

    def __init__(self) -> None:
        self.gpus = Integrator(tags=2)
        self.racks = Integrator()
        self.meters = Integrator()
        self.work = WorkCounters()
        self.rack_names: list[str] = []
        self._codes: dict[str, int] = {}  # rack -> code
        self.classes: dict[str | None, int] = {None: 0, "": 0}  # priority class -> code
        self.tree: DomainTree | None = None
        self._paths: dict[str, str] = {}  # rack -> its domains, for the current tree

    def rack_codes(self, racks: Sequence[str]) -> np.ndarray:
        codes = list(map(self._codes.get, racks))
        if None in codes:
            for i, code in enumerate(codes):
                if code is None:
                    codes[i] = self._codes.get(racks[i])
                    if codes[i] is None:
                        codes[i] = self._codes[sys.intern(racks[i])] = len(self.rack_names)
                        self.rack_names.append(racks[i])
        return np.array(codes, np.int32)

    def class_codes(self, classes: Sequence[str | None]) -> np.ndarray:
        """Each class's code (0: none), new classes getting the next codes."""
        known = self.classes
        codes = list(map(known.get, classes))
        if None in codes:
            for i, code in enumerate(codes):
                if code is None:
                    codes[i] = known.setdefault(classes[i], max(known.values()) + 1)
        return np.array(codes, np.int32)

    def domains_of(self, racks: Sequence[str], tree: DomainTree | None) -> list[str]:
        """Each rack's domain path (top first, ``/``-joined; '' without a leaf)."""
        if tree is None:
            return [""] * len(racks)
        if tree is not self.tree:
            self.tree, self._paths = tree, {}
        paths = self._paths
        out = list(map(paths.get, racks))
        if None in out:
            for i, path in enumerate(out):
                if path is None:
                    out[i] = paths[racks[i]] = _path(tree, tree.leaf_of(racks[i]))
        return out  # type: ignore[return-value]

    def sweep(self, cutoff_ms: int) -> int:
        """Drop entities silent since ``cutoff_ms`` (forget_after); how many GPUs went."""
        self.racks.forget_older_than(cutoff_ms)
        self.meters.forget_older_than(cutoff_ms)
        self.work.forget_older_than(cutoff_ms)
        return self.gpus.forget_older_than(cutoff_ms)

    # --- per message -------------------------------------------------------------------
    def rack_columns(
        self,
        racks: list[str],
        stamps: list[int],
        watts: list[float],
        max_gap_ms: int,
        tree: DomainTree | None,
    ) -> Columns:
        """domains, then the interval columns (:data:`pipeline.core.rows.RACK_ENERGY_COLUMNS`)."""
        steps = self.racks.step(
            self.racks.slots(racks), np.array(stamps, np.int64), np.array(watts), max_gap_ms
        )
        return [self.domains_of(racks, tree), *_interval_columns(steps)]

    def facility_columns(
        self, meters: list[str], stamps: list[int], watts: list[float], max_gap_ms: int
    ) -> Columns:
        """The interval columns of facility meter readings."""
        steps = self.meters.step(
            self.meters.slots(meters), np.array(stamps, np.int64), np.array(watts), max_gap_ms
        )
        return _interval_columns(steps)

    def work_columns(
        self, keys: list[tuple[str, str, str, str]], stamps: list[int], totals: list[float]
    ) -> Columns:
        """delta, baseline, reset of work counter readings."""
        deltas = self.work.step(keys, stamps, totals)
        return [deltas.delta, deltas.baseline, deltas.reset]


def _path(tree: DomainTree, leaf: int) -> str:
    names: list[str] = []
    at: int | None = None if leaf == NO_LEAF else leaf
    while at is not None:
        domain = tree.domains[at]
        names.append(domain.limits.domain or "")
        at = domain.parent
    return "/".join(reversed(names))


def _interval_columns(steps: Steps) -> Columns:
    return [
        steps.interval_s.tolist(),
        steps.energy_j.tolist(),
        steps.gap_s.tolist(),
        steps.unknown_j.tolist(),
    ]


class EnergyBook:
    """The fleet's job map and the rules that read the GPUs' state; the state itself is
    each key's :class:`SiteEnergy`."""

    def __init__(self, jobs: JobBook | None = None) -> None:
        self.jobs = jobs if jobs is not None else JobBook()
        self.rules = registry().rules_of(DOMAIN_PRIORITIES)

    # --- per message -------------------------------------------------------------------
    def gpu_columns(
        self, site: str, state: SiteEnergy, got: dict[str, list[Any]], max_gap_ms: int
    ) -> tuple[Columns, Columns]:
        """(job, tenant, priority, clock_reasons; the interval columns and held_reasons:
        :data:`pipeline.core.rows.GPU_ENERGY_COLUMNS`) of a message of ``site``'s GPU
        samples, integrated in ``state``."""
        hosts, gpus, stamps = got["host"], got["gpu"], got["ts"]
        jobs, tenants, classes = self.jobs.label(
            site, hosts, gpus, stamps, (got["job"], got["tenant"], got["priority"])
        )
        reasons = got["clock_reasons"]
        bits = np.array([r or 0 for r in reasons] if None in reasons else reasons, np.uint64)
        slots = state.gpus.pair_slots(hosts, gpus)
        steps = state.gpus.step(
            slots,
            np.array(stamps, np.int64),
            np.array(got["power_w"], np.float64),
            max_gap_ms,
            (bits & 0xFFFFFFFF).astype(np.uint32),
            (state.rack_codes(got["rack"]), state.class_codes(classes)),
        )
        labels = [or_empty(jobs), or_empty(tenants), or_empty(classes), reasons]
        return labels, [*_interval_columns(steps), steps.held_reasons.tolist()]

    # --- per tick ----------------------------------------------------------------------
    def evaluate(
        self,
        state: SiteEnergy,
        book: AlertBook,
        now_ms: int,
        policy: SitePolicy,
        tree: DomainTree | None,
        spec: SiteSpec | None,
        shard: str = "",
    ) -> list[Alert]:
        """The rules of the DOMAIN_PRIORITIES scope on the fresh GPUs of one key (of
        ``shard`` of the site, '' for a plain key)."""
        if not self.rules or len(state.classes) < 4:
            return []  # fewer than two classes ever seen: nothing to compare
        last_ts, reasons, tags = state.gpus.view()
        names = [""] * (max(state.classes.values()) + 1)
        for name, code in state.classes.items():
            if code:
                names[code] = name or ""
        priorities = spec.priorities if spec is not None and spec.priorities else DEFAULT_PRIORITIES
        subject = count_classes(
            last_ts,
            reasons,
            tags[_RACK],
            tags[_CLASS],
            state.rack_names,
            names,
            rank_of(priorities),
            tree,
            now_ms - policy.stale_after_ms,
            shard,
        )
        out: list[Alert] = []
        for evaluate in self.rules:
            out += evaluate(book, subject, now_ms, policy)
        return out
