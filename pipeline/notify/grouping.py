"""Grouping against alert storms: one notification per site and rule per group wait.

:class:`GroupBuffer` is the bookkeeping only (no timers, no I/O): the receiver channel
opens a group when its first alert arrives, arms a timer for the group wait, and calls
:meth:`GroupBuffer.flush` when it fires. A group never holds two events of one
fingerprint: when the next event of an alert (its resolve) arrives while the previous
one still waits, the waiting group is flushed first, so every event is delivered and
firing always goes out before its resolve.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pipeline.notify.notification import GroupKey, Notification, Pending, split_listed

_generation = itertools.count(1)


@dataclass
class _Group:
    entries: list[Pending] = field(default_factory=list)
    fingerprints: set[str] = field(default_factory=set)
    generation: int = field(default_factory=lambda: next(_generation))


@dataclass(frozen=True)
class Added:
    """What :meth:`GroupBuffer.add` did: a new group to time, and/or one flushed early."""

    key: GroupKey
    generation: int
    opened: bool
    flushed: Notification | None = None


class GroupBuffer:
    def __init__(self, receiver: str, max_alerts: int) -> None:
        self.receiver = receiver
        self.max_alerts = max_alerts
        self._groups: dict[GroupKey, _Group] = {}

    def __len__(self) -> int:
        return sum(len(g.entries) for g in self._groups.values())

    def add(self, pending: Pending) -> Added:
        key = GroupKey.of(pending.alert)
        flushed = None
        group = self._groups.get(key)
        if group is not None and pending.alert.fingerprint in group.fingerprints:
            flushed = self.flush(key, group.generation)
            group = None
        opened = group is None
        if group is None:
            group = self._groups[key] = _Group()
        group.entries.append(pending)
        group.fingerprints.add(pending.alert.fingerprint)
        return Added(key, group.generation, opened, flushed)

    def flush(self, key: GroupKey, generation: int | None = None) -> Notification | None:
        """The group as a notification, or None when it is gone or was replaced.

        ``generation`` guards against a stale timer flushing the group that replaced
        the one it was armed for.
        """
        group = self._groups.get(key)
        if group is None or (generation is not None and group.generation != generation):
            return None
        del self._groups[key]
        listed, left_out = split_listed([p.alert for p in group.entries], self.max_alerts)
        completions = tuple(p.done for p in group.entries if p.done is not None)
        return Notification(
            receiver=self.receiver,
            group=key,
            listed=listed,
            left_out=left_out,
            completions=completions,
        )

    def flush_all(self) -> list[Notification]:
        out = [self.flush(key) for key in list(self._groups)]
        return [n for n in out if n is not None]
