"""The firing order that matters is declared (syncs/plugin.py ORDER) and holds."""

from __future__ import annotations

import pytest

from syncs.plugin import ORDER, SyncOrderError, all_syncs, check_order


def test_the_registered_order_keeps_every_declared_order():
    names = [s.name for s in all_syncs()]
    for first, then, _ in ORDER:
        assert names.index(first) < names.index(then), (first, then)


def test_a_registration_order_that_breaks_a_declared_one_is_refused():
    syncs = all_syncs()
    by_name = {s.name: s for s in syncs}
    ack, retry = by_name["AcknowledgeStatus"], by_name["RetryMissedCall"]
    swapped = [retry if s is ack else ack if s is retry else s for s in syncs]
    with pytest.raises(SyncOrderError, match="AcknowledgeStatus must be registered before"):
        check_order(swapped)
    with pytest.raises(SyncOrderError, match="unknown sync"):
        check_order(syncs, [("NoSuchSync", "DeleteEverything", "-")])


def test_the_reply_to_a_progress_report_comes_before_its_bookkeeping():
    """Among the syncs one applied report triggers, those that answer the provider come
    before those that record a miss or settle the scheduled call."""
    reacting = [
        s
        for s in all_syncs()
        if any(p.concept == "PhoneCall" and p.action == "applyStatus" for p in s.when)
    ]
    names = [s.name for s in reacting]
    replies = [n for n in names if n.startswith("Acknowledge")]
    bookkeeping = [
        s.name
        for s in reacting
        if any(t.concept == "CallScheduler" for t in s.then) and s.name not in replies
    ]
    assert replies and bookkeeping
    assert max(names.index(n) for n in replies) < min(names.index(n) for n in bookkeeping)
