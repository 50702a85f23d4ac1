"""Reminders on an injected clock: every interval while a P1 is live, at 48 h and 66 h of the GDPR clock
while the incident is not closed, only the latest one due after a gap, and once across receivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from otel_ai_incident.containment.state import open_containment_state
from otel_ai_incident.incidents import reminders
from otel_ai_incident.incidents.model import EventKind, Incident, IncidentStatus, TimelineEvent
from otel_ai_incident.incidents.notifications import NotificationEvent
from otel_ai_incident.incidents.sql_store import open_incident_store
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.server.inbox.sql_store import open_inbox
from otel_ai_incident.server.metrics import ReceiverMetrics
from otel_ai_incident.server.notify.config import NotifyConfig, Target, TargetKind
from otel_ai_incident.server.notify.deliver import Notifier
from otel_ai_incident.testing.webhook_endpoint import Endpoint
from processes import wait_until

T = 1_700_000_000.0  # when the receiver was notified (the team's awareness)
H = 3600.0
P1_EVERY = reminders.DEFAULT_P1_INTERVAL_S


def _incident(severity: str = "p1", incident_type: str = "data_leakage", status=IncidentStatus.OPEN) -> Incident:
    notified = TimelineEvent(EventKind.NOTIFIED, T, {})
    return Incident("INC-1", "g", "t", incident_type, severity, (), status, T - 60, T, (notified,))


def _due(incident: Incident, now: float) -> list[tuple[NotificationEvent, int]]:
    return [(r.event, r.n) for r in reminders.due(incident, now)]


def test_p1_reminders_every_interval_while_live() -> None:
    leak = _incident(incident_type="jailbreak_wave")
    assert _due(leak, T + P1_EVERY - 1) == []
    assert _due(leak, T + P1_EVERY) == [(NotificationEvent.P1_REMINDER, 1)]
    assert _due(leak, T + 2.5 * P1_EVERY) == [(NotificationEvent.P1_REMINDER, 2)]  # the latest, not a burst
    contained = _incident(incident_type="jailbreak_wave", status=IncidentStatus.CONTAINED)
    assert _due(contained, T + P1_EVERY) == [(NotificationEvent.P1_REMINDER, 1)]
    for quiet in (
        _incident(incident_type="jailbreak_wave", status=IncidentStatus.RESOLVED),
        _incident(severity="p2", incident_type="jailbreak_wave"),
    ):
        assert _due(quiet, T + 3 * P1_EVERY) == []
    [reminder] = reminders.due(leak, T + 2 * P1_EVERY + 5, p1_interval_s=P1_EVERY)
    assert reminder.at == T + 2 * P1_EVERY


def test_gdpr_reminders_at_48_and_66_hours_until_closed() -> None:
    leak = _incident(severity="p2")
    assert _due(leak, T + 47.9 * H) == []
    assert _due(leak, T + 48 * H) == [(NotificationEvent.GDPR_REMINDER, 48)]
    assert _due(leak, T + 65 * H) == [(NotificationEvent.GDPR_REMINDER, 48)]
    [at_66] = reminders.due(leak, T + 66 * H)
    assert (at_66.n, at_66.at, at_66.detail) == (66, T + 66 * H, {"hours": 66, "deadline": T + 72 * H})
    assert _due(leak, T + 72.1 * H) == []  # overdue: the reminders are over, `incidents show` says it
    resolved = _incident(severity="p2", status=IncidentStatus.RESOLVED)
    assert _due(resolved, T + 48 * H) == [(NotificationEvent.GDPR_REMINDER, 48)]  # the clock runs on
    assert _due(_incident(severity="p2", status=IncidentStatus.CLOSED), T + 48 * H) == []
    assert _due(_incident(severity="p2", incident_type="safety_violation"), T + 48 * H) == []


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[IncidentStore, IncidentStore]]:
    """Two receivers' views of one store."""
    first, second = open_incident_store(store_url), open_incident_store(store_url)
    yield first, second
    first.close()
    second.close()


def test_each_reminder_is_queued_once_across_receivers(stores: tuple[IncidentStore, IncidentStore]) -> None:
    first, second = stores
    incident = first.open_for_group(
        "g", title="leak", incident_type="data_leakage", severity="p1", signals=("pii",), at=T - 60
    )
    first.add_event(incident.id, EventKind.NOTIFIED, T, {}, key="notified|1")
    other = first.open_for_group("h", title="other", incident_type="safety_violation", severity="p3", signals=(), at=T)
    first.add_event(other.id, EventKind.NOTIFIED, T, {}, key="notified|2")
    first.route_notifications({}, limit=10, at=T)  # the "opened" updates, to nobody: out of the way

    queued = []
    for now in (T + 10 * 60, T + P1_EVERY, T + P1_EVERY + 1, T + 2 * P1_EVERY, T + 48 * H, T + 66 * H):
        queued.append(reminders.enqueue_due(first, now) + reminders.enqueue_due(second, now))
    # 30 min: P1 #1; again: nothing; 60 min: P1 #2; 48 h: P1 #96 and GDPR 48; 66 h: P1 #132 and GDPR 66
    assert queued == [0, 1, 0, 1, 2, 2]
    first.route_notifications({event: ["chat"] for event in NotificationEvent}, limit=100, at=T + 67 * H)
    messages = [d.message for d in first.claim_deliveries("chat", "a", limit=100, lease_s=60, now=T + 67 * H)]
    assert {m.incident_id for m in messages} == {incident.id}
    assert [(m.event, m.detail.get("n", m.detail.get("hours"))) for m in messages] == [
        (NotificationEvent.P1_REMINDER, 1),
        (NotificationEvent.P1_REMINDER, 2),
        (NotificationEvent.P1_REMINDER, 96),
        (NotificationEvent.GDPR_REMINDER, 48),
        (NotificationEvent.P1_REMINDER, 132),
        (NotificationEvent.GDPR_REMINDER, 66),
    ]


def test_the_receivers_notifier_sends_the_gdpr_reminders_on_its_clock(tmp_path: Path) -> None:
    """The delivery loop's own scheduler, on an injected clock, to a webhook endpoint run here."""
    url = f"sqlite:///{tmp_path / 'receiver.db'}"
    incidents, state, inbox = open_incident_store(url), open_containment_state(url), open_inbox(url)
    incident = incidents.open_for_group(
        "g", title="leak", incident_type="data_leakage", severity="p2", signals=("pii",), at=T - 60
    )
    incidents.add_event(incident.id, EventKind.NOTIFIED, T, {}, key="notified|1")
    now = [T + 47 * H]
    with Endpoint() as hook:
        target = Target(name="hook", kind=TargetKind.JSON, url=SecretStr(hook.url), events=frozenset(NotificationEvent))
        notifier = Notifier(
            incidents,
            NotifyConfig(targets=(target,)),
            ReceiverMetrics(state, inbox, incidents),
            owner="test",
            clock=lambda: now[0],
        )
        try:
            for now[0], expected in ((T + 47 * H, 1), (T + 48 * H, 2), (T + 50 * H, 2), (T + 66.5 * H, 3)):
                notifier.round()
                wait_until(lambda n=expected: len(hook.received) >= n and not incidents.notification_backlog()[0], 10)
                assert len(hook.received) == expected
        finally:
            notifier.close()
    assert [b["event"] for b in hook.received] == ["incident_opened", "gdpr_reminder", "gdpr_reminder"]
    assert [b["detail"]["hours"] for b in hook.received[1:]] == [48, 66]
    assert all(b["gdpr_deadline"] == T + 72 * H for b in hook.received)
    for store in (incidents, state, inbox):
        store.close()
