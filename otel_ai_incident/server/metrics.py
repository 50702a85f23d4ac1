"""The receiver's own Prometheus metrics, on a registry of its own so several apps (tests) never collide.

`ai_containment_active` is read from the state at scrape time, so it also shows what humans lifted or
approved through the CLI, and rate limits that lapsed.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from otel_ai_incident import names
from otel_ai_incident.containment.state import ContainmentState

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


class ReceiverMetrics:
    def __init__(self, state: ContainmentState) -> None:
        self.registry = CollectorRegistry()
        self.notifications = Counter(
            "aii_webhook_notifications", "Notifications accepted, by group status", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.rejected = Counter(
            "aii_webhook_rejected", "Requests refused before storing, by reason", [names.REASON],
            registry=self.registry,
        )  # fmt: skip
        self.actions = Counter(
            "aii_containment_actions", "Containment actions by outcome (applied, pending, dry_run, no_target, "
            "duplicate)", [names.ACTION, names.OUTCOME], registry=self.registry,
        )  # fmt: skip
        self.unmatched = Counter(
            "aii_alerts_without_playbook", "Firing alerts whose incident_type has no playbook (incident opened, "
            "nothing done)", registry=self.registry,
        )  # fmt: skip
        self.failures = Counter(
            "aii_webhook_processing_failures", "Stored notifications whose processing failed",
            registry=self.registry,
        )  # fmt: skip
        self.ack_seconds = Histogram(
            "aii_webhook_ack_seconds", "Time from request to acknowledgement (auth, validation, durable store)",
            buckets=ACK_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(_ActiveCollector(state))
