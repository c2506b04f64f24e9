"""AlertBook: quiet subjects cost no fingerprint; states found after a restart (issue 13)."""

from __future__ import annotations

from pipeline.core.alert_book import AlertBook, AlertKey, Facts
from pipeline.core.alert_state import Timing, fingerprint
from pipeline.events import AlertStatus, Severity

TIMING = Timing(for_ms=0, resolve_for_ms=0)


def facts() -> Facts:
    return Facts(1.0, 0.5, "test")


def idle(rack: str) -> AlertKey:
    return AlertKey("idle_power", Severity.info, rack=rack)


def test_quiet_subjects_do_not_fill_the_fingerprint_cache() -> None:
    book = AlertBook("site-a")
    assert book.evaluate(idle("r-hot"), True, False, 1_000, TIMING, facts) is not None
    fingerprint.cache_clear()
    for i in range(2_000):  # every rack and link of a site, each tick: all quiet
        assert book.evaluate(idle(f"r{i}"), False, True, 2_000, TIMING, facts) is None
        assert not book.holds("link_loss", Severity.warning, f"fab-{i}")
    assert book.holds("idle_power", Severity.info, "r-hot")
    # ~1 KiB per rack while it filled (65,536 entries): only the held subject may hash
    assert fingerprint.cache_info().currsize <= 1


def test_a_restarted_book_resolves_a_durable_state_it_has_no_key_for() -> None:
    before = AlertBook("site-a")
    fired = before.evaluate(idle("r7"), True, False, 1_000, TIMING, facts)
    assert fired is not None and fired.status is AlertStatus.firing
    after = AlertBook("site-a", before.durable())  # fingerprints only, no keys
    assert after.holds("idle_power", Severity.info, "r7")
    assert not after.holds("idle_power", Severity.info, "r8")
    assert after.evaluate(idle("r8"), False, True, 2_000, TIMING, facts) is None
    resolved = after.evaluate(idle("r7"), False, True, 2_000, TIMING, facts)
    assert resolved is not None and resolved.status is AlertStatus.resolved
    assert resolved.fingerprint == fired.fingerprint and resolved.seq == fired.seq + 1
    # the resolved state keeps its sequence, now indexed: found without hashing
    fingerprint.cache_clear()
    assert after.holds("idle_power", Severity.info, "r7")
    assert fingerprint.cache_info().currsize == 0
    again = after.evaluate(idle("r7"), True, False, 3_000, TIMING, facts)
    assert again is not None and again.seq == fired.seq + 2


def test_forgetting_a_subject_drops_its_index() -> None:
    book = AlertBook("site-a")
    book.evaluate(idle("r1"), True, False, 1_000, TIMING, facts)
    resolved = book.forget_subjects({"r1"}, 2_000, "forgotten")
    assert [a.status for a in resolved] == [AlertStatus.resolved]
    assert not book.holds("idle_power", Severity.info, "r1")
    assert book.evaluate(idle("r1"), False, True, 3_000, TIMING, facts) is None
    assert book.firing() == [] and book.durable() == {}
