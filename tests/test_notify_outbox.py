"""The incident store's outbox, run on every backend: updates queued in the transaction of the change that
causes them (also when the CLI makes it), keyed reminders queued once, each message routed once into one
delivery per target that wants it, claims that never hand one delivery to two claimers while the lease
holds, retries, delivery or failure recorded on the incident's timeline, and pruning that deletes only
updates done before the bound (never unfinished ones, nor the reminders of a live incident)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from otel_ai_incident.incidents import rca
from otel_ai_incident.incidents.model import EventKind, IncidentStatus, RootCauseCategory
from otel_ai_incident.incidents.notifications import Delivery, NotificationEvent
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore

Event = NotificationEvent
EVERYTHING = {event: ["chat"] for event in NotificationEvent}


@pytest.fixture
def store(store_url: str) -> Iterator[IncidentStore]:
    store = open_incident_store(store_url)
    yield store
    store.close()


def _open(store: IncidentStore, group: str = "g1", severity: str = "p1"):
    return store.open_for_group(
        group, title="PII in output", incident_type="data_leakage", severity=severity, signals=("pii",), at=1000.0
    )


def _claim(store: IncidentStore, target: str = "chat", owner: str = "a", now: float = 2000.0, **kw) -> list[Delivery]:
    store.route_notifications(EVERYTHING, limit=1000, at=now)
    return store.claim_deliveries(target, owner, limit=kw.get("limit", 100), lease_s=kw.get("lease_s", 60), now=now)


def _events(store: IncidentStore) -> list[NotificationEvent]:
    return [d.message.event for d in _claim(store)]


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
    assert store.notification_backlog()[0] == 4
    deliveries = _claim(store)
    assert [d.message.event for d in deliveries] == [
        Event.OPENED,
        Event.CONTAINMENT_APPLIED,
        Event.CONTAINMENT_PENDING,
        Event.RESOLVED,
    ]
    applied = deliveries[1]
    assert applied.message.detail == {"action": "kill_switch"}  # the target (a user pseudonym) stays home
    assert (applied.message.incident_id, applied.message.at, applied.attempts) == (incident.id, 1001.0, 1)


def test_a_resolved_incident_whose_alerts_fire_again_tells_the_team_it_reopened(store: IncidentStore) -> None:
    incident = _open(store)
    store.transition(incident.id, IncidentStatus.RESOLVED, 1004.0, "receiver")
    assert store.transition(incident.id, IncidentStatus.OPEN, 1005.0, "receiver")
    assert not store.transition(incident.id, IncidentStatus.OPEN, 1006.0, "receiver")  # open already: no update
    deliveries = _claim(store)
    assert [d.message.event for d in deliveries] == [Event.OPENED, Event.RESOLVED, Event.REOPENED]
    assert deliveries[-1].message.detail == {"from": "resolved", "to": "open", "by": "receiver"}


def test_closing_through_the_cli_path_queues_the_update(store: IncidentStore) -> None:
    incident = _open(store)
    rca.record_rca(
        store, incident.id, category=RootCauseCategory.PROMPT_FAILURE, description="the prompt allowed it", at=1100.0
    )
    rca.close(store, None, None, incident.id, by="alice", at=1200.0)
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


def test_each_message_is_routed_once_to_the_targets_that_want_it(store: IncidentStore, store_url: str) -> None:
    incident = _open(store)
    store.add_event(incident.id, EventKind.CONTAINMENT_PENDING, 1002.0, {"action": "rate_limit_user"}, key="p|1")
    routes = {Event.OPENED: ["chat", "pager"], Event.CONTAINMENT_PENDING: ["chat"]}
    other = open_incident_store(store_url)  # a second receiver routing at the same time
    routed = [
        store.route_notifications(routes, limit=1, at=2000.0),
        other.route_notifications(routes, limit=5, at=2000.0),
    ]
    other.close()
    assert sorted(routed) == [1, 1]
    assert store.route_notifications(routes, limit=5, at=2000.0) == 0
    chat = store.claim_deliveries("chat", "a", limit=10, lease_s=60, now=2000.0)
    pager = store.claim_deliveries("pager", "a", limit=10, lease_s=60, now=2000.0)
    assert [d.message.event for d in chat] == [Event.OPENED, Event.CONTAINMENT_PENDING]
    assert [d.message.event for d in pager] == [Event.OPENED]
    assert pager[0].message == chat[0].message  # one message, the same id for every target
    store.enqueue_reminder(incident.id, Event.P1_REMINDER, 1, 2800.0, {"n": 1})  # nobody wants it: done at once
    assert store.route_notifications(routes, limit=5, at=2000.0) == 1
    assert store.notification_backlog()[0] == 2  # the two with deliveries unfinished


def test_a_claim_holds_until_its_lease_runs_out(store: IncidentStore) -> None:
    _open(store, "g1")
    _open(store, "g2")
    first = _claim(store, owner="a", limit=1, lease_s=10, now=2000.0)
    second = _claim(store, owner="b", limit=10, lease_s=10, now=2001.0)
    assert len(first) == len(second) == 1 and first[0].id != second[0].id
    assert _claim(store, owner="b", lease_s=10, now=2009.0) == []
    [again] = _claim(store, owner="b", lease_s=10, now=2010.5)  # a's holder died
    assert (again.id, again.attempts) == (first[0].id, 2)


def test_concurrent_claimers_never_share_a_delivery(store: IncidentStore, store_url: str) -> None:
    """Two receivers (two store objects on one database), two claiming threads each."""
    for n in range(40):
        _open(store, f"g{n}")
    store.route_notifications(EVERYTHING, limit=1000, at=2000.0)
    other = open_incident_store(store_url)
    claimed: dict[str, list[int]] = {}

    def claim(owner: str, receiver: IncidentStore) -> None:
        got = claimed.setdefault(owner, [])
        while batch := receiver.claim_deliveries("chat", owner, limit=3, lease_s=60, now=2000.0):
            got.extend(d.id for d in batch)

    threads = [threading.Thread(target=claim, args=(f"o{i}", (store, other)[i % 2])) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    ids = [i for got in claimed.values() for i in got]
    assert len(ids) == len(set(ids)) == 40


def test_a_retry_waits_then_delivery_is_on_the_timeline(store: IncidentStore) -> None:
    incident = _open(store)
    [delivery] = _claim(store, lease_s=10, now=2000.0)
    store.retry_delivery(delivery.id, error="HTTP 500", not_before=2100.0)
    assert _claim(store, now=2050.0) == []
    [retried] = _claim(store, now=2100.0)
    assert (retried.id, retried.attempts) == (delivery.id, 2)
    store.finish_delivery(retried.id, error=None, at=2101.0)
    assert store.notification_backlog() == (0, None)
    [event] = store.get(incident.id).timeline
    assert event.kind is EventKind.NOTIFICATION_DELIVERED
    assert event.detail == {"event": "incident_opened", "target": "chat", "attempts": 2}
    store.finish_delivery(retried.id, error="late", at=2102.0)  # finished: no change
    assert len(store.get(incident.id).timeline) == 1


def test_giving_up_is_on_the_timeline(store: IncidentStore) -> None:
    incident = _open(store)
    [delivery] = _claim(store, lease_s=10, now=2000.0)
    store.finish_delivery(delivery.id, error="HTTP 503", at=2001.0)
    [event] = store.get(incident.id).timeline
    assert event.kind is EventKind.NOTIFICATION_FAILED
    assert event.detail == {"event": "incident_opened", "target": "chat", "attempts": 1, "error": "HTTP 503"}
    assert _claim(store, now=9000.0) == [] and store.notification_backlog() == (0, None)


def test_the_backlog_counts_and_dates_what_is_unfinished(store: IncidentStore) -> None:
    assert store.notification_backlog() == (0, None)
    _open(store, "g1")
    _open(store, "g2")
    count, oldest = store.notification_backlog()
    assert count == 2 and oldest is not None


def test_deliveries_to_a_removed_target_are_given_up_unless_held(store: IncidentStore) -> None:
    _open(store, "g1")
    _open(store, "g2")
    store.route_notifications({Event.OPENED: ["chat", "old"]}, limit=10, at=2000.0)
    [held] = store.claim_deliveries("old", "a", limit=1, lease_s=60, now=2000.0)
    assert store.drop_deliveries(["chat"], reason="target no longer in the notify file", at=2001.0) == 1
    assert len(store.claim_deliveries("chat", "a", limit=10, lease_s=60, now=2001.0)) == 2  # kept
    [failed] = [e for i in store.list() for e in store.get(i.id).timeline if e.kind is EventKind.NOTIFICATION_FAILED]
    assert failed.detail["target"] == "old" and failed.detail["error"] == "target no longer in the notify file"
    assert store.drop_deliveries(["chat"], reason="gone", at=2100.0) == 1  # the held one, once its lease ran out
    store.finish_delivery(held.id, error=None, at=2101.0)  # its holder comes back late: nothing changes
    assert store.drop_deliveries(["chat"], reason="gone", at=2200.0) == 0


def test_pruning_deletes_only_updates_done_before_the_bound(store: IncidentStore) -> None:
    routes = {Event.OPENED: ["chat", "pager"], Event.CONTAINMENT_PENDING: ["chat"]}  # reminders: no target
    done, retrying, held, young = (_open(store, f"g{n}") for n in range(4))
    store.route_notifications(routes, limit=100, at=2000.0)
    chat = {d.message.incident_id: d.id for d in store.claim_deliveries("chat", "a", limit=9, lease_s=60, now=2000.0)}
    pager = {d.message.incident_id: d.id for d in store.claim_deliveries("pager", "a", limit=9, lease_s=60, now=2000.0)}
    for incident in (done, retrying, held, young):
        store.finish_delivery(chat[incident.id], error=None, at=2001.0)
    store.finish_delivery(pager[done.id], error="HTTP 503", at=2002.0)  # given up on: finished too
    store.retry_delivery(pager[retrying.id], error="HTTP 500", not_before=2100.0)
    store.finish_delivery(pager[young.id], error=None, at=4000.0)  # pager[held.id] stays claimed
    assert store.enqueue_reminder(done.id, Event.P1_REMINDER, 1, 2500.0, {"n": 1})
    store.route_notifications(routes, limit=100, at=2500.0)  # nobody wants it: done once routed
    store.add_event(done.id, EventKind.CONTAINMENT_PENDING, 2600.0, {"action": "rate_limit_user"}, key="p|1")
    backlog = store.notification_backlog()

    assert store.prune_notifications(3000.0, limit=10) == 1  # done's opened message; its reminder stays
    assert store.prune_notifications(3000.0, limit=10) == 0
    assert store.notification_backlog() == backlog
    assert not store.enqueue_reminder(done.id, Event.P1_REMINDER, 1, 2500.0, {"n": 1})  # still queued once
    kinds = [e.kind for e in store.get(done.id).timeline]
    assert kinds.count(EventKind.NOTIFICATION_DELIVERED) == kinds.count(EventKind.NOTIFICATION_FAILED) == 1

    again = store.claim_deliveries("pager", "b", limit=9, lease_s=60, now=2100.0)  # the retry, the held one
    assert sorted(d.id for d in again) == sorted((pager[retrying.id], pager[held.id]))
    [pending] = _claim(store, now=2700.0)
    for delivery in (*again, pending):
        store.finish_delivery(delivery.id, error=None, at=4500.0)
    assert store.prune_notifications(3000.0, limit=10) == 0  # finished after the bound
    assert [store.prune_notifications(5000.0, limit=3) for _ in range(3)] == [3, 1, 0]  # the limit holds

    rca.record_rca(store, done.id, category=RootCauseCategory.PROMPT_FAILURE, description="allowed", at=5100.0)
    rca.close(store, None, None, done.id, by="alice", at=5200.0)
    store.route_notifications(routes, limit=100, at=5200.0)
    assert store.prune_notifications(6000.0, limit=10) == 2  # closed: its reminder and the closing message
    assert store.notification_backlog() == (0, None)


def test_receivers_pruning_at_once_delete_each_update_once(store: IncidentStore, store_url: str) -> None:
    for n in range(30):
        _open(store, f"g{n}")
    for delivery in _claim(store, now=2000.0):
        store.finish_delivery(delivery.id, error=None, at=2001.0)
    stores = [store, open_incident_store(store_url), open_incident_store(store_url)]
    deleted = [0] * len(stores)

    def prune(index: int) -> None:
        while removed := stores[index].prune_notifications(3000.0, limit=4):
            deleted[index] += removed

    threads = [threading.Thread(target=prune, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for other in stores[1:]:
        other.close()
    assert sum(deleted) == 30 and store.prune_notifications(3000.0, limit=4) == 0
