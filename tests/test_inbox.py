"""The receiver inbox's contract, run on every backend: durable adds, disjoint claims under leases, retries
that come back, a peer taking over the work of a receiver that died holding it, and pruning that deletes
only what was finished before the bound, in batches, also with several receivers pruning at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from otel_ai_incident.server.inbox.group_commit import GroupCommit
from otel_ai_incident.server.inbox.sql_store import open_inbox
from otel_ai_incident.server.inbox.store import InboxStore


@pytest.fixture
def inbox(store_url: str) -> Iterator[InboxStore]:
    inbox = open_inbox(store_url)
    yield inbox
    inbox.close()


def test_added_notifications_are_claimed_oldest_first_once(inbox: InboxStore) -> None:
    ids = inbox.add([("a", 1.0), ("b", 2.0), ("c", 3.0)])
    assert ids == sorted(ids) and len(set(ids)) == 3
    first = inbox.claim("r1", limit=2, lease_s=30, now=100.0)
    assert [n.body for n in first] == ["a", "b"] and all(n.attempts == 1 for n in first)
    second = inbox.claim("r2", limit=5, lease_s=30, now=100.0)
    assert [n.body for n in second] == ["c"]
    assert inbox.claim("r3", limit=5, lease_s=30, now=100.0) == []
    assert inbox.count(pending=True) == 3 and inbox.oldest_pending() == 1.0
    for notification in first + second:
        inbox.finish(notification.id)
    assert inbox.count(pending=True) == 0 and inbox.count(pending=False) == 3
    assert inbox.oldest_pending() is None
    assert inbox.claim("r1", limit=5, lease_s=30, now=10_000.0) == []


def test_a_lease_that_runs_out_hands_the_work_to_another_receiver(inbox: InboxStore) -> None:
    inbox.add([("work", 1.0)])
    [held] = inbox.claim("dead", limit=1, lease_s=10, now=100.0)
    assert inbox.claim("alive", limit=1, lease_s=10, now=109.9) == []
    [taken] = inbox.claim("alive", limit=1, lease_s=10, now=110.0)
    assert (taken.id, taken.attempts) == (held.id, 2)


def test_a_failure_comes_back_after_its_delay_with_the_error_kept(inbox: InboxStore) -> None:
    [notification_id] = inbox.add([("flaky", 1.0)])
    [claimed] = inbox.claim("r", limit=1, lease_s=10, now=100.0)
    inbox.retry_later(claimed.id, error="StoreUnavailableError('down')", not_before=105.0)
    assert inbox.pending_errors() == [(notification_id, 1, "StoreUnavailableError('down')")]
    assert inbox.claim("r", limit=1, lease_s=10, now=104.0) == []
    [again] = inbox.claim("r", limit=1, lease_s=10, now=105.0)
    assert again.attempts == 2
    inbox.finish(again.id)
    assert inbox.pending_errors() == [] and inbox.count(pending=True) == 0


def test_concurrent_claimers_never_share_a_notification(store_url: str) -> None:
    """Separate inbox objects, as separate receiver processes have them, draining one inbox at once."""
    inboxes = [open_inbox(store_url) for _ in range(4)]
    inboxes[0].add([(f"n{i}", float(i)) for i in range(200)])
    claimed: list[list[int]] = [[] for _ in inboxes]

    def drain(index: int) -> None:
        while batch := inboxes[index].claim(f"r{index}", limit=3, lease_s=60, now=1000.0):
            for notification in batch:
                claimed[index].append(notification.id)
                inboxes[index].finish(notification.id)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(inboxes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for ids in claimed for i in ids]
    assert len(every) == 200 and len(set(every)) == 200
    assert inboxes[0].count(pending=True) == 0
    for each in inboxes:
        each.close()


def test_pruning_deletes_only_notifications_finished_before_the_bound(inbox: InboxStore) -> None:
    inbox.add([(f"old-{i}", float(i)) for i in range(3)])
    for old in inbox.claim("r", limit=3, lease_s=30, now=100.0):
        inbox.finish(old.id)
    bound = time.time()
    time.sleep(0.01)  # what is finished from here on is younger than the bound
    inbox.add([("young", 4.0), ("held", 5.0), ("retrying", 6.0), ("waiting", 7.0)])
    young, _held, retrying = inbox.claim("r", limit=3, lease_s=30, now=100.0)
    inbox.finish(young.id)
    inbox.retry_later(retrying.id, error="down", not_before=200.0)
    inbox.mark_alert_processed("fp|firing")

    assert [inbox.prune(bound, limit=2), inbox.prune(bound, limit=2), inbox.prune(bound, limit=2)] == [2, 1, 0]
    assert inbox.count(pending=False) == 1 and inbox.count(pending=True) == 3
    assert inbox.pending_errors() == [(retrying.id, 1, "down")]
    assert inbox.alert_processed("fp|firing")
    later = time.time() + 3600  # even an hour on, unfinished work stays and is claimed as before
    assert inbox.prune(later, limit=10) == 1 and inbox.count(pending=False) == 0
    assert [n.body for n in inbox.claim("r", limit=5, lease_s=30, now=200.0)] == ["held", "retrying", "waiting"]


def test_receivers_pruning_at_once_delete_each_notification_once(store_url: str) -> None:
    inboxes = [open_inbox(store_url) for _ in range(4)]
    inboxes[0].add([(f"n{i}", float(i)) for i in range(120)])
    while batch := inboxes[0].claim("r", limit=50, lease_s=60, now=1000.0):
        for notification in batch:
            inboxes[0].finish(notification.id)
    deleted = [0] * len(inboxes)

    def prune(index: int) -> None:
        while removed := inboxes[index].prune(time.time(), limit=7):
            deleted[index] += removed

    threads = [threading.Thread(target=prune, args=(i,)) for i in range(len(inboxes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(deleted) == 120 and inboxes[0].count(pending=False) == 0
    for each in inboxes:
        each.close()


def test_processed_alert_keys_are_shared(store_url: str) -> None:
    one, two = open_inbox(store_url), open_inbox(store_url)
    assert not two.alert_processed("fp|t|firing")
    one.mark_alert_processed("fp|t|firing")
    one.mark_alert_processed("fp|t|firing")
    assert two.alert_processed("fp|t|firing")
    one.close()
    two.close()


def test_group_commit_stores_concurrent_submissions_and_reports_failures(inbox: InboxStore) -> None:
    commit = GroupCommit(inbox)
    futures = [commit.submit(f"body-{i}", float(i)) for i in range(50)]
    ids = [f.result(timeout=10) for f in futures]
    assert len(set(ids)) == 50
    commit.close()
    assert inbox.count(pending=True) == 50

    class Failing:
        def add(self, notifications: object) -> list[int]:
            raise OSError("disk full")

    failing = GroupCommit(Failing())  # type: ignore[arg-type]
    with pytest.raises(OSError, match="disk full"):
        failing.store("body", 1.0)
    failing.close()


def test_an_inbox_file_from_before_versioning_keeps_its_pending_work(tmp_path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE notifications (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL,"
        " body TEXT NOT NULL, processed_at REAL, error TEXT);"
        "CREATE TABLE processed_alerts (key TEXT PRIMARY KEY, at REAL NOT NULL);"
        "INSERT INTO notifications (received_at, body) VALUES (1.0, 'left by a crash');"
    )
    conn.close()
    inbox = open_inbox(f"sqlite:///{path}")
    [left] = inbox.claim("r", limit=5, lease_s=10, now=2.0)
    assert left.body == "left by a crash"
    inbox.close()
