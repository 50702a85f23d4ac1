"""What a stored notification does: open or update the group's incident, then run its playbooks.

Runs on the worker, never on the request. Every write is keyed on the alert (fingerprint, startsAt, status)
so processing a notification again, after a crash or for an HA duplicate, adds nothing. Resolved alerts
are recorded but lift nothing: the metric recovered *under* containment, so lifting on resolve would
flap; rate limits lapse on their own and humans lift the rest.

With a prompt log (given to the app as its `PromptLogTargetFinder`, with the loaded catalogue's evidence),
each notification then assesses the incident's blast radius: the first occurrence goes on the timeline and
the matching turns are held, so retention cannot delete the evidence while the incident is investigated.
Containment comes first; a failing assessment is logged and never undoes or blocks it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from otel_ai_incident import names
from otel_ai_incident.containment.actions import AlertContext, Executor, Outcome
from otel_ai_incident.containment.playbooks import ContainmentPlaybook
from otel_ai_incident.containment.targets import PromptLogTargetFinder
from otel_ai_incident.incidents import blast_radius
from otel_ai_incident.incidents.model import EventKind, Incident, IncidentStatus
from otel_ai_incident.incidents.store import IncidentStore, episode_key
from otel_ai_incident.server.alertmanager import Alert, Notification
from otel_ai_incident.server.inbox.store import InboxStore
from otel_ai_incident.server.metrics import ReceiverMetrics

logger = logging.getLogger("otel_ai_incident.server")

RECEIVER = "receiver"
LOWEST_SEVERITY = names.Severity.P3.value
_EVENTS = {
    Outcome.APPLIED: EventKind.CONTAINMENT_APPLIED,
    Outcome.PENDING: EventKind.CONTAINMENT_PENDING,
    Outcome.DRY_RUN: EventKind.CONTAINMENT_DRY_RUN,
    Outcome.NO_TARGET: EventKind.CONTAINMENT_NO_TARGET,
    Outcome.FAILED: EventKind.CONTAINMENT_FAILED,
}


class ContainmentIncomplete(RuntimeError):
    """Some actions of a playbook failed and must be retried; the others were applied."""


class NotificationProcessor:
    def __init__(
        self,
        *,
        executor: Executor,
        incidents: IncidentStore,
        inbox: InboxStore,
        playbooks: Mapping[str, ContainmentPlaybook],
        metrics: ReceiverMetrics,
    ) -> None:
        self.executor = executor
        self.incidents = incidents
        self.inbox = inbox
        self.playbooks = playbooks
        self.metrics = metrics
        finder = executor.finder
        self.prompt_log_finder = finder if isinstance(finder, PromptLogTargetFinder) else None

    def process(self, notification: Notification, received_at: float) -> Incident:
        incident = self._open_incident(notification, received_at)
        keys = sorted(alert.key for alert in notification.alerts)
        self.incidents.add_event(
            incident.id,
            EventKind.NOTIFIED,
            received_at,
            {
                "receiver": notification.receiver,
                "status": notification.status,
                "alerts": len(keys),
                "truncated_alerts": notification.truncated_alerts,
            },
            key=f"notified|{notification.group_key}|{'|'.join(keys)}",
        )
        for alert in notification.alerts:
            if self.inbox.alert_processed(alert.key):
                continue
            if alert.status == "firing":
                self._fired(incident, alert)
            else:
                self.incidents.add_event(
                    incident.id,
                    EventKind.RESOLVED,
                    alert.ends_at.timestamp(),
                    _describe(alert),
                    key=f"resolved|{alert.key}",
                )
            self.inbox.mark_alert_processed(alert.key)
        if notification.status == "resolved":
            self.incidents.transition(incident.id, IncidentStatus.RESOLVED, received_at, RECEIVER)
        self._assess(incident)
        return incident

    def _assess(self, incident: Incident) -> None:
        finder = self.prompt_log_finder
        if finder is None:
            return
        try:
            blast_radius.assess(self.incidents, finder.store, finder.evidence, incident.id, time.time())
        except Exception:
            logger.exception("assessing the blast radius of %s failed", incident.id)

    def _open_incident(self, notification: Notification, received_at: float) -> Incident:
        alerts = notification.alerts
        incident_type = notification.common_labels.get(names.ALERT_LABEL_INCIDENT_TYPE) or next(
            (a.incident_type for a in alerts if a.incident_type), "unknown"
        )
        alertname = notification.common_labels.get("alertname") or alerts[0].labels.get("alertname", "alert")
        title = notification.common_annotations.get("summary") or f"{alertname} ({incident_type})"
        return self.incidents.open_for_group(
            notification.group_key,
            episodes=[episode_key(a.fingerprint, a.starts_at.timestamp()) for a in alerts],
            title=title,
            incident_type=incident_type,
            severity=min((a.severity or LOWEST_SEVERITY for a in alerts), default=LOWEST_SEVERITY),
            signals=[s for a in alerts if (s := a.labels.get(names.ALERT_LABEL_SIGNAL))],
            at=min(a.starts_at.timestamp() for a in alerts),
        )

    def _fired(self, incident: Incident, alert: Alert) -> None:
        incidents = self.incidents
        incidents.add_event(
            incident.id,
            EventKind.MONITORING_FIRED,
            alert.starts_at.timestamp(),
            _describe(alert),
            key=f"fired|{alert.key}",
        )
        incidents.transition(incident.id, IncidentStatus.OPEN, time.time(), RECEIVER)  # if it had resolved
        playbook = self.playbooks.get(alert.incident_type or "")
        if playbook is None:
            self.metrics.unmatched.inc()
            incidents.add_event(
                incident.id,
                EventKind.NO_PLAYBOOK,
                time.time(),
                {"incident_type": alert.incident_type, "fingerprint": alert.fingerprint},
                key=f"no_playbook|{alert.key}",
            )
            return
        context = AlertContext(alert.fingerprint, alert.labels, alert.starts_at.timestamp(), time.time())
        results = self.executor.run(
            playbook, context, mode=playbook.mode_for(alert.severity), incident_id=incident.id, key=alert.key
        )
        for result in results:
            self.metrics.actions.labels(result.action.value, result.outcome.value).inc()
            kind = _EVENTS.get(result.outcome)
            if kind is not None:
                detail = {"action": result.action.value, "target": result.target, "fingerprint": alert.fingerprint}
                incidents.add_event(
                    incident.id,
                    kind,
                    time.time(),
                    detail if result.error is None else {**detail, "error": result.error},
                    key=f"{kind.value}|{alert.key}|{result.action.value}|{result.target or ''}",
                )
        if any(r.outcome is Outcome.APPLIED for r in results):
            incidents.transition(incident.id, IncidentStatus.CONTAINED, time.time(), RECEIVER)
        failed = [r for r in results if r.outcome is Outcome.FAILED]
        if failed:  # the rest is done; the worker retries the notification for these (keyed, so nothing twice)
            raise ContainmentIncomplete(", ".join(f"{r.action.value}: {r.error}" for r in failed))


def _describe(alert: Alert) -> dict[str, str | None]:
    return {
        "fingerprint": alert.fingerprint,
        "alertname": alert.labels.get("alertname"),
        names.ALERT_LABEL_SIGNAL: alert.labels.get(names.ALERT_LABEL_SIGNAL),
        names.ALERT_LABEL_SEVERITY: alert.severity,
        "summary": alert.annotations.get("summary"),
    }
