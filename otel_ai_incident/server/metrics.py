"""The receiver's own Prometheus metrics, on a registry of its own so several apps (tests) never collide.

`ai_containment_active` is read from the state at scrape time, so it also shows what humans lifted or
approved through the CLI, and rate limits that lapsed. The inbox's backlog is read at scrape time too: with
several receivers on one inbox each reports the same shared backlog (aggregate them with max, not sum).
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from otel_ai_incident import names
from otel_ai_incident.containment.state import ContainmentState
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.server.inbox.store import InboxStore

ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class _ActiveCollector(Collector):
    def __init__(self, state: ContainmentState) -> None:
        self._state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        spec = names.CONTAINMENT_ACTIVE
        family = GaugeMetricFamily(spec.prometheus, spec.description, labels=[names.ACTION])
        counts = Tally(e.action for e in self._state.read().entries)
        for action in names.ContainmentActionName:
            family.add_metric([action.value], counts[action])
        yield family


class _InboxCollector(Collector):
    """The backlog: unfinished notifications and how long the oldest has waited (0 when there is none)."""

    def __init__(self, inbox: InboxStore) -> None:
        self._inbox = inbox

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            pending, oldest = self._inbox.count(pending=True), self._inbox.oldest_pending()
        except Exception:  # a failing inbox shows in /healthz and aii_receiver_worker_errors_total
            return
        yield GaugeMetricFamily(
            "aii_inbox_pending_notifications", "Accepted notifications not yet acted on", value=pending
        )
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest)
        yield GaugeMetricFamily(
            "aii_inbox_oldest_pending_age_seconds", "How long the oldest unfinished notification has waited", value=age
        )


class _OutboxCollector(Collector):
    """Updates for the team not yet delivered (nor given up on), and how long the oldest has waited."""

    def __init__(self, incidents: IncidentStore) -> None:
        self._incidents = incidents

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            pending, oldest = self._incidents.notification_backlog()
        except Exception:  # a failing store shows in aii_notifier_errors_total and /healthz
            return
        yield GaugeMetricFamily(
            names.NOTIFICATION_OUTBOX_PENDING, "Updates for the team queued and not yet delivered", value=pending
        )
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest)
        yield GaugeMetricFamily(
            names.NOTIFICATION_OUTBOX_OLDEST_AGE, "How long the oldest undelivered update has waited", value=age
        )


class ReceiverMetrics:
    def __init__(self, state: ContainmentState, inbox: InboxStore, incidents: IncidentStore) -> None:
        self.registry = CollectorRegistry()
        self.notifications = Counter(
            "aii_webhook_notifications",
            "Notifications accepted, by group status",
            ["status"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "aii_webhook_rejected",
            "Requests refused before storing, by reason",
            [names.REASON],
            registry=self.registry,
        )
        self.actions = Counter(
            "aii_containment_actions",
            "Containment actions by outcome (applied, pending, dry_run, no_target, duplicate)",
            [names.ACTION, names.OUTCOME],
            registry=self.registry,
        )
        self.unmatched = Counter(
            "aii_alerts_without_playbook",
            "Firing alerts whose incident_type has no playbook (incident opened, nothing done)",
            registry=self.registry,
        )
        self.failures = Counter(
            "aii_webhook_processing_failures",
            "Attempts at acting on a stored notification that failed (each is retried until it succeeds)",
            registry=self.registry,
        )
        self.worker_errors = Counter(
            "aii_receiver_worker_errors",
            "Rounds in which the worker could not claim or finish work in the inbox",
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "aii_webhook_ack_seconds",
            "Time from request to acknowledgement (auth, validation, durable store)",
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.updates = Counter(
            names.NOTIFICATIONS_SENT,
            "Attempts at delivering an update to a notify target, by outcome (delivered, retrying, gave_up)",
            [names.TARGET, names.EVENT, names.OUTCOME],
            registry=self.registry,
        )
        self.notifier_errors = Counter(
            names.NOTIFIER_ERRORS,
            "Rounds in which the notifier could not claim, schedule or record updates in the incident store",
            registry=self.registry,
        )
        self.pruned = Counter(
            names.PRUNED_ROWS,
            "Finished work deleted once older than the keep period: notifications (inbox), updates (outbox)",
            [names.QUEUE],
            registry=self.registry,
        )
        self.prune_errors = Counter(
            names.PRUNE_ERRORS,
            "Runs that could not delete finished work (tried again at the next run)",
            [names.QUEUE],
            registry=self.registry,
        )
        for queue in names.PrunedQueue:  # exposed at 0 from the start, so rates and alerts see them
            self.pruned.labels(queue.value)
            self.prune_errors.labels(queue.value)
        self.registry.register(_ActiveCollector(state))
        self.registry.register(_OutboxCollector(incidents))
        self.registry.register(_InboxCollector(inbox))
