"""The messages: a versioned JSON document for generic webhooks, and a Slack incoming-webhook message.

The generic payload (`PAYLOAD_VERSION` 1) is a public format, documented in the README; fields are only
ever added within a version. The incident fields are as the incident is when the message is sent (an
"incident_opened" sent late may show it contained already); `at` is when the event itself happened.
Nothing a chat channel should not hold goes out: no user pseudonyms, no message text.
"""

from __future__ import annotations

from typing import Any

from otel_ai_incident.incidents.disclosure import breach_clock
from otel_ai_incident.incidents.model import Incident
from otel_ai_incident.incidents.notifications import NotificationEvent, OutboxMessage
from otel_ai_incident.incidents.text import utc

PAYLOAD_VERSION = 1

_HEADLINES = {
    NotificationEvent.OPENED: "Incident opened",
    NotificationEvent.CONTAINMENT_APPLIED: "Containment applied",
    NotificationEvent.CONTAINMENT_PENDING: "Containment waiting for approval",
    NotificationEvent.RESOLVED: "Incident resolved",
    NotificationEvent.REOPENED: "Incident reopened",
    NotificationEvent.CLOSED: "Incident closed",
    NotificationEvent.P1_REMINDER: "P1 still open",
    NotificationEvent.GDPR_REMINDER: "GDPR Art. 33 deadline approaching",
}


def generic(message: OutboxMessage, incident: Incident, link: str | None, now: float) -> dict[str, Any]:
    """The generic webhook's JSON document."""
    clock = breach_clock(incident, now)
    return {
        "version": PAYLOAD_VERSION,
        "event": message.event.value,
        "id": message.id,  # the same on every retry: receivers deduplicate on it
        "at": message.at,
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "type": incident.incident_type,
            "severity": incident.severity,
            "status": incident.status.value,
            "opened_at": incident.opened_at,
        },
        "detail": dict(message.detail),
        "links": {"incident": link} if link else {},
        "gdpr_deadline": None if clock is None else clock.deadline,
    }


def slack(message: OutboxMessage, incident: Incident, link: str | None, now: float) -> dict[str, Any]:
    """A Slack (or compatible: Mattermost, Rocket.Chat) incoming-webhook message: `text` for notifications
    and clients without blocks, `blocks` for the channel."""
    headline = _headline(message)
    title = _escape(incident.title)
    name = f"<{link}|{incident.id}>" if link else incident.id
    facts = [
        f"*Severity:* {incident.severity.upper()}",
        f"*Type:* {_escape(incident.incident_type)}",
        f"*Status:* {incident.status.value}",
    ]
    clock = breach_clock(incident, now)
    if clock is not None:
        facts.append(f"*GDPR Art. 33 deadline:* {utc(clock.deadline)} ({clock.describe()})")
    return {
        "text": f"{headline}: {incident.severity.upper()} {incident.id} {title}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*: {name}\n{title}"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in facts]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{utc(message.at)} · {message.event.value}"}]},
        ],
    }


def _headline(message: OutboxMessage) -> str:
    headline = _HEADLINES[message.event]
    detail = message.detail
    if "action" in detail:
        headline += f" ({_escape(str(detail['action']))})"
    if message.event is NotificationEvent.P1_REMINDER and "n" in detail:
        headline += f" (reminder {detail['n']})"
    if message.event is NotificationEvent.GDPR_REMINDER and "hours" in detail:
        headline += f" ({detail['hours']} h of 72 h passed)"
    return headline


def _escape(text: str) -> str:
    """Slack's three control characters, so an alert's summary cannot forge links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
