"""What the team is told about an incident, as the incident store queues it (its outbox).

The store writes an outbox message in the same transaction as the change that causes it (an incident
opened, containment applied or waiting for approval, resolved, reopened, closed), whoever makes the change: the
receiver's worker or the CLI writing to the store directly. Reminders are queued by the receiver's scheduler
(`incidents.reminders`), keyed (incident, kind, n) so receivers sharing a store queue each one once. The
receiver routes each message to the targets that want it, one `Delivery` per target, retried on its own so
a target that is down or hangs delays no other; this module is only the data and the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from otel_ai_incident.incidents.model import EventKind, IncidentStatus


class NotificationEvent(StrEnum):
    """The event types of the payloads (and the `event` label of the delivery metrics)."""

    OPENED = "incident_opened"
    CONTAINMENT_APPLIED = "containment_applied"
    CONTAINMENT_PENDING = "containment_pending"  # waiting for an operator's approval
    RESOLVED = "incident_resolved"
    REOPENED = "incident_reopened"  # a resolved incident's alerts fired again
    CLOSED = "incident_closed"
    P1_REMINDER = "p1_reminder"  # every interval (30 minutes by default) while a P1 incident is open
    GDPR_REMINDER = "gdpr_reminder"  # at 48 h and 66 h of the 72 h GDPR Art. 33 clock


#: Keyed by (incident, kind, n), not by the change that caused them: the queued message is the only record
#: that a reminder went out, so it is kept while the incident is live (`IncidentStore.prune_notifications`).
REMINDERS = frozenset({NotificationEvent.P1_REMINDER, NotificationEvent.GDPR_REMINDER})

#: Timeline events that tell the team something, and the status changes that do.
FOR_EVENT: Mapping[EventKind, NotificationEvent] = {
    EventKind.CONTAINMENT_APPLIED: NotificationEvent.CONTAINMENT_APPLIED,
    EventKind.CONTAINMENT_PENDING: NotificationEvent.CONTAINMENT_PENDING,
}
FOR_STATUS: Mapping[IncidentStatus, NotificationEvent] = {
    IncidentStatus.OPEN: NotificationEvent.REOPENED,  # only a resolved incident changes to open
    IncidentStatus.RESOLVED: NotificationEvent.RESOLVED,
    IncidentStatus.CLOSED: NotificationEvent.CLOSED,
}
#: What of a timeline event's detail goes into a message: the action and the status change, never the
#: action's target (a user pseudonym has no business in a chat channel) nor alert internals.
SHARED_DETAIL = ("action", "from", "to", "by")


def shared_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k in SHARED_DETAIL}


@dataclass(frozen=True)
class OutboxMessage:
    """One queued update, the same for every target (its `id` lets receivers of the updates deduplicate)."""

    id: int
    incident_id: str
    event: NotificationEvent
    at: float  # when the event happened
    detail: Mapping[str, Any]
    created_at: float  # when it was queued: the age that bounds the retries


@dataclass(frozen=True)
class Delivery:
    """One message for one target, as a deliverer claims it."""

    id: int
    target: str
    attempts: int  # including the current one
    message: OutboxMessage
