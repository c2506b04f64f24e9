"""Parts of one event that arrive in different requests are joined here.

Prometheus shards a remote_write queue's series over several concurrent requests and
cuts batches at ``max_samples_per_send``, so a GPU's utilization and its power at one
scrape time (one event) may come in two requests. An event is sent once every part it
needs is there: its kind's required parts and the parts its entity showed before
(``learned``: a GPU that reported temperature waits for it). Until then its parts wait
here, at most ``window_s``; then it is sent with what it has if the required parts are
there (the entity stops waiting for the missing ones), else it is counted as
incomplete (by kind and missing part) and dropped.

Durability: the parts that wait belong to requests already answered, so every change is
appended to a log (:class:`pipeline.gateway.partial_log.PartialLog`) before the request
is answered, and a restarted gateway reloads it (the learned parts too, so that it waits
for the same parts as before). An event that became complete is
*claimed* by the request (or the sweep) that sends it, and marked done only once Kafka
acknowledged it; a failed send puts it back. A done key is remembered for the window,
so a retried request's parts of it are recognised as duplicates and not taken for a new
event. Events sent twice (a retry after a kill) are dropped by the worker, which stores
an event coming through the gateway once per identity (:mod:`pipeline.worker.identity`).

Pure but for the log it is given.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.gateway.mapper import Entity, JoinKey, Mapped
from pipeline.gateway.table import KINDS, Parts, build


class Log(Protocol):
    def append(self, record: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class Pending:
    ids: dict[str, Any]
    parts: Parts
    since: float  # wall-clock seconds: it survives a restart through the log
    claimed: bool = False


@dataclass
class Ready:
    """Events to send now; ``claimed`` are the waiting ones among them (settle them)."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (kind, event)
    claimed: list[JoinKey] = field(default_factory=list)


class Joiner:
    def __init__(self, window_s: float, log: Log | None = None) -> None:
        self.window_s = window_s
        self.log = log
        self.waiting: dict[JoinKey, Pending] = {}
        self.done: dict[JoinKey, float] = {}
        self.learned: dict[Entity, frozenset[str]] = {}
        self.duplicates = 0  # parts of events already sent
        self.incomplete: Counter[tuple[str, str]] = Counter()  # (kind, missing part)
        self.sent_late = 0  # sent at the end of the window without some learned part

    # --- a request ----------------------------------------------------------------------
    def absorb(self, mapped: Mapped, now: float) -> Ready:
        ready = Ready()
        for key, parts in mapped.groups.items():
            entity = key[:3]
            ids = mapped.ids[entity]
            self._learn(entity, self.learned.get(entity, frozenset()) | parts.keys())
            pending = self.waiting.get(key)
            if pending is None or pending.claimed:
                if self._complete(entity, parts):  # a whole event: sent (again if done)
                    ready.events.append((key[0], build(key[0], ids, key[3], parts)))
                elif key in self.done or pending is not None:
                    self.duplicates += len(parts)
                else:
                    self._wait(key, Pending(ids, dict(parts), now))
                continue
            pending.parts.update(parts)
            if self._complete(entity, pending.parts):
                self._claim(key, pending, ready)
            else:
                self._wait(key, pending)
        return ready

    def settle(self, claimed: list[JoinKey], sent: bool, now: float) -> None:
        """After the send of claimed events: done (acknowledged) or waiting again."""
        for key in claimed:
            pending = self.waiting.get(key)
            if pending is None:
                continue
            if sent:
                del self.waiting[key]
                self.done[key] = now
                self._log({"k": _key_out(key), "d": now})
            else:
                pending.claimed = False

    # --- the sweep (about once a second) ----------------------------------------------------
    def sweep(self, now: float) -> Ready:
        """Claim what is complete and unclaimed (a failed send) or out of time with its
        required parts; drop (counted) what is out of time without them; forget done
        keys older than the window."""
        ready = Ready()
        horizon = now - self.window_s
        for key, pending in list(self.waiting.items()):
            if pending.claimed:
                continue
            entity = key[:3]
            if self._complete(entity, pending.parts):
                self._claim(key, pending, ready)
            elif pending.since <= horizon:
                self._expire(key, entity, pending, ready, now)
        for key in [k for k, at in self.done.items() if at <= horizon]:
            del self.done[key]
        return ready

    def _expire(
        self, key: JoinKey, entity: Entity, pending: Pending, ready: Ready, now: float
    ) -> None:
        missing = KINDS[key[0]].missing(pending.parts)
        if not missing:
            # Sent without the learned parts that never came; the entity stops waiting
            # for them (an exporter whose counters changed).
            self._learn(entity, frozenset(pending.parts))
            self.sent_late += 1
            self._claim(key, pending, ready)
            return
        for part in sorted(missing):
            self.incomplete[(key[0], part)] += 1
        del self.waiting[key]
        self._log({"k": _key_out(key), "x": now})

    # --- helpers ------------------------------------------------------------------------
    def _complete(self, entity: Entity, parts: Parts) -> bool:
        if KINDS[entity[0]].missing(parts):
            return False
        return self.learned.get(entity, frozenset()) <= parts.keys()

    def _learn(self, entity: Entity, parts: frozenset[str]) -> None:
        """What the entity is expected to send; logged when it changes (rarely), so a
        restarted gateway waits for the same parts."""
        if self.learned.get(entity) != parts:
            self.learned[entity] = parts
            self._log({"e": _entity_out(entity), "l": sorted(parts)})

    def _claim(self, key: JoinKey, pending: Pending, ready: Ready) -> None:
        pending.claimed = True
        ready.events.append((key[0], build(key[0], pending.ids, key[3], pending.parts)))
        ready.claimed.append(key)

    def _wait(self, key: JoinKey, pending: Pending) -> None:
        self.waiting[key] = pending
        self._log({"k": _key_out(key), "i": pending.ids, "p": pending.parts, "t": pending.since})

    def _log(self, record: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.append(record)

    # --- the log's records back (a restart) ------------------------------------------------
    def replay(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            if "e" in record:
                self.learned[_entity_in(record["e"])] = frozenset(record["l"])
                continue
            key = _key_in(record["k"])
            if "p" in record:
                self.waiting[key] = Pending(record["i"], record["p"], record["t"])
            else:
                self.waiting.pop(key, None)
                if "d" in record:
                    self.done[key] = record["d"]

    def snapshot(self) -> list[dict[str, Any]]:
        """The records that rebuild the present state (the log's compaction)."""
        out: list[dict[str, Any]] = [
            {"k": _key_out(k), "i": p.ids, "p": p.parts, "t": p.since}
            for k, p in self.waiting.items()
        ]
        out += [{"k": _key_out(k), "d": at} for k, at in self.done.items()]
        out += [{"e": _entity_out(e), "l": sorted(p)} for e, p in self.learned.items()]
        return out


def _key_out(key: JoinKey) -> list[Any]:
    return [key[0], key[1], list(key[2]), key[3]]


def _key_in(raw: list[Any]) -> JoinKey:
    return (raw[0], raw[1], tuple(raw[2]), int(raw[3]))


def _entity_out(entity: Entity) -> list[Any]:
    return [entity[0], entity[1], list(entity[2])]


def _entity_in(raw: list[Any]) -> Entity:
    return (raw[0], raw[1], tuple(raw[2]))
