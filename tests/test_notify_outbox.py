"""The incident store's outbox, run on every backend: updates queued in the transaction of the change that
causes them (also when the CLI makes it), keyed reminders queued once, claims that never hand one message to
two claimers while the lease holds, retries that remember who has the message, and delivery or failure
recorded on the incident's timeline."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from otel_ai_incident.incidents import rca
from otel_ai_incident.incidents.model import EventKind, IncidentStatus, RootCauseCategory
from otel_ai_incident.incidents.notifications import NotificationEvent
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore

Event = NotificationEvent


@pytest.fixture
def store(store_url: str) -> Iterator[IncidentStore]:
    store = open_incident_store(store_url)
    yield store
    store.close()


def _open(store: IncidentStore, group: str = "g1", severity: str = "p1"):
    return store.open_for_group(
        group, title="PII in output", incident_type="data_leakage", severity=severity, signals=("pii",), at=1000.0
    )


def _events(store: IncidentStore, owner: str = "a") -> list[NotificationEvent]:
    return [m.event for m in store.claim_notifications(owner, limit=100, lease_s=60, now=2000.0)]


def test_changes_queue_their_updates_once(store: IncidentStore) -> None:
    incident = _open(store)
    _open(store)  # the same live incident: not opened again
    detail = {"action": "kill_switch", "target": "user-pseudonym"}
    assert store.add_event(incident.id, EventKind.CONTAINMENT_APPLIED, 1001.0, detail, key="applied|1")
    assert not store.add_event(incident.id, EventKind.CONTAINMENT_APPLIED, 1001.0, detail, key="applied|1")
    store.add_event(incident.id, EventKind.CONTAINMENT_PENDING, 1002.0, {"action": "rate_limit_user"}, key="p|1")
    store.add_event(incident.id, EventKind.MONITORING_FIRED, 1000.0, {}, key="fired|1")  # not an update
    store.transition(incident.id, IncidentStatus.CONTAINED, 1003.0, "receiver")  # applied said it already
    store.transition(incident.id, IncidentStatus.RESOLVED, 1004.0, "receiver")
    messages = store.claim_notifications("a", limit=100, lease_s=60, now=2000.0)
    assert [m.event for m in messages] == [
        Event.OPENED,
        Event.CONTAINMENT_APPLIED,
        Event.CONTAINMENT_PENDING,
        Event.RESOLVED,
    ]
    applied = messages[1]
    assert applied.detail == {"action": "kill_switch"}  # the target (a user pseudonym) stays home
    assert (applied.incident_id, applied.at, applied.attempts) == (incident.id, 1001.0, 1)
    assert store.notification_backlog()[0] == 4


def test_closing_through_the_cli_path_queues_the_update(store: IncidentStore) -> None:
    incident = _open(store)
    rca.record_rca(
        store,
        incident.id,
        category=RootCauseCategory.PROMPT_FAILURE,
        description="the system prompt allowed it",
        factors=[],
        remediation=[],
        regression_test_added=True,
        recurrence_prevention="",
        at=1100.0,
    )
    rca.close(store, None, incident.id, by="alice", at=1200.0)
    assert _events(store) == [Event.OPENED, Event.CLOSED]
    assert not store.enqueue_reminder(incident.id, Event.GDPR_REMINDER, 48, 9000.0, {})  # closed: no reminders


def test_reminders_are_keyed_and_only_for_live_incidents(store: IncidentStore) -> None:
    incident = _open(store)
    assert store.enqueue_reminder(incident.id, Event.P1_REMINDER, 1, 2800.0, {"n": 1})
    assert not store.enqueue_reminder(incident.id, Event.P1_REMINDER, 1, 2800.0, {"n": 1})
    assert store.enqueue_reminder(incident.id, Event.P1_REMINDER, 2, 4600.0, {"n": 2})
    assert store.enqueue_reminder(incident.id, Event.GDPR_REMINDER, 48, 9000.0, {"hours": 48})
    assert not store.enqueue_reminder("INC-missing", Event.P1_REMINDER, 1, 2800.0, {})
    store.transition(incident.id, IncidentStatus.RESOLVED, 1300.0, "receiver")
    assert _events(store) == [Event.OPENED, Event.P1_REMINDER, Event.P1_REMINDER, Event.GDPR_REMINDER, Event.RESOLVED]


def test_a_claim_holds_until_its_lease_runs_out(store: IncidentStore) -> None:
    _open(store, "g1")
    _open(store, "g2")
    first = store.claim_notifications("a", limit=1, lease_s=10, now=2000.0)
    second = store.claim_notifications("b", limit=10, lease_s=10, now=2001.0)
    assert len(first) == len(second) == 1 and first[0].id != second[0].id
    assert store.claim_notifications("b", limit=10, lease_s=10, now=2009.0) == []
    [again] = store.claim_notifications("b", limit=10, lease_s=10, now=2010.5)  # a's holder died
    assert (again.id, again.attempts) == (first[0].id, 2)


def test_concurrent_claimers_never_share_a_message(store: IncidentStore, store_url: str) -> None:
    """Two receivers (two store objects on one database), two claiming threads each."""
    for n in range(40):
        _open(store, f"g{n}")
    other = open_incident_store(store_url)
    claimed: dict[str, list[int]] = {}

    def claim(owner: str, receiver: IncidentStore) -> None:
        got = claimed.setdefault(owner, [])
        while batch := receiver.claim_notifications(owner, limit=3, lease_s=60, now=2000.0):
            got.extend(m.id for m in batch)

    threads = [threading.Thread(target=claim, args=(f"o{i}", (store, other)[i % 2])) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    ids = [i for got in claimed.values() for i in got]
    assert len(ids) == len(set(ids)) == 40


def test_a_retry_waits_and_remembers_who_has_it(store: IncidentStore) -> None:
    incident = _open(store)
    [message] = store.claim_notifications("a", limit=1, lease_s=10, now=2000.0)
    store.retry_notification(message.id, delivered_to=["chat"], error="pager: HTTP 500", not_before=2100.0)
    assert store.claim_notifications("a", limit=1, lease_s=10, now=2050.0) == []
    [retried] = store.claim_notifications("a", limit=1, lease_s=10, now=2100.0)
    assert (retried.attempts, retried.delivered_to) == (2, frozenset({"chat"}))
    store.finish_notification(retried.id, delivered_to=["pager"], failed={}, at=2101.0)
    assert store.notification_backlog() == (0, None)
    [event] = [e for e in store.get(incident.id).timeline if e.kind is EventKind.NOTIFICATION_DELIVERED]
    assert event.detail == {"event": "incident_opened", "attempts": 2, "delivered_to": ["chat", "pager"]}
    store.finish_notification(retried.id, delivered_to=["x"], failed={}, at=2102.0)  # finished: no change
    assert len(store.get(incident.id).timeline) == 1


def test_giving_up_is_on_the_timeline(store: IncidentStore) -> None:
    incident = _open(store)
    [message] = store.claim_notifications("a", limit=1, lease_s=10, now=2000.0)
    store.finish_notification(message.id, delivered_to=["chat"], failed={"pager": "HTTP 503"}, at=2001.0)
    [event] = store.get(incident.id).timeline
    assert event.kind is EventKind.NOTIFICATION_FAILED
    assert event.detail["failed"] == ["pager"] and event.detail["attempts"] == 1
    assert "HTTP 503" in event.detail["error"]
    assert store.claim_notifications("a", limit=1, lease_s=10, now=9000.0) == []


def test_a_message_no_target_wanted_leaves_the_timeline_alone(store: IncidentStore) -> None:
    incident = _open(store)
    [message] = store.claim_notifications("a", limit=1, lease_s=10, now=2000.0)
    store.finish_notification(message.id, delivered_to=[], failed={}, at=2001.0)
    assert store.get(incident.id).timeline == () and store.notification_backlog() == (0, None)


def test_the_backlog_counts_and_dates_what_is_unfinished(store: IncidentStore) -> None:
    assert store.notification_backlog() == (0, None)
    _open(store, "g1")
    _open(store, "g2")
    count, oldest = store.notification_backlog()
    assert count == 2 and oldest is not None
